"""Checkers for notebook 04 · SmoothGrad: two for the from-scratch build of section 3, one
per exercise."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from course_lib.cost import count_passes
from course_lib.methods.gradients import guided_backprop as _guided_backprop
from course_lib.methods.gradients import vanilla_gradient as _vanilla_gradient
from course_lib.methods.relu_rules import relu_backward_rule
from course_lib.methods.smoothgrad import noise_sigma, sample_noise
from course_lib.methods.smoothgrad import smoothgrad as _smoothgrad
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

CONTRACT = ("the noise of sample s comes from its own generator, sample_generator(seed, s), "
            "one draw per image in batch order, scaled by σ = noise_level·(max − min) of "
            "that image")


def _case() -> tuple[TinyNet, torch.Tensor, torch.Tensor]:
    """A tiny CNN and two images spanning [0.2, 0.6] and [0, 0.3]: a σ that ignores each
    image's own range gives other noise."""
    images = tiny_images(2)
    x = torch.stack([0.2 + 0.4 * images[0], 0.3 * images[1]])
    return TinyNet(), x, torch.tensor([1, 3])


def _same(a: object, b: torch.Tensor) -> bool:
    try:
        compare(a, b)
    except Mismatch:
        return False
    return True


def noisy_copies(fn: Callable) -> bool:
    """04 · section 3: ``fn(x, sigma, samples, seed)`` → the noisy copies of ``samples``.

    Shape ``(N·k, 3, H, W)``, image-major: copy ``j`` of image ``i`` is row ``i·k + j`` and
    equals ``x[i] + sigma[i]·ε`` with the noise of sample ``samples[j]`` (the noise contract
    of ``course.smoothgrad``).
    """
    def run() -> str:
        _, x, _ = _case()
        sigma = noise_sigma(x, 0.5)
        samples = range(3, 6)
        got = as_tensor(call(fn, x.clone(), sigma.clone(), samples, 4), "your copies")
        expected = (x[:, None] + sample_noise(x, sigma, samples, 4)).flatten(0, 1)
        if got.shape != expected.shape:
            raise Mismatch(f"2 images × 3 samples should give shape {tuple(expected.shape)}, "
                           f"got {tuple(got.shape)}")
        if _same(got, expected):
            return "image-major copies with the noise of exactly the samples asked for"
        sample_major = expected.view(2, 3, *x.shape[1:]).transpose(0, 1).flatten(0, 1)
        if _same(got, sample_major):
            raise Mismatch("the rows are sample-major (image 0, 1, 0, 1, …); stack them "
                           "image-major: all copies of image 0 first, then image 1")
        first = (x[:, None] + sample_noise(x, sigma, range(3), 4)).flatten(0, 1)
        if _same(got, first):
            raise Mismatch("you drew the noise of samples 0, 1, 2; the samples asked for were "
                           "3, 4, 5: seed each sample's generator with its own index")
        compare(got, expected, f"your copies of samples 3–5 (seed 4; {CONTRACT})")
        return "image-major copies"
    return verdict("noisy copies", run)


def smoothgrad(fn: Callable) -> bool:
    """04 · section 3: ``fn(model, x, target, noise_level, n_samples, batch_size, seed)``.

    Returns the SmoothGrad map (or a tuple whose first item is it). It must equal the
    vanilla gradient at ``noise_level=0`` and ``course.smoothgrad`` with the same seed,
    whatever the batch size.
    """
    def run() -> str:
        model, x, target = _case()
        got = call(fn, model, x.clone(), target.clone(), noise_level=0.0, n_samples=3,
                   batch_size=2, seed=0)
        compare(got, _vanilla_gradient(model, x, target),
                "with noise_level=0 (which must give the vanilla gradient), your result")
        expected = _smoothgrad(model, x, target, noise_level=0.2, n_samples=5, seed=3,
                               progress=False)
        for batch_size in (2, 4, 10):
            got = as_tensor(call(fn, model, x.clone(), target.clone(), noise_level=0.2,
                                 n_samples=5, batch_size=batch_size, seed=3), "your result")
            if _same(got, expected):
                continue
            unscaled = _absolute_sigma_smoothgrad(model, x, target, 0.2, 5, 3)
            if _same(got, unscaled):
                raise Mismatch("your σ is noise_level itself; it must be a fraction of each "
                               "image's pixel range, noise_level·(max − min)")
            compare(got, expected, f"with noise_level=0.2, n_samples=5, seed=3, "
                                   f"batch_size={batch_size}, your result ({CONTRACT})")
        return "σ = 0 gives the vanilla gradient; with noise it equals course.smoothgrad " \
               "for every batch size"
    return verdict("SmoothGrad", run)


def _absolute_sigma_smoothgrad(model, x, target, noise_level, n, seed) -> torch.Tensor:
    """SmoothGrad with σ = noise_level for every image (the typical mistake)."""
    sigma = torch.full((len(x),), float(noise_level))
    total = torch.zeros_like(x)
    for s in range(n):
        noisy = x + sample_noise(x, sigma, range(s, s + 1), seed)[:, 0]
        total += _vanilla_gradient(model, noisy, target)
    return total / n


def smoothgrad_without_noise(fn: Callable) -> bool:
    """04 · Exercise 1: ``fn(model, x, target, n_samples)`` → SmoothGrad at σ = 0, computed
    with one backward pass per image whatever ``n_samples`` is."""
    def run() -> str:
        model, x, target = _case()
        linear, x_linear = tiny_linear((3, 4, 4)), tiny_images(3, 4, seed=1)
        for description, m, images, t in (("a tiny CNN", model, x, target),
                                          ("a linear model", linear, x_linear,
                                           torch.tensor([2, 0, 1]))):
            expected = _vanilla_gradient(m, images, t)
            with count_passes(m) as cost:
                got = as_tensor(call(fn, m, images.clone(), t.clone(), 5), "your result")
            if got.shape == images.shape and torch.allclose(got, torch.zeros_like(got)):
                raise Mismatch("your map is all zeros: at σ = 0 the noisy copies are the image "
                               "itself, not zero, so every sample is the gradient at the image")
            if got.shape == images.shape and torch.allclose(got, images * expected, atol=1e-7):
                raise Mismatch("that is gradient × input; SmoothGrad averages gradients")
            compare(got, expected, f"on {description} with n_samples=5, your result")
            if cost.backward > len(images):
                raise Mismatch(f"the map is right, but it took {cost.backward} backward passes "
                               f"for {len(images)} images with n_samples=5: at σ = 0 all n "
                               "samples are the same gradient, so one pass per image suffices "
                               "(n passes would be wasted)")
        return "at σ = 0 SmoothGrad is the vanilla gradient for any n: one pass per image"
    return verdict("SmoothGrad without noise", run)


def top1_share(fn: Callable) -> bool:
    """04 · Exercise 2: ``fn(model, x, target, noise_level, n_copies, seed)`` → ``(N,)`` tensor:
    for each image, the share of its first ``n_copies`` noisy copies (SmoothGrad's samples
    0, 1, …) whose most likely class is still ``target``."""
    def reference(model, x, target, noise_level, n, seed) -> torch.Tensor:
        noisy = x[:, None] + sample_noise(x, noise_sigma(x, noise_level), range(n), seed)
        with torch.no_grad():
            top1 = model(noisy.flatten(0, 1)).argmax(dim=1).view(len(x), n)
        return (top1 == target[:, None]).float().mean(dim=1)

    def run() -> str:
        # a linear model with small margins, so that noise does change the top-1 class
        model, images = tiny_linear((3, 4, 4)), tiny_images(2, 4, seed=1)
        x = torch.stack([0.2 + 0.4 * images[0], 0.3 * images[1]])
        with torch.no_grad():
            target = model(x).argmax(dim=1)
        for noise_level, n in ((0.0, 4), (0.1, 16), (0.3, 16)):
            expected = reference(model, x, target, noise_level, n, 2)
            got = as_tensor(call(fn, model, x.clone(), target.clone(), noise_level, n, 2),
                            "your shares")
            if got.shape != expected.shape:
                raise Mismatch(f"expected one share per image, shape {tuple(expected.shape)}, "
                               f"got {tuple(got.shape)}")
            if _same(got.float(), expected):
                continue
            if (got < 0).any() or (got > 1).any():
                raise Mismatch("a share is a fraction of the copies, between 0 and 1")
            absolute = x[:, None] + sample_noise(x, torch.full((2,), noise_level), range(n), 2)
            with torch.no_grad():
                top1 = model(absolute.flatten(0, 1)).argmax(dim=1).view(2, n)
            if _same(got.float(), (top1 == target[:, None]).float().mean(dim=1)):
                raise Mismatch("your σ is noise_level itself; it must be a fraction of each "
                               "image's pixel range (noise_sigma)")
            raise Mismatch(f"at noise_level={noise_level} with {n} copies (seed 2) the shares "
                           f"should be {[round(v, 3) for v in expected.tolist()]}, got "
                           f"{[round(v, 3) for v in got.float().tolist()]}; use SmoothGrad's "
                           "noise (sample_noise) and count argmax == target")
        return "the share of noisy copies whose top-1 class is still the target"
    return verdict("top-1 share under noise", run)


def smoothgrad_guided(fn: Callable) -> bool:
    """04 · Exercise 3: ``fn(model, x, target, noise_level, n_samples, seed)`` → SmoothGrad of
    guided backprop, i.e. ``course.smoothgrad`` inside
    ``course.relu_backward_rule(model, "guided")``."""
    def run() -> str:
        model, x, target = _case()
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
    """04 · Exercise 4: ``fn(total_variance, signal, r)`` → samples for a relative error ``r``.

    ``total_variance`` = Σ_i v_i, ``signal`` = the estimated ‖∇z̃_c‖ of section 6; the
    expected squared error Σv/n must equal (r·signal)².
    """
    def reference(total_variance: float, signal: float, r: float) -> float:
        return total_variance / (r * signal) ** 2

    def run() -> str:
        for total_variance, signal, r in ((42.0, 1.0, 0.5), (42.0, 1.0, 0.25), (3.0, 0.4, 0.1)):
            got = call(fn, total_variance, signal, r)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"expected a number, got {type(got).__name__}") from None
            expected = reference(total_variance, signal, r)
            if math.isclose(got, expected, rel_tol=1e-3):
                continue
            hint = ""
            if math.isclose(got, total_variance / (r * signal ** 2), rel_tol=1e-3):
                hint = (" — r is not squared: the *squared* error Σv/n must equal "
                        "r²·‖∇z̃‖², since the error itself falls like 1/√n")
            elif math.isclose(got, 2 * expected, rel_tol=1e-3):
                hint = (" — twice too many: 2Σv/n is the squared distance between two "
                        "independent estimates, not the error of one")
            raise Mismatch(f"for Σv = {total_variance}, ‖∇z̃‖ = {signal}, r = {r}: expected "
                           f"n ≈ {expected:.1f}, got {got:.1f}{hint}")
        return "n = Σv / (r·‖∇z̃‖)²: four times the samples for half the error"
    return verdict("samples needed", run)
