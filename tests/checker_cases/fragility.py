"""Checker cases for the exercises of notebook 11 · fragility."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib import check
from course_lib.evaluation.fragility import softplus_relus


def _top_k(maps, k):
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)[:, :k]
    return torch.zeros(maps.flatten(1).shape, dtype=torch.bool).scatter_(1, order, True)


def _noise_intersection(map_fn, images, epsilon, k, seed, clip=True):
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, images.shape, generator=generator)
    noisy = images + epsilon * (2 * signs.to(images.dtype) - 1)
    if clip:
        noisy = noisy.clamp(0, 1)
    shared = _top_k(map_fn(images), k) & _top_k(map_fn(noisy), k)
    return shared.sum(dim=1).float() / k


def _surrogate_probabilities(model, images, beta):
    with torch.no_grad(), softplus_relus(model, beta):
        return model(images).softmax(dim=1)


def _real_probabilities(model, images, beta):
    with torch.no_grad():
        return model(images).softmax(dim=1)


def _grad_cam(model, images, target, detach=False):
    store = []
    handle = model.get_submodule("head").register_forward_hook(
        lambda module, args, output: store.append(output))
    try:
        logits = model(images)
    finally:
        handle.remove()
    activation = store[0]
    (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), activation,
                                      create_graph=not detach)
    weights = gradient.mean(dim=(2, 3))
    if detach:
        weights = weights.detach()
        activation = activation.detach()
    cam = (weights[:, :, None, None] * activation).sum(dim=1).clamp(min=0)
    return F.interpolate(cam[:, None], size=images.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0]


def _centre_of_mass(maps, swap=False):
    weights = maps / maps.sum(dim=(1, 2), keepdim=True)
    rows = (weights.sum(dim=2) * torch.arange(maps.shape[1])).sum(dim=1)
    cols = (weights.sum(dim=1) * torch.arange(maps.shape[2])).sum(dim=1)
    return torch.stack([cols, rows] if swap else [rows, cols], dim=1)


CASES = {
    "noise_intersection": (lambda: check.noise_intersection(_noise_intersection),
                           lambda: check.noise_intersection(
                               lambda *a: _noise_intersection(*a, clip=False)), "differs"),
    "surrogate_probabilities": (lambda: check.surrogate_probabilities(_surrogate_probabilities),
                                lambda: check.surrogate_probabilities(_real_probabilities),
                                "real network"),
    "grad_cam_objective": (lambda: check.grad_cam_objective(_grad_cam),
                           lambda: check.grad_cam_objective(
                               lambda m, x, t: _grad_cam(m, x, t, detach=True)), "graph"),
    "centre_of_mass": (lambda: check.centre_of_mass(_centre_of_mass),
                       lambda: check.centre_of_mass(lambda m: _centre_of_mass(m, swap=True)),
                       "swapped"),
}
