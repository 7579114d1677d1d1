"""Checker cases for the exercises of the integrated gradients notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch

from checker_cases.common import gradient as _gradient
from course_lib import check


def _ig(model, x, target, baseline, steps, multiply=True):
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps
    total = torch.zeros_like(x)
    for a in alphas:
        total += _gradient(model, baseline + a * (x - baseline), target) / steps
    return (x - baseline) * total if multiply else total



def _dark_share(image, attribution, threshold=0.1, all_channels=True):
    dark = (image < threshold).all(dim=0) if all_channels else (image < threshold).any(dim=0)
    magnitude = attribution.abs().sum(dim=0)
    return (magnitude[dark].sum() / magnitude.sum()).item()



def _cubic_rule(steps, jacobian=True):
    t = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    return t ** 3, (3 * t ** 2 / steps if jacobian else torch.full((steps,), 1 / steps,
                                                                  dtype=torch.float64))



# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "saturated_unit_ig": (lambda: check.saturated_unit_ig([8 / 3, 10 / 3]),
                          lambda: check.saturated_unit_ig((0.0, 0.0)), "whole path"),
    "integrated_gradients": (lambda: check.integrated_gradients(_ig),
                             lambda: check.integrated_gradients(
                                 lambda *a: _ig(*a, multiply=False)), "multiply it by"),
    "dark_pixel_share": (lambda: check.dark_pixel_share(_dark_share),
                         lambda: check.dark_pixel_share(
                             lambda i, a, t: _dark_share(i, a, t, all_channels=False)),
                         ".all(dim=0)"),
    "substituted_midpoint_rule": (lambda: check.substituted_midpoint_rule(_cubic_rule),
                                  lambda: check.substituted_midpoint_rule(
                                      lambda m: _cubic_rule(m, jacobian=False)), "3 t_k²"),
}
