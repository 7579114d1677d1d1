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



def _occlusion_map(model, image, target, patch, stride, fill, crop=True):
    height, width = image.shape[-2:]
    fill_image = torch.as_tensor(fill, dtype=image.dtype).expand_as(image)
    windows = [(t, l) for t in _window_starts(height, patch, stride, crop)
               for l in _window_starts(width, patch, stride, crop)]
    total, count = torch.zeros(height, width), torch.zeros(height, width)
    with torch.no_grad():
        reference = model(image[None])[0, target]
        for top, left in windows:
            copy = image.clone()
            copy[:, top:top + patch, left:left + patch] = fill_image[:, top:top + patch,
                                                                     left:left + patch]
            drop = reference - model(copy[None])[0, target]
            total[top:top + patch, left:left + patch] += drop
            count[top:top + patch, left:left + patch] += 1
    return total / count



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
    "occlusion": (lambda: check.occlusion(_occlusion_map),
                  lambda: check.occlusion(
                      lambda *a: _occlusion_map(*a, crop=False)), "cropped, not dropped"),
    "shapley_values": (lambda: check.shapley_values(_shapley),
                       lambda: check.shapley_values(_leave_one_out), "sum to"),
}
