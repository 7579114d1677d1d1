"""Checker cases for the exercises of the vanilla gradient notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch

from checker_cases.common import gradient as _gradient
from course_lib import check


def _border_ratios(attribution, margin, magnitude=True):
    m = attribution.abs().amax(dim=1) if magnitude else attribution.amax(dim=1)
    inside = m[:, margin:-margin, margin:-margin].mean(dim=(1, 2))
    edges = torch.stack([m[:, 0].mean(dim=1), m[:, -1].mean(dim=1),
                         m[:, :, 0].mean(dim=1), m[:, :, -1].mean(dim=1)], dim=1)
    return edges / inside[:, None]


def _logit(model, images, c, bias=True):
    total = (_gradient(model, images, c) * images).sum(dim=(1, 2, 3))
    return total + model[1].bias[c].detach() if bias else total


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "vanilla_gradient": (lambda: check.vanilla_gradient(_gradient),
                         lambda: check.vanilla_gradient(lambda m, x, t: _gradient(m, x, t).abs()),
                         "differs"),
    "gradient_x_input": (lambda: check.gradient_x_input(lambda m, x, t: x * _gradient(m, x, t)),
                         lambda: check.gradient_x_input(_gradient), "differs"),
    "runner_up_gradient": (
        lambda: check.runner_up_gradient(
            lambda m, x: _gradient(m, x, m(x).topk(2, dim=1).indices[:, 1])),
        lambda: check.runner_up_gradient(lambda m, x: _gradient(m, x, m(x).argmax(dim=1))),
        "most* likely class"),
    "probability_gradient": (
        lambda: check.probability_gradient(
            lambda m, x, t: _gradient(m, x, t, score=lambda z: z.softmax(dim=1))),
        lambda: check.probability_gradient(_gradient), "softmax"),
    "border_ratios": (lambda: check.border_ratios(_border_ratios),
                      lambda: check.border_ratios(
                          lambda a, m: _border_ratios(a, m, magnitude=False)),
                      "magnitude first"),
    "logit_from_gradient_x_input": (
        lambda: check.logit_from_gradient_x_input(_logit),
        lambda: check.logit_from_gradient_x_input(lambda m, x, c: _logit(m, x, c, bias=False)),
        "add the bias"),
}
