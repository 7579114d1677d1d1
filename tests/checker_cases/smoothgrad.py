"""Checker cases for the exercises of the smoothgrad notebook: the solution a learner
would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch

import course_lib as course
from checker_cases.common import gradient as _gradient
from course_lib import check


def _noisy_copies(x, sigma, k, generator, image_major=True):
    std = sigma.repeat_interleave(k)[:, None, None, None].expand(len(x) * k, *x.shape[1:])
    noise = torch.normal(0.0, std.contiguous(), generator=generator)
    copies = x.repeat_interleave(k, dim=0) if image_major else x.repeat(k, 1, 1, 1)
    return copies + noise



def _smoothgrad(model, x, target, noise_level=0.15, n_samples=20, batch_size=2, seed=0,
                relative=True):
    generator = torch.Generator().manual_seed(seed)
    flat = x.flatten(1)
    sigma = noise_level * ((flat.amax(dim=1) - flat.amin(dim=1)) if relative else torch.ones(len(x)))
    per_pass = max(1, batch_size // len(x))
    total, total_sq, done = torch.zeros_like(x), torch.zeros_like(x), 0
    while done < n_samples:
        k = min(per_pass, n_samples - done)
        g = _gradient(model, _noisy_copies(x, sigma, k, generator), target.repeat_interleave(k))
        g = g.view(len(x), k, *x.shape[1:])
        total, total_sq, done = total + g.sum(dim=1), total_sq + g.pow(2).sum(dim=1), done + k
    return total / n_samples, total_sq / n_samples



def _smooth_guided(model, x, target, noise_level=0.15, n_samples=8, seed=0, rule="guided"):
    with course.relu_backward_rule(model, rule):
        return course.smoothgrad(model, x, target, noise_level=noise_level, n_samples=n_samples,
                                 seed=seed, progress=False)



def _samples(total_variance, scale, r, corrected=True):
    signal_sq = scale ** 2 - (total_variance / 100 if corrected else 0)
    return total_variance / (r ** 2 * signal_sq)




# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "smoothgrad": (lambda: check.smoothgrad(_smoothgrad),
                   lambda: check.smoothgrad(lambda *a, **k: _smoothgrad(*a, relative=False, **k)),
                   "course.smoothgrad exactly"),
    "noisy_copies": (lambda: check.noisy_copies(_noisy_copies),
                     lambda: check.noisy_copies(
                         lambda x, s, k, g: _noisy_copies(x, s, k, g, image_major=False)),
                     "image-major"),
    "smoothgrad_guided": (lambda: check.smoothgrad_guided(_smooth_guided),
                          lambda: check.smoothgrad_guided(
                              lambda *a, **k: _smooth_guided(*a, rule="gradient", **k)),
                          "relu_backward_rule"),
    "samples_needed": (lambda: check.samples_needed(_samples),
                       lambda: check.samples_needed(
                           lambda v, s, r: _samples(v, s, r, corrected=False)),
                       "subtract the noise"),
}
