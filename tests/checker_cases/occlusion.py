"""Checker cases for the exercises of the occlusion notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import math
from itertools import permutations

import torch

from course_lib import check


def _window_starts(size, patch, stride, crop=True):
    count = math.ceil((size - patch) / stride) + 1 if crop else (size - patch) // stride + 1
    return [k * stride for k in range(count)]



def _interaction(model, image, target, windows, patch, fill, flip=False):
    def score(picture):
        with torch.no_grad():
            return float(model(picture[None])[0, target])

    def cover(which):
        copy = image.clone()
        for top, left in which:
            copy[:, top:top + patch, left:left + patch] = fill
        return copy

    full = score(image)
    joint = full - score(cover(windows))
    singles = sum(full - score(cover([w])) for w in windows)
    return singles - joint if flip else joint - singles


def _linear_drop(weight, image, fill, top, left, patch, use_fill=True):
    window = (slice(None), slice(top, top + patch), slice(left, left + patch))
    change = image[window] - fill[window] if use_fill else image[window]
    return float((weight[window] * change).sum())


def _shapley(v, players):
    orders = list(permutations(players))
    return {k: sum(v(o[:o.index(k) + 1]) - v(o[:o.index(k)]) for o in orders) / len(orders)
            for k in players}



def _leave_one_out(v, players):
    return {k: v(players) - v([p for p in players if p != k]) for k in players}



# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "occlusion_passes": (lambda: check.occlusion_passes(
                             lambda n, p, s: len(_window_starts(n, p, s)) ** 2 + 1),
                         lambda: check.occlusion_passes(
                             lambda n, p, s: len(_window_starts(n, p, s, crop=False)) ** 2 + 1),
                         "cropped, not dropped"),
    "occlusion_interaction": (lambda: check.occlusion_interaction(_interaction),
                              lambda: check.occlusion_interaction(
                                  lambda *a: _interaction(*a, flip=True)), "sign is flipped"),
    "linear_occlusion_drop": (lambda: check.linear_occlusion_drop(_linear_drop),
                              lambda: check.linear_occlusion_drop(
                                  lambda *a: _linear_drop(*a, use_fill=False)), "x − f"),
    "shapley_values": (lambda: check.shapley_values(_shapley),
                       lambda: check.shapley_values(_leave_one_out), "sum to"),
}
