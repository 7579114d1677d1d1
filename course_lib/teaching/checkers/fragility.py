"""Checkers for the exercises of notebook 11 · fragility."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.evaluation.fragility import random_sign_noise, softplus_relus, top_k_intersection
from course_lib.methods.cam import grad_cam
from course_lib.teaching.checkers.common import (Mismatch, TinyNet, call, compare, modules_snapshot,
                                                 same_modules, tiny_images, verdict)


def _abs_gradient_map(images: torch.Tensor) -> torch.Tensor:
    """A map that depends on the image: the squared pixel values summed over channels."""
    return images.pow(2).sum(dim=1)


def noise_intersection(fn: Callable) -> bool:
    """11 · Exercise 1: ``fn(map_fn, images, epsilon, k, seed)`` → top-k intersection, per
    image, of ``map_fn(images)`` and ``map_fn`` of the images with random sign noise of size
    ``epsilon`` (``course.random_sign_noise``, seeded), clipped to [0, 1]."""
    def run() -> str:
        images = tiny_images(2, 16, seed=3)
        images[0, :, :2] = 1.0               # saturated pixels: the clipping matters
        for epsilon, k in ((0.05, 20), (0.2, 40)):
            expected = top_k_intersection(
                _abs_gradient_map(images),
                _abs_gradient_map(random_sign_noise(images, epsilon, seed=0)), k)
            got = call(fn, _abs_gradient_map, images.clone(), epsilon, k, 0)
            compare(got, expected, f"for ε = {epsilon}, k = {k}, your intersection",
                    rtol=0, atol=1e-6)
        return "the same intersections as course.random_sign_noise + course.top_k_intersection"
    return verdict("noise intersection", run)


def surrogate_probabilities(fn: Callable) -> bool:
    """11 · Exercise 2: ``fn(model, images, beta)`` → the class probabilities ``(N, classes)``
    of the softplus surrogate of ``model``; the model must be left as found."""
    def run() -> str:
        model = TinyNet()
        images = tiny_images(3, 32, seed=1)
        before = modules_snapshot(model)
        with torch.no_grad():
            real = model(images).softmax(dim=1)
        for beta in (0.5, 2.0, 50.0):
            with torch.no_grad(), softplus_relus(model, beta):
                expected = model(images).softmax(dim=1)
            got = call(fn, model, images.clone(), beta)
            if not same_modules(before, model):
                raise Mismatch("the model's ReLU modules were not put back: use "
                               "course.softplus_relus(model, beta) as a `with` block")
            if isinstance(got, torch.Tensor) and got.shape == real.shape \
                    and torch.allclose(got.detach(), real, atol=1e-6) \
                    and not torch.allclose(real, expected, atol=1e-6):
                raise Mismatch(f"for beta = {beta} these are the real network's probabilities: "
                               "predict inside `with course.softplus_relus(model, beta):`")
            compare(got, expected, f"for beta = {beta}, your probabilities", atol=1e-6)
        return "the surrogate's probabilities, with the model left as found"
    return verdict("surrogate probabilities", run)


def grad_cam_objective(fn: Callable) -> bool:
    """11 · Exercise 3: ``fn(model, images, target)`` → the Grad-CAM map ``(N, H, W)`` at the
    layer ``"head"``, upsampled, with the autograd graph kept (differentiable in the images)."""
    def run() -> str:
        model = TinyNet()
        images = tiny_images(2, 32, seed=2)
        target = torch.tensor([1, 3])
        expected = grad_cam(model, images, target, "head")
        x = images.clone().requires_grad_(True)
        with softplus_relus(model, 5.0):
            got = call(fn, model, x, target)
            if not isinstance(got, torch.Tensor):
                raise Mismatch(f"expected a tensor (N, H, W), got {type(got).__name__}")
            if not got.requires_grad:
                raise Mismatch("your map is not connected to the images: keep the graph "
                               "(torch.autograd.grad(..., create_graph=True)) and do not "
                               "detach")
            (gradient,) = torch.autograd.grad(got.sum(), x, allow_unused=True)
        if gradient is None or not gradient.abs().sum() > 0:
            raise Mismatch("the gradient of your map with respect to the images is zero: "
                           "the channel weights α must depend on the images through the "
                           "gradient (create_graph=True)")
        real = call(fn, model, images.clone().requires_grad_(True), target)
        compare(real.detach(), expected, "your map on the real network (compared with "
                "course.grad_cam)", rtol=1e-4, atol=1e-6)
        return "equals course.grad_cam and stays differentiable"
    return verdict("Grad-CAM objective", run)


def centre_of_mass(fn: Callable) -> bool:
    """11 · Exercise 4: ``fn(maps)`` → ``(N, 2)``: the (row, column) centre of mass of each
    map ``(N, H, W)``, the map normalised to sum 1."""
    def run() -> str:
        maps = torch.zeros(2, 5, 7)
        maps[0, 1, 5] = 2.0
        maps[1, 4, 0] = 1.0
        maps[1, 0, 2] = 3.0
        expected = torch.tensor([[1.0, 5.0], [1.0, 1.5]])
        got = call(fn, maps.clone())
        got_t = torch.as_tensor(got, dtype=torch.float32) if not isinstance(got, torch.Tensor) \
            else got.float()
        if got_t.shape == expected.shape and torch.allclose(got_t, expected.flip(1)):
            raise Mismatch("rows and columns are swapped: return (row, column)")
        if got_t.shape == expected.shape and torch.allclose(got_t[0], 2 * expected[0]):
            raise Mismatch("normalise each map to sum 1 before weighting the positions")
        compare(got_t, expected, "your centres of mass")
        return "(row, column) of the normalised maps"
    return verdict("centre of mass", run)
