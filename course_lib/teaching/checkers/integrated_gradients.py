"""Checkers for the exercises of notebook 05 · Integrated Gradients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from course_lib.methods.integrated_gradients import (
    integrated_gradients as _integrated_gradients,
)
from course_lib.methods.integrated_gradients import quadrature
from course_lib.teaching.checkers.common import (
    Mismatch,
    as_tensor,
    call,
    cases,
    compare,
    verdict,
)


def saturated_unit_ig(ig: Sequence[float] | torch.Tensor) -> bool:
    """05 · Exercise 1: IG of y = ReLU6(x₁ + x₂) at x = (4, 5), black baseline: (8/3, 10/3)."""
    def run() -> str:
        values = torch.as_tensor(ig, dtype=torch.float64).flatten()
        if values.numel() != 2:
            raise Mismatch(f"expected two numbers (IG_1, IG_2), got {values.numel()}")
        expected = torch.tensor([8 / 3, 10 / 3], dtype=torch.float64)
        if torch.allclose(values, torch.zeros(2, dtype=torch.float64), atol=1e-6):
            raise Mismatch("(0, 0) is the gradient (and gradient × input) at x, where the unit "
                           "is capped; IG integrates the gradient along the whole path")
        if torch.allclose(values, torch.tensor([4.0, 5.0], dtype=torch.float64), atol=1e-3):
            raise Mismatch("(4, 5) would be the answer without the cap: the unit's input 9α "
                           "reaches 6 at α = 2/3, after which the gradient is 0")
        if not torch.allclose(values, expected, atol=2e-3):
            raise Mismatch(f"expected (8/3, 10/3) ≈ (2.667, 3.333), got "
                           f"({values[0]:.4f}, {values[1]:.4f}); the sum must be "
                           f"y(4, 5) − y(0, 0) = 6 (completeness), yours is {values.sum():.4f}")
        return "IG = (x − x')·2/3, summing to 6 = y(x) − y(x')"
    return verdict("IG of a saturated unit", run)


def integrated_gradients(fn: Callable, rule: str = "midpoint") -> bool:
    """05 · Exercise 2: ``fn(model, inputs, target, baseline, steps)`` → IG with ``rule``.

    ``baseline`` is a tensor shaped like ``inputs``; compared with
    ``course.integrated_gradients(..., rule=rule)`` on a tiny CNN and on a linear model, where
    IG must equal ``w ⊙ (x − x')`` for any number of steps.
    """
    def run() -> str:
        for description, model, x, target in cases():
            baseline = torch.full_like(x, 0.25)
            for steps in (1, 6):
                expected = _integrated_gradients(model, x, target, baseline=baseline,
                                                 steps=steps, rule=rule, progress=False)
                got = call(fn, model, x.clone(), target.clone(), baseline.clone(), steps)
                if isinstance(got, torch.Tensor) and got.shape == x.shape and not \
                        torch.allclose(got, expected, rtol=1e-4, atol=1e-6):
                    path_only = expected / (x - baseline).where((x - baseline) != 0,
                                                                torch.ones_like(x))
                    if torch.allclose(got, path_only, rtol=1e-4, atol=1e-6):
                        raise Mismatch(f"on {description}: you return the averaged gradient; "
                                       "multiply it by (x − x')")
                compare(got, expected, f"on {description} with {steps} step(s) "
                                       f"({rule} rule), your result")
        return f"matches course.integrated_gradients ({rule} rule)"
    return verdict("Integrated Gradients", run)


def dark_pixel_share(fn: Callable) -> bool:
    """05 · Exercise 3: ``fn(image, attribution, threshold=0.1)`` → share of Σ|R| on dark pixels.

    ``image`` and ``attribution`` are ``(3, H, W)``; a pixel is dark when *all* its channels
    are below ``threshold``; its magnitude is the sum of ``|R|`` over the channels.
    """
    def reference(image: torch.Tensor, attribution: torch.Tensor, threshold: float) -> float:
        dark = (image < threshold).all(dim=0)
        magnitude = attribution.abs().sum(dim=0)
        return (magnitude[dark].sum() / magnitude.sum()).item()

    def run() -> str:
        generator = torch.Generator().manual_seed(0)
        image = torch.rand(3, 16, 16, generator=generator) ** 3  # many dark values
        attribution = torch.randn(3, 16, 16, generator=generator)
        for threshold in (0.1, 0.3):
            got = call(fn, image.clone(), attribution.clone(), threshold)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"expected a number (a share between 0 and 1), got "
                               f"{type(got).__name__}") from None
            expected = reference(image, attribution, threshold)
            if not math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-6):
                any_dark = (image < threshold).any(dim=0)
                magnitude = attribution.abs().sum(dim=0)
                loose = (magnitude[any_dark].sum() / magnitude.sum()).item()
                hint = (" — that counts a pixel as dark when *any* channel is dark; use "
                        ".all(dim=0)" if math.isclose(got, loose, rel_tol=1e-4) else "")
                raise Mismatch(f"threshold {threshold}: expected {expected:.4f}, got "
                               f"{got:.4f}{hint}")
        return "Σ|R| over the pixels whose channels are all dark, over Σ|R|"
    return verdict("dark-pixel share", run)


def substituted_midpoint_rule(fn: Callable) -> bool:
    """05 · Exercise 4: ``fn(steps)`` → (alphas, weights) of the midpoint rule in t, α = t³."""
    def run() -> str:
        for steps in (4, 16):
            result = call(fn, steps)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise Mismatch("expected a pair (alphas, weights)")
            t, _ = quadrature("midpoint", steps)
            compare(result[0], t ** 3, f"the points α for {steps} steps")
            if torch.allclose(as_tensor(result[1], "weights").double(),
                              torch.full((steps,), 1 / steps, dtype=torch.float64)):
                raise Mismatch("the weights are still 1/m: the substitution α = t³ adds the "
                               "factor dα/dt = 3t², so w_k = 3 t_k² / m")
            compare(result[1], 3 * t ** 2 / steps, f"the weights for {steps} steps")
        return "α_k = t_k³, w_k = 3 t_k² / m: more points where the score changes"
    return verdict("substituted midpoint rule", run)


