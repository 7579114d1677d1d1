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


