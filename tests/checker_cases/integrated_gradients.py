"""Checker cases for the exercises of the integrated gradients notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch

from course_lib import check


def _linear_ig(weight, inputs, baseline, from_black=False):
    return weight * (inputs if from_black else inputs - baseline)


def _gradient_shap(model, image, target, starts, alphas, noise, noisy_multiplier=True):
    noisy = image + noise
    a = alphas[:, None, None, None]
    points = (a * noisy + (1 - a) * starts).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(model(points)[:, target].sum(), points)
    return (((noisy if noisy_multiplier else image) - starts) * g).mean(dim=0)


def _expected_difference(model, inputs, target, pool, of_mean=False):
    with torch.no_grad():
        score = model(inputs).gather(1, torch.as_tensor(target)[:, None])[:, 0]
        if of_mean:
            return score - model(pool.mean(dim=0, keepdim=True))[0, target]
        return score - model(pool)[:, target].mean(dim=0)


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
    "linear_ig": (lambda: check.linear_ig(_linear_ig),
                  lambda: check.linear_ig(lambda w, x, b: _linear_ig(w, x, b, from_black=True)),
                  "the path starts at x'"),
    "dark_pixel_share": (lambda: check.dark_pixel_share(_dark_share),
                         lambda: check.dark_pixel_share(
                             lambda i, a, t: _dark_share(i, a, t, all_channels=False)),
                         ".all(dim=0)"),
    "substituted_midpoint_rule": (lambda: check.substituted_midpoint_rule(_cubic_rule),
                                  lambda: check.substituted_midpoint_rule(
                                      lambda m: _cubic_rule(m, jacobian=False)), "3 t_k²"),
    "gradient_shap_from_draws": (lambda: check.gradient_shap_from_draws(_gradient_shap),
                                 lambda: check.gradient_shap_from_draws(
                                     lambda *a: _gradient_shap(*a, noisy_multiplier=False)),
                                 "the noisy input minus the baseline"),
    "expected_score_difference": (lambda: check.expected_score_difference(_expected_difference),
                                  lambda: check.expected_score_difference(
                                      lambda *a: _expected_difference(*a, of_mean=True)),
                                  "averages the scores"),
}
