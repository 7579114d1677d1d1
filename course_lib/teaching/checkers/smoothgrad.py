"""Checkers for the exercises of notebook 04 · SmoothGrad."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_lib.methods.gradients import guided_backprop as _guided_backprop
from course_lib.methods.gradients import vanilla_gradient as _vanilla_gradient
from course_lib.methods.relu_rules import relu_backward_rule
from course_lib.methods.smoothgrad import smoothgrad as _smoothgrad
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    as_tensor,
    call,
    compare,
    tiny_images,
    verdict,
)


def smoothgrad(fn: Callable) -> bool:
    """04 · Exercise 1: ``fn(model, x, target, noise_level, n_samples, batch_size, seed)``.

    Returns the SmoothGrad map (or a tuple whose first item is it). It must equal the
    vanilla gradient at ``noise_level=0`` and ``course.smoothgrad`` with the same seed and
    batch size (noise from ``torch.Generator().manual_seed(seed)``, drawn image-major).
    """
    def run() -> str:
        # pixels in [0.2, 0.6]: σ relative to the range (0.4) differs from an absolute σ
        model, x, target = TinyNet(), 0.2 + 0.4 * tiny_images(2), torch.tensor([1, 3])
        got = call(fn, model, x.clone(), target.clone(), noise_level=0.0, n_samples=3,
                    batch_size=2, seed=0)
        compare(got, _vanilla_gradient(model, x, target),
                "with noise_level=0 (which must give the vanilla gradient), your result")
        for n_samples, batch_size in ((5, 2), (4, 4)):
            expected = _smoothgrad(model, x, target, noise_level=0.2, n_samples=n_samples,
                                   batch_size=batch_size, seed=3, progress=False)
            got = call(fn, model, x.clone(), target.clone(), noise_level=0.2,
                        n_samples=n_samples, batch_size=batch_size, seed=3)
            try:
                compare(got, expected, f"with n_samples={n_samples}, batch_size={batch_size}, "
                                       "your result")
            except Mismatch as wrong:
                raise Mismatch(f"{wrong}. With noise, the map must equal course.smoothgrad "
                               "exactly: σ = noise_level·(max − min) per image, noise from a "
                               "torch.Generator seeded with `seed`, image-major copies, "
                               "⌊batch_size / N⌋ copies per image per pass") from None
        return "σ = 0 gives the vanilla gradient; with noise it equals course.smoothgrad"
    return verdict("SmoothGrad", run)


def noisy_copies(fn: Callable) -> bool:
    """04 · Exercise 2: ``fn(x, sigma, k, generator)`` → ``k`` noisy copies per image, image-major.

    Shape ``(N·k, 3, H, W)``; copy ``j`` of image ``i`` is row ``i·k + j``, its noise drawn
    with standard deviation ``sigma[i]`` from ``generator``.
    """
    def reference(x: torch.Tensor, sigma: torch.Tensor, k: int,
                  generator: torch.Generator) -> torch.Tensor:
        std = sigma.repeat_interleave(k)[:, None, None, None].expand(len(x) * k, *x.shape[1:])
        return x.repeat_interleave(k, dim=0) + torch.normal(0.0, std.contiguous(),
                                                            generator=generator)

    def run() -> str:
        x = torch.stack([torch.zeros(3, 16, 16), torch.full((3, 16, 16), 10.0)])
        sigma = torch.tensor([0.1, 1.0])
        got = as_tensor(call(fn, x, sigma, 3, torch.Generator().manual_seed(0)),
                         "your copies")
        if got.shape != (6, 3, 16, 16):
            raise Mismatch(f"2 images × 3 copies should have shape (6, 3, 16, 16), got "
                           f"{tuple(got.shape)}")
        means = got.flatten(1).mean(dim=1)
        order = ["image 0" if m < 5 else "image 1" for m in means.tolist()]
        if order != ["image 0"] * 3 + ["image 1"] * 3:
            raise Mismatch(f"rows should be image 0, 0, 0, 1, 1, 1 (image-major: "
                           f"repeat_interleave), got {', '.join(order)}")
        stds = got.view(2, -1).std(dim=1)
        if not (0.08 < stds[0] < 0.12 and 0.8 < stds[1] < 1.2):
            raise Mismatch(f"the noise of image 0 should have std 0.1 and of image 1 std 1.0, "
                           f"got {stds[0]:.3f} and {stds[1]:.3f}")
        compare(got, reference(x, sigma, 3, torch.Generator().manual_seed(0)),
                "your copies (same generator seed, so the same noise is expected)")
        return "image-major order, per-image σ, and the same noise stream as course.smoothgrad"
    return verdict("noisy copies", run)


def smoothgrad_guided(fn: Callable) -> bool:
    """04 · Exercise 3: ``fn(model, x, target, noise_level, n_samples, seed)`` → SmoothGrad of
    guided backprop, as ``course.smoothgrad`` inside ``course.relu_backward_rule(model, "guided")``
    with its default batch size."""
    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        got = call(fn, model, x.clone(), target.clone(), noise_level=0.0, n_samples=2, seed=0)
        if isinstance(got, torch.Tensor) and got.shape == x.shape and torch.allclose(
                got.double(), _vanilla_gradient(model, x, target).double(), rtol=1e-4,
                atol=1e-6):
            raise Mismatch("at noise_level=0 your result is the vanilla gradient: run it inside "
                           "course.relu_backward_rule(model, 'guided')")
        compare(got, _guided_backprop(model, x, target),
                "at noise_level=0 (which must give guided backprop), your result")
        with relu_backward_rule(model, "guided"):
            expected = _smoothgrad(model, x, target, noise_level=0.15, n_samples=4, seed=0,
                                   progress=False)
        got = call(fn, model, x.clone(), target.clone(), noise_level=0.15, n_samples=4, seed=0)
        compare(got, expected, "with noise_level=0.15, n_samples=4, seed=0, your result")
        return "guided backprop averaged over noisy copies"
    return verdict("SmoothGrad on guided backprop", run)


def samples_needed(fn: Callable) -> bool:
    """04 · Exercise 4: ``fn(total_variance, scale, r)`` → samples for a relative error ``r``.

    ``total_variance`` = Σ_i v_i and ``scale`` = ‖M̂_100‖ as in section 6 of notebook 04.
    """
    def reference(total_variance: float, scale: float, r: float) -> float:
        signal_sq = scale ** 2 - total_variance / 100
        return total_variance / (r ** 2 * signal_sq)

    def run() -> str:
        for total_variance, scale, r in ((42.0, 1.0, 0.5), (42.0, 1.0, 0.25), (3.0, 0.4, 0.1)):
            got = call(fn, total_variance, scale, r)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"expected a number, got {type(got).__name__}") from None
            expected = reference(total_variance, scale, r)
            if not math.isclose(got, expected, rel_tol=1e-3):
                naive = total_variance / (r ** 2 * scale ** 2)
                hint = (" — that is Σv/(r²‖M̂_100‖²): subtract the noise Σv/100 that M̂_100 "
                        "carries from its squared norm first" if math.isclose(
                            got, naive, rel_tol=1e-3) else "")
                raise Mismatch(f"for Σv = {total_variance}, ‖M̂_100‖ = {scale}, r = {r}: "
                               f"expected n ≈ {expected:.1f}, got {got:.1f}{hint}")
        return "n = Σv / (r² (‖M̂_100‖² − Σv/100)); four times the samples for half the error"
    return verdict("samples needed", run)


