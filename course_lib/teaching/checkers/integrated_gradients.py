"""Checkers for the exercises of notebook 05 · Integrated Gradients and Expected Gradients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from course_lib.methods.integrated_gradients import RULES, quadrature
from course_lib.methods.integrated_gradients import (
    integrated_gradients as _integrated_gradients,
)
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    as_tensor,
    call,
    compare,
    tiny_images,
    tiny_linear,
    verdict,
)


def saturated_unit_ig(ig: Sequence[float] | torch.Tensor) -> bool:
    """05 · Exercise 1: IG of y = ReLU6(x₁ + x₂) at x = (4, 5), black baseline: (8/3, 10/3)."""
    def run() -> str:
        try:
            values = torch.as_tensor(ig, dtype=torch.float64).flatten()
        except (TypeError, ValueError, RuntimeError):
            raise Mismatch(f"expected two numbers (IG_1, IG_2), got {ig!r}") from None
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


def linear_ig(fn: Callable) -> bool:
    """05 · Exercise 2: ``fn(weight, inputs, baseline)`` → IG of the linear model z = w·x + b.

    ``weight`` is the class's weight row shaped like one image ``(3, H, W)``, ``inputs`` and
    ``baseline`` are ``(N, 3, H, W)``. Compared with ``course.integrated_gradients`` for every
    rule at 1 and 7 steps, with a baseline that is not black.
    """
    def run() -> str:
        shape = (3, 4, 4)
        model = tiny_linear(shape, num_classes=3)
        inputs = tiny_images(3, 4, seed=1)
        baseline = tiny_images(3, 4, seed=2) * 0.5 + 0.25
        for cls in (0, 2):
            weight = model[1].weight.detach()[cls].view(shape).clone()
            got = call(fn, weight.clone(), inputs.clone(), baseline.clone())
            if isinstance(got, torch.Tensor) and got.shape == inputs.shape:
                got_d = got.detach().double()
                w, x = weight.double(), inputs.double()
                if torch.allclose(got_d, w * x, rtol=1e-4, atol=1e-6):
                    raise Mismatch("you return w ⊙ x, gradient × input: that is IG only for the "
                                   "black baseline; the path starts at x', so IG = w ⊙ (x − x')")
                if torch.allclose(got_d, w.expand_as(x), rtol=1e-4, atol=1e-6):
                    raise Mismatch("you return the gradient w; IG multiplies the averaged "
                                   "gradient by (x − x')")
            for rule in RULES:
                for steps in ((2, 7) if rule == "trapezoid" else (1, 7)):
                    expected = _integrated_gradients(
                        model, inputs, torch.full((3,), cls), baseline=baseline, steps=steps,
                        rule=rule, progress=False)
                    compare(got, expected, f"class {cls}: compared with IG ({rule} rule, "
                                           f"{steps} step{'s' if steps > 1 else ''}), your result")
        return "IG = w ⊙ (x − x') for every rule and any number of steps"
    return verdict("IG of a linear model", run)


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




def _gradient(model: torch.nn.Module, points: torch.Tensor, target: int) -> torch.Tensor:
    points = points.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(points)[:, target].sum(), points)
    return gradient


def _draw_cases() -> list[tuple[str, torch.nn.Module, torch.Tensor, int, torch.Tensor,
                                torch.Tensor, torch.Tensor]]:
    """(description, model, image, target, starts, alphas, noise) for the sampling checkers."""
    generator = torch.Generator().manual_seed(5)
    tiny = []
    for description, model, size, target in (("a tiny CNN", TinyNet(), 32, 3),
                                              ("a linear model", tiny_linear((3, 4, 4)), 4, 1)):
        image = torch.rand(3, size, size, generator=generator)
        starts = torch.rand(5, 3, size, size, generator=generator)
        alphas = torch.rand(5, generator=generator)
        noise = 0.1 * torch.randn(5, 3, size, size, generator=generator)
        tiny.append((description, model, image, target, starts, alphas, noise))
    return tiny


def gradient_shap_from_draws(fn: Callable) -> bool:
    """05 · Exercise 5: ``fn(model, image, target, starts, alphas, noise)`` → GradientSHAP.

    ``image`` ``(3, H, W)``; the draws: baselines ``starts`` ``(n, 3, H, W)``, ``alphas``
    ``(n,)``, ``noise`` ``(n, 3, H, W)``. Returns the mean over the n samples of
    ``(x̃ − x') ⊙ ∇z_c(α x̃ + (1 − α) x')`` with ``x̃ = image + noise``, shaped ``(3, H, W)``.
    """
    def run() -> str:
        for description, model, image, target, starts, alphas, noise in _draw_cases():
            a = alphas[:, None, None, None]
            noisy = image + noise
            gradient = _gradient(model, a * noisy + (1 - a) * starts, target)
            expected = ((noisy - starts) * gradient).mean(dim=0)
            got = call(fn, model, image.clone(), target, starts.clone(), alphas.clone(),
                       noise.clone())
            if isinstance(got, torch.Tensor) and got.shape == image.shape and not \
                    torch.allclose(got.detach(), expected, rtol=1e-4, atol=1e-6):
                clean = ((image - starts) * gradient).mean(dim=0)
                if torch.allclose(got.detach(), clean, rtol=1e-4, atol=1e-6):
                    raise Mismatch(f"on {description}: you multiply by (x − x'); GradientSHAP "
                                   "multiplies by (x̃ − x'), the noisy input minus the baseline")
                clean_path = _gradient(model, a * image + (1 - a) * starts, target)
                if torch.allclose(got.detach(), ((image - starts) * clean_path).mean(dim=0),
                                  rtol=1e-4, atol=1e-6):
                    raise Mismatch(f"on {description}: the noise is missing; the path and the "
                                   "multiplier use the noisy input x̃ = x + noise")
                reverse = _gradient(model, a * starts + (1 - a) * noisy, target)
                if torch.allclose(got.detach(), ((noisy - starts) * reverse).mean(dim=0),
                                  rtol=1e-4, atol=1e-6):
                    raise Mismatch(f"on {description}: the path point is α x̃ + (1 − α) x', "
                                   "so α = 0 is the baseline; yours starts at the input")
            compare(got, expected, f"on {description}, your result")
            zero = call(fn, model, image.clone(), target, starts.clone(), alphas.clone(),
                        torch.zeros_like(noise))
            compare(zero, ((image - starts) * _gradient(model, a * image + (1 - a) * starts,
                                                        target)).mean(dim=0),
                    f"on {description} without noise (Expected Gradients), your result")
        return "the mean of (x̃ − x') ⊙ ∇z(α x̃ + (1 − α) x'); without noise, Expected Gradients"
    return verdict("GradientSHAP from given draws", run)


def expected_score_difference(fn: Callable) -> bool:
    """05 · Exercise 6: ``fn(model, inputs, target, pool)`` → z_c(x) − mean_k z_c(x'_k), ``(N,)``.

    ``inputs`` ``(N, 3, H, W)``, ``target`` one class per image, ``pool`` ``(K, 3, H, W)``:
    what Σ EG adds up to in expectation.
    """
    def run() -> str:
        model = TinyNet()
        inputs = tiny_images(2, 32, seed=3)
        pool = tiny_images(4, 32, seed=4)
        target = torch.tensor([1, 4])
        with torch.no_grad():
            score = model(inputs).gather(1, target[:, None])[:, 0]
            expected = score - model(pool)[:, target].mean(dim=0)
            of_mean = score - model(pool.mean(dim=0, keepdim=True))[0, target]
        got = call(fn, model, inputs.clone(), target.clone(), pool.clone())
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and \
                torch.allclose(got.detach(), of_mean, rtol=1e-4, atol=1e-6):
            raise Mismatch("you subtract the score of the average baseline, z_c(mean x'); "
                           "the expectation averages the scores, mean z_c(x'_k), and for a "
                           "non-linear model the two differ")
        compare(got, expected, "your score differences")
        return "z_c(x) − the mean of the pool's scores"
    return verdict("expected score difference", run)
