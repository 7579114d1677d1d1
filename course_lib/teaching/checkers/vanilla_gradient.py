"""Checkers for the exercises of notebook 01 · vanilla gradient."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.methods.gradients import gradient_x_input as _gradient_x_input
from course_lib.methods.gradients import vanilla_gradient as _vanilla_gradient
from course_lib.teaching.checkers.common import (
    Mismatch,
    as_tensor,
    call,
    cases,
    compare,
    method_checker,
    tiny_images,
    tiny_linear,
    verdict,
)


def vanilla_gradient(fn: Callable) -> bool:
    """``fn(model, inputs, target) → ∂z_c/∂inputs``, shaped like ``inputs`` (notebook 01)."""
    return method_checker("vanilla gradient", fn, _vanilla_gradient)


def gradient_x_input(fn: Callable) -> bool:
    """``fn(model, inputs, target) → inputs · ∂z_c/∂inputs`` (notebooks 01 and 02)."""
    return method_checker("gradient × input", fn, _gradient_x_input)


def runner_up_gradient(fn: Callable) -> bool:
    """01 · Exercise 1: ``fn(model, inputs) → ∂z_c/∂inputs`` for each image's 2nd most likely c."""
    def run() -> str:
        for description, model, x, _ in cases():
            with torch.no_grad():
                ranked = model(x).topk(2, dim=1).indices
            expected = _vanilla_gradient(model, x, ranked[:, 1])
            got = as_tensor(call(fn, model, x.clone()), "your result")
            if got.shape == expected.shape and torch.allclose(
                    got.double(), _vanilla_gradient(model, x, ranked[:, 0]).double(),
                    rtol=1e-4, atol=1e-6) and not torch.allclose(got, expected):
                raise Mismatch(f"on {description}, your result is the gradient of the *most* "
                               "likely class; the runner-up is topk(2).indices[:, 1]")
            compare(got, expected, f"on {description}, your result")
        return "the gradient of each image's second most likely class"
    return verdict("runner-up gradient", run)


def probability_gradient(fn: Callable) -> bool:
    """01 · Exercise 2: ``fn(model, inputs, target) → ∂p_c/∂inputs`` for the softmax p."""
    def run() -> str:
        for description, model, x, target in cases():
            leaf = x.clone().requires_grad_(True)
            p = model(leaf).softmax(dim=1).gather(1, target[:, None]).sum()
            (expected,) = torch.autograd.grad(p, leaf)
            got = as_tensor(call(fn, model, x.clone(), target.clone()), "your result")
            logit_gradient = _vanilla_gradient(model, x, target)
            if got.shape == expected.shape and torch.allclose(
                    got.double(), logit_gradient.double(), rtol=1e-4, atol=1e-6):
                raise Mismatch(f"on {description}, your result is the gradient of the logit "
                               "z_c; apply .softmax(dim=1) before picking the class")
            compare(got, expected, f"on {description}, your result")
        return "∂p_c/∂x = p_c (∂z_c/∂x − Σ_k p_k ∂z_k/∂x)"
    return verdict("probability gradient", run)




def _border_reference(attribution: torch.Tensor, margin: int) -> torch.Tensor:
    magnitude = attribution.abs().amax(dim=1)  # (N, H, W): the absolute map
    interior = magnitude[:, margin:-margin, margin:-margin].mean(dim=(1, 2))
    edges = torch.stack([magnitude[:, 0, :].mean(dim=1), magnitude[:, -1, :].mean(dim=1),
                         magnitude[:, :, 0].mean(dim=1), magnitude[:, :, -1].mean(dim=1)], dim=1)
    return edges / interior[:, None]


def border_ratios(fn: Callable) -> bool:
    """01 · Exercise 3: ``fn(attribution, margin)`` → ``(N, 4)`` border-to-interior ratios.

    For each image: the mean of the absolute map (max of ``|·|`` over the channels) along
    the top row, the bottom row, the left column and the right column, each divided by its
    mean over the interior (pixels at least ``margin`` from every edge).
    """
    def run() -> str:
        generator = torch.Generator().manual_seed(0)
        attribution = torch.randn(3, 3, 20, 30, generator=generator)
        attribution[0] *= 2.0                            # a different scale per image
        attribution[1] *= 0.1
        attribution[:, :, 0, :] *= 3.0                   # a bright top row
        attribution[:, :, :, -1] *= 0.2                  # a dark right column
        attribution[2, 0, :, 0] = -5.0                   # a strongly negative left column
        margin = 4
        expected = _border_reference(attribution, margin)
        got = as_tensor(call(fn, attribution.clone(), margin,
                             what="border_ratios(attribution, margin=4)"), "your ratios")
        if got.shape == (4,):
            raise Mismatch("one set of ratios for the whole batch; return one row per image, "
                           "shape (N, 4)")
        if got.shape == expected.shape:
            signed = attribution.amax(dim=1)
            no_abs = torch.stack([signed[:, 0].mean(1), signed[:, -1].mean(1),
                                  signed[:, :, 0].mean(1), signed[:, :, -1].mean(1)], dim=1) / \
                signed[:, margin:-margin, margin:-margin].mean(dim=(1, 2))[:, None]
            if torch.allclose(got.double(), no_abs.double(), rtol=1e-4):
                raise Mismatch("take the magnitude first: attribution.abs().amax(dim=1), not "
                               "attribution.amax(dim=1)")
            undivided = expected * attribution.abs().amax(dim=1)[
                :, margin:-margin, margin:-margin].mean(dim=(1, 2))[:, None]
            if torch.allclose(got.double(), undivided.double(), rtol=1e-4):
                raise Mismatch("divide each border mean by the mean over the interior, so "
                               "that 1 means 'as strong as the inside'")
            swapped = expected[:, [2, 3, 0, 1]]
            if torch.allclose(got.double(), swapped.double(), rtol=1e-4):
                raise Mismatch("rows and columns are swapped: the top row is map[:, 0, :], "
                               "the left column map[:, :, 0]; return (top, bottom, left, right)")
        compare(got, expected, "your ratios (top, bottom, left, right) for 3 images of 20 × 30")
        return "(top, bottom, left, right) relative to the interior, one row per image"
    return verdict("border ratios", run)


def logit_from_gradient_x_input(fn: Callable) -> bool:
    """01 · Exercise 4: ``fn(model, images, c)`` → ``Σ_i (∂z_c/∂I_i) I_i + b_c`` per image.

    ``model`` is ``nn.Sequential(nn.Flatten(), nn.Linear(…))``; for it the result must be
    the logit ``z_c`` itself.
    """
    def run() -> str:
        for shape, classes, c, seed in (((3, 4, 4), 2, 1, 0), ((3, 5, 3), 4, 3, 1)):
            model = tiny_linear(shape, classes, seed)
            with torch.no_grad():
                model[1].bias.copy_(torch.linspace(-2.0, 3.0, classes))  # biases that matter
            x = tiny_images(3, shape[1], seed=seed + 2)[..., :shape[2]] * 4.0 - 1.0
            with torch.no_grad():
                expected = model(x)[:, c]
            got = as_tensor(call(fn, model, x.clone(), c, what=f"your function (class {c})"),
                            "your result")
            if got.shape == expected.shape and torch.allclose(
                    got.double(), (expected - model[1].bias[c]).double(), rtol=1e-4, atol=1e-5):
                raise Mismatch("the sum of gradient × input is only wᵀI; add the bias b_c "
                               "(model[1].bias[c]) to get the logit")
            if got.shape == expected.shape and torch.allclose(
                    got.double(), (expected - model[1].bias[c] + model[1].bias[0]).double(),
                    rtol=1e-4, atol=1e-5) and c != 0:
                raise Mismatch("that adds the bias of class 0; use the bias of class c")
            compare(got, expected, f"on a linear model {shape} → {classes} classes, your result",
                    rtol=1e-4, atol=1e-5)
        return "for a linear model, gradient × input plus the bias is exactly the logit"
    return verdict("logit from gradient × input", run)
