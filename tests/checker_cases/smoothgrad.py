"""Checker cases for notebook 04 (SmoothGrad): the solution a learner would write, a typical
mistake, and the words the explanation must contain.

The solutions are written here from the documented noise contract (sample ``s`` of image
``i``: the ``i``-th standard-normal draw of a CPU generator seeded with
``SeedSequence([seed, s])``, times σ_i = noise_level · (max − min) of image ``i``), with a
guided-backprop ReLU of their own: none of them calls the library code under test."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from checker_cases.common import gradient as _gradient
from course_lib import check


def _generator(seed, s):
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, s]).generate_state(1)[0]))


def _sigma(x, noise_level, relative=True):
    if not relative:
        return torch.full((len(x),), float(noise_level))
    return torch.stack([noise_level * (image.max() - image.min()) for image in x])


def _noise(x, sigma, s, seed):
    """σ_i ε_{s,i} for one sample s: (N, 3, H, W)."""
    generator = _generator(seed, s)
    return torch.stack([sigma[i] * torch.randn(x.shape[1:], generator=generator)
                        for i in range(len(x))])


def _noisy_copies(x, sigma, samples, seed, image_major=True):
    copies = torch.stack([x + _noise(x, sigma, s, seed) for s in samples])   # (k, N, ...)
    return (copies.transpose(0, 1) if image_major else copies).flatten(0, 1)


def _smoothgrad(model, x, target, noise_level=0.15, n_samples=20, batch_size=2, seed=0,
                relative=True):
    sigma = _sigma(x, noise_level, relative)
    gradients = [_gradient(model, x + _noise(x, sigma, s, seed), target) for s in range(n_samples)]
    return torch.stack(gradients).mean(dim=0)


def _without_noise(model, x, target, n_samples, loop=False):
    if loop:  # correct, but n passes
        return torch.stack([_gradient(model, x, target) for _ in range(n_samples)]).mean(dim=0)
    return _gradient(model, x, target)


def _top1_share(model, x, target, noise_level, n_copies, seed=0, relative=True):
    sigma = _sigma(x, noise_level, relative)
    with torch.no_grad():
        top1 = torch.stack([model(x + _noise(x, sigma, s, seed)).argmax(dim=1)
                            for s in range(n_copies)])                          # (n, N)
    return (top1 == torch.as_tensor(target)).float().mean(dim=0)


class _Guided(torch.autograd.Function):
    """ReLU (or ReLU6) forward; backward passes the signal where it is positive and the
    input was in the active range."""

    @staticmethod
    def forward(ctx, x, cap):
        ctx.save_for_backward(x)
        ctx.cap = cap
        return x.clamp(min=0) if cap is None else x.clamp(0, cap)

    @staticmethod
    def backward(ctx, signal):
        (x,) = ctx.saved_tensors
        keep = (x > 0) & (signal > 0)
        if ctx.cap is not None:
            keep &= x < ctx.cap
        return signal * keep, None


class _GuidedReLU(nn.Module):
    def __init__(self, cap=None):
        super().__init__()
        self.cap = cap

    def forward(self, x):
        return _Guided.apply(x, self.cap)


def _guided_copy(model):
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, _GuidedReLU(6.0))
            elif isinstance(child, nn.ReLU):
                setattr(parent, name, _GuidedReLU())
    return model


def _smooth_guided(model, x, target, noise_level=0.15, n_samples=8, seed=0, guided=True):
    return _smoothgrad(_guided_copy(model) if guided else model, x, target,
                       noise_level=noise_level, n_samples=n_samples, seed=seed)


def _samples(total_variance, signal, r, squared=True):
    return total_variance / (r ** 2 * signal ** 2 if squared else r * signal ** 2)


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "noisy_copies": (lambda: check.noisy_copies(_noisy_copies),
                     lambda: check.noisy_copies(
                         lambda x, s, k, g: _noisy_copies(x, s, k, g, image_major=False)),
                     "image-major"),
    "smoothgrad": (lambda: check.smoothgrad(_smoothgrad),
                   lambda: check.smoothgrad(lambda *a, **k: _smoothgrad(*a, relative=False, **k)),
                   "pixel range"),
    "smoothgrad_without_noise": (
        lambda: check.smoothgrad_without_noise(_without_noise),
        lambda: check.smoothgrad_without_noise(lambda *a: _without_noise(*a, loop=True)),
        "one pass per image"),
    "top1_share": (lambda: check.top1_share(_top1_share),
                   lambda: check.top1_share(lambda *a: _top1_share(*a, relative=False)),
                   "pixel range"),
    "smoothgrad_guided": (lambda: check.smoothgrad_guided(_smooth_guided),
                          lambda: check.smoothgrad_guided(
                              lambda *a, **k: _smooth_guided(*a, guided=False, **k)),
                          "relu_backward_rule"),
    "samples_needed": (lambda: check.samples_needed(_samples),
                       lambda: check.samples_needed(
                           lambda v, s, r: _samples(v, s, r, squared=False)),
                       "r is not squared"),
}
