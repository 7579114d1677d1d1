r"""Checkers for the exercises: is my answer right, and if not, what is wrong with it?

Each checker runs your function (or takes your number) and the course's reference on a few
small, fast cases — a tiny random network on small images, never the big model — prints ``✓``
or a ``✗`` with an explanation (shape, sign, scale, largest error and where), and returns
``True`` or ``False``::

    course.check.vanilla_gradient(my_gradient)      # my_gradient(model, inputs, target)

The checkers never touch your model or your random-number state (they build their own tiny
models inside :func:`torch.random.fork_rng`). If your function raises, the checker reports the
exception instead of crashing.

=====================================  ===========================================================
notebook · exercise                    checker
=====================================  ===========================================================
00 · 1                                 :func:`attribution_size`
01 · section 3 (and later)             :func:`vanilla_gradient`, :func:`gradient_x_input`
01 · 1, 2                              :func:`runner_up_gradient`, :func:`probability_gradient`
02 · 1, 2, 3, 4                        :func:`guided_backprop` (:func:`deconvnet`),
                                       :func:`relu_rule_names`, :func:`gradient_x_input`,
                                       :func:`swap_restores_model`
03 · 1, 2, 3, 4                        :func:`cam`, :func:`counterfactual_cam`,
                                       :func:`probability_grad_cam`, :func:`capture_removes_hook`
04 · 1, 2, 3, 4                        :func:`smoothgrad`, :func:`noisy_copies`,
                                       :func:`smoothgrad_guided`, :func:`samples_needed`
05 · 1, 2, 3, 4                        :func:`saturated_unit_ig`, :func:`integrated_gradients`,
                                       :func:`dark_pixel_share`, :func:`substituted_midpoint_rule`
06 · 1, 3, 4                           :func:`occlusion_passes`, :func:`occlusion`,
                                       :func:`shapley_values`
=====================================  ===========================================================
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import permutations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.cam import grad_cam
from course_lib.gradients import deconvnet as _deconvnet
from course_lib.gradients import gradient_x_input as _gradient_x_input
from course_lib.gradients import guided_backprop as _guided_backprop
from course_lib.gradients import vanilla_gradient as _vanilla_gradient
from course_lib.integrated_gradients import integrated_gradients as _integrated_gradients
from course_lib.integrated_gradients import quadrature
from course_lib.occlusion import occlusion as _occlusion
from course_lib.occlusion import patch_positions
from course_lib.relu_rules import relu_backward_rule
from course_lib.smoothgrad import smoothgrad as _smoothgrad

__all__ = [
    "attribution_size", "cam", "capture_removes_hook", "counterfactual_cam", "dark_pixel_share",
    "deconvnet", "gradient_x_input", "guided_backprop", "integrated_gradients", "noisy_copies",
    "occlusion", "occlusion_passes", "probability_grad_cam", "probability_gradient",
    "relu_rule_names", "runner_up_gradient", "samples_needed", "saturated_unit_ig",
    "shapley_values", "smoothgrad", "smoothgrad_guided", "substituted_midpoint_rule",
    "swap_restores_model", "vanilla_gradient",
]


# ----------------------------------------------------------------------------- reporting

class Mismatch(Exception):
    """Raised inside a checker with the explanation the learner should read."""


def _verdict(title: str, run: Callable[[], str | None]) -> bool:
    """Run one checker body; print ✓ or ✗ with the explanation; return the verdict."""
    try:
        detail = run()
    except Mismatch as wrong:
        print(f"✗ {title}: {wrong}")
        return False
    print(f"✓ {title}" + (f": {detail}" if detail else ""))
    return True


def _call(fn: Callable, *args, what: str = "your function", **kwargs):
    """Call the learner's function; turn any exception into a readable mismatch."""
    if not callable(fn):
        raise Mismatch(f"expected a function, got {type(fn).__name__} (pass the function "
                       "itself, without calling it: check.x(my_fn), not check.x(my_fn()))")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except NotImplementedError as err:
        raise Mismatch(f"{what} is not written yet (NotImplementedError: {err})") from None
    except Exception as err:  # noqa: BLE001 — report whatever the learner's code raised
        raise Mismatch(f"{what} raised {type(err).__name__}: {err}") from None


def _as_tensor(value: object, what: str) -> torch.Tensor:
    if isinstance(value, tuple) and value and isinstance(value[0], torch.Tensor):
        value = value[0]  # e.g. (mean, mean of squares): the first is the answer
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    return value.detach().cpu()


def compare(got: object, expected: torch.Tensor, what: str = "result", rtol: float = 1e-4,
            atol: float = 1e-6) -> None:
    """Raise :class:`Mismatch` explaining how ``got`` differs from ``expected``.

    Reports, in this order: type, shape, NaN, a flipped sign, a constant factor, and
    otherwise the largest error, where it is, and the cosine similarity.
    """
    got = _as_tensor(got, what)
    expected = expected.detach().cpu()
    if got.shape != expected.shape:
        hint = ""
        if got.ndim == expected.ndim - 1 and got.shape == expected.shape[:1] + expected.shape[2:]:
            hint = " (did you aggregate the colour channels? keep all three)"
        elif got.ndim == expected.ndim - 1:
            hint = " (did you drop the batch dimension?)"
        elif got.ndim == expected.ndim + 1:
            hint = " (an extra dimension: maybe a batch of one that should be removed with [0])"
        raise Mismatch(f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
                       + hint)
    got, expected = got.double(), expected.double()
    if not torch.isfinite(got).all():
        raise Mismatch(f"{what} contains NaN or infinite values")
    if torch.allclose(got, expected, rtol=rtol, atol=atol):
        return
    scale = expected.abs().max().item()
    error = (got - expected).abs()
    where = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
    if torch.allclose(got, -expected, rtol=rtol, atol=atol):
        raise Mismatch(f"{what} has the wrong sign everywhere (it is exactly −1 × the expected "
                       "values)")
    denominator = (expected * expected).sum()
    if denominator > 0:
        factor = ((got * expected).sum() / denominator).item()
        if abs(factor) > 1e-12 and torch.allclose(got, factor * expected, rtol=rtol, atol=atol):
            raise Mismatch(f"{what} is off by a constant factor: it is {factor:.4g} × the "
                           "expected values")
    cosine = F.cosine_similarity(got.flatten(), expected.flatten(), dim=0).item()
    raise Mismatch(f"{what} differs: largest error {error.max().item():.3g} at index {where} "
                   f"(got {got[where].item():.4g}, expected {expected[where].item():.4g}; "
                   f"largest expected magnitude {scale:.3g}); cosine similarity with the "
                   f"expected values {cosine:.3f}")


# ----------------------------------------------------------------------------- small cases

class TinyNet(nn.Module):
    """A small random CNN shaped like the course model's end: ``features → head → pool → fc``.

    ``head`` is the last convolution (7 × 7 cells for a 224 × 224 input, as in
    EfficientNet-Lite0), followed only by global average pooling and ``fc``. It has an
    ``nn.ReLU(inplace=True)`` and an ``nn.ReLU6`` module, like the models of the course.
    """

    def __init__(self, num_classes: int = 5, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.features = nn.Sequential(nn.Conv2d(3, 6, 8, stride=8), nn.ReLU(inplace=True))
            self.head = nn.Sequential(nn.Conv2d(6, 8, 4, stride=4), nn.ReLU6())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, num_classes)
            for conv in (self.features[0], self.head[0]):
                nn.init.normal_(conv.weight, 0.0, 0.5 / math.sqrt(conv.weight[0].numel()))
                nn.init.uniform_(conv.bias, 0.0, 0.1)  # most units on: maps are not all zero
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.head(self.features(x))).flatten(1))


def tiny_linear(shape: tuple[int, int, int] = (3, 4, 4), num_classes: int = 3,
                seed: int = 0) -> nn.Module:
    """``Flatten → Linear``: a model whose Taylor expansion is exact everywhere."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), num_classes)).eval()


def tiny_images(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n`` random images ``(n, 3, size, size)`` in [0, 1], from a private generator."""
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _cases(size: int = 32, linear: bool = True
           ) -> Iterator[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
    """(description, model, inputs, one target per image) for the gradient checkers."""
    yield ("a tiny CNN, 2 images, a different class each", TinyNet(),
           tiny_images(2, size), torch.tensor([1, 3]))
    if not linear:  # e.g. DeconvNet needs ReLU modules
        return
    yield ("a linear model, 3 images, class 2", tiny_linear((3, 4, 4)),
           tiny_images(3, 4, seed=1), torch.tensor([2, 2, 2]))


def _modules_snapshot(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return list(model.named_modules())


def _same_modules(before: list[tuple[str, nn.Module]], model: nn.Module) -> bool:
    after = list(model.named_modules())
    return len(before) == len(after) and all(
        name_a == name_b and a is b for (name_a, a), (name_b, b) in zip(before, after))


def _method_checker(title: str, fn: Callable, reference: Callable, linear: bool = True) -> bool:
    """Compare ``fn(model, inputs, target)`` with ``reference`` on every small case."""
    def run() -> str:
        for description, model, x, target in _cases(linear=linear):
            expected = reference(model, x, target)
            got = _call(fn, model, x.clone(), target.clone())
            compare(got, expected, f"on {description}, your result")
        return "matches course_lib on a tiny CNN" + (" and on a linear model" if linear else "")
    return _verdict(title, run)


# ----------------------------------------------------------------------------- notebook 00

def attribution_size(attribution_numbers: int, map_numbers: int) -> bool:
    """00 · Exercise 1: how many numbers in the attribution of 4 photos, and in its 2-D maps?"""
    def run() -> str:
        expected = (4 * 3 * 224 * 224, 4 * 224 * 224)
        if attribution_numbers != expected[0]:
            raise Mismatch(f"the attribution has {expected[0]:,} numbers, not "
                           f"{attribution_numbers:,}: it has the shape of the input batch, "
                           "(4, 3, 224, 224)")
        if map_numbers != expected[1]:
            raise Mismatch(f"the maps have {expected[1]:,} numbers, not {map_numbers:,}: the "
                           "absolute map keeps one number per pixel, (4, 224, 224)")
        return "the map drops the colour axis, so it has a third of the numbers"
    return _verdict("attribution size", run)


# ----------------------------------------------------------------------------- notebook 01

def vanilla_gradient(fn: Callable) -> bool:
    """``fn(model, inputs, target) → ∂z_c/∂inputs``, shaped like ``inputs`` (notebook 01)."""
    return _method_checker("vanilla gradient", fn, _vanilla_gradient)


def gradient_x_input(fn: Callable) -> bool:
    """``fn(model, inputs, target) → inputs · ∂z_c/∂inputs`` (notebooks 01 and 02)."""
    return _method_checker("gradient × input", fn, _gradient_x_input)


def runner_up_gradient(fn: Callable) -> bool:
    """01 · Exercise 1: ``fn(model, inputs) → ∂z_c/∂inputs`` for each image's 2nd most likely c."""
    def run() -> str:
        for description, model, x, _ in _cases():
            with torch.no_grad():
                ranked = model(x).topk(2, dim=1).indices
            expected = _vanilla_gradient(model, x, ranked[:, 1])
            got = _as_tensor(_call(fn, model, x.clone()), "your result")
            if got.shape == expected.shape and torch.allclose(
                    got.double(), _vanilla_gradient(model, x, ranked[:, 0]).double(),
                    rtol=1e-4, atol=1e-6) and not torch.allclose(got, expected):
                raise Mismatch(f"on {description}, your result is the gradient of the *most* "
                               "likely class; the runner-up is topk(2).indices[:, 1]")
            compare(got, expected, f"on {description}, your result")
        return "the gradient of each image's second most likely class"
    return _verdict("runner-up gradient", run)


def probability_gradient(fn: Callable) -> bool:
    """01 · Exercise 2: ``fn(model, inputs, target) → ∂p_c/∂inputs`` for the softmax p."""
    def run() -> str:
        for description, model, x, target in _cases():
            leaf = x.clone().requires_grad_(True)
            p = model(leaf).softmax(dim=1).gather(1, target[:, None]).sum()
            (expected,) = torch.autograd.grad(p, leaf)
            got = _as_tensor(_call(fn, model, x.clone(), target.clone()), "your result")
            logit_gradient = _vanilla_gradient(model, x, target)
            if got.shape == expected.shape and torch.allclose(
                    got.double(), logit_gradient.double(), rtol=1e-4, atol=1e-6):
                raise Mismatch(f"on {description}, your result is the gradient of the logit "
                               "z_c; apply .softmax(dim=1) before picking the class")
            compare(got, expected, f"on {description}, your result")
        return "∂p_c/∂x = p_c (∂z_c/∂x − Σ_k p_k ∂z_k/∂x)"
    return _verdict("probability gradient", run)


# ----------------------------------------------------------------------------- notebook 02

def deconvnet(fn: Callable) -> bool:
    """``fn(model, inputs, target)`` → the DeconvNet map, shaped like ``inputs``."""
    return _method_checker("DeconvNet", fn, _deconvnet, linear=False)


def guided_backprop(fn: Callable) -> bool:
    """02 · Exercise 1: ``fn(model, inputs, target)`` → the guided-backprop map."""
    def reference(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _guided_backprop(model, x, target)

    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        got = _as_tensor(_call(fn, model, x.clone(), target.clone()), "your result")
        for name, other in (("the plain gradient", _vanilla_gradient),
                            ("DeconvNet", _deconvnet)):
            if got.shape == x.shape and torch.allclose(got.double(),
                                                       other(model, x, target).double(),
                                                       rtol=1e-4, atol=1e-6):
                raise Mismatch(f"your result equals {name}: guided backprop passes a signal "
                               "only where X_n > 0 AND R_{n+1} > 0")
        compare(got, reference(model, x, target), "on a tiny CNN, your result")
        return "matches course.guided_backprop on a tiny CNN"
    return _verdict("guided backprop", run)


def relu_rule_names(without_forward_gate: str, without_signal_gate: str) -> bool:
    """02 · Exercise 2: guided backprop without I(X_n > 0) is …, without I(R_{n+1} > 0) is …."""
    def normal(name: str) -> str:
        return "".join(ch for ch in str(name).lower() if ch.isalnum())

    def run() -> str:
        answers = {"deconvnet": {"deconvnet", "deconvolution", "deconv"},
                   "gradient": {"gradient", "vanillagradient", "vanilla", "saliency"}}
        if normal(without_forward_gate) not in answers["deconvnet"]:
            raise Mismatch(f"without I(X_n > 0) the rule is R·I(R > 0): it ignores the forward "
                           f"pass and keeps positive signals — not {without_forward_gate!r}")
        if normal(without_signal_gate) not in answers["gradient"]:
            raise Mismatch(f"without I(R_(n+1) > 0) the rule is R·I(X_n > 0), ReLU's own "
                           f"derivative — not {without_signal_gate!r}")
        return "DeconvNet and the plain gradient"
    return _verdict("which rule is left", run)


def swap_restores_model(swapped_relus: Callable) -> bool:
    """02 · Exercise 4: ``swapped_relus(model, rule)``, a context manager, restores the model.

    Inside the block the model must compute the rule's map; afterwards — also when the
    block raised — the very same ReLU module objects must be back in their places.
    """
    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        before = _modules_snapshot(model)
        expected = _guided_backprop(model, x, target)
        leaf = x.clone().requires_grad_(True)
        try:
            with _call(swapped_relus, model, "guided", what="swapped_relus(model, 'guided')"):
                logits = model(leaf)
        except Mismatch:
            raise
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"entering the block raised {type(err).__name__}: {err}") from None
        (got,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), leaf)
        if not _same_modules(before, model):
            raise Mismatch("after a normal exit the model's modules are not the same objects "
                           "as before (set the original modules back, do not make new ones)")
        compare(got, expected, "the gradient computed inside the block (rule 'guided')")
        try:
            with swapped_relus(model, "guided"):
                model(torch.rand(1, 4, 32, 32))  # four channels: the forward pass fails
        except RuntimeError:
            pass
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"a failing forward pass inside the block should raise the "
                           f"model's RuntimeError, got {type(err).__name__}: {err}") from None
        else:
            raise Mismatch("a forward pass on a 4-channel image should fail inside the block")
        if not _same_modules(before, model):
            raise Mismatch("after an exception inside the block the original ReLU modules are "
                           "not back: restore them in a `finally:` block")
        return "the rule applies inside the block and the model is restored, also after an error"
    return _verdict("swapped_relus restores the model", run)


# ----------------------------------------------------------------------------- notebook 03

class _Negated(nn.Module):
    """``-model(x)``: Grad-CAM of −z_c is the counterfactual map (weights −α)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.model(x)


class _Softmax(nn.Module):
    """``softmax(model(x))``: Grad-CAM of the probability instead of the logit."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).softmax(dim=1)


def _cam_checker(title: str, fn: Callable, reference: Callable[[nn.Module, torch.Tensor,
                                                                torch.Tensor], torch.Tensor],
                 confusions: Sequence[tuple[str, Callable]] = (), detail: str = "") -> bool:
    """``fn(model, images, classes) → (N, 224, 224)`` against ``reference`` at ``model.head``."""
    def run() -> str:
        model, x, classes = TinyNet(), tiny_images(2, 224), torch.tensor([1, 3])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = reference(model, x, classes)
            got = _as_tensor(_call(fn, model, x.clone(), classes.clone()), "your map")
            for name, other in confusions:
                wrong = other(model, x, classes)
                if got.shape == wrong.shape and not torch.allclose(wrong, expected) and \
                        torch.allclose(got.double(), wrong.double(), rtol=1e-4, atol=1e-6):
                    raise Mismatch(f"your map equals {name}")
        compare(got, expected, "your map (2 images, 224 × 224, tiny CNN with model.head and "
                               "model.fc)", rtol=1e-4, atol=1e-6)
        return detail
    return _verdict(title, run)


def cam(fn: Callable) -> bool:
    """03 · Exercise 1: ``fn(model, images, classes)`` → CAM = ReLU(Σ_k w_k^c A^k)/Z, upsampled.

    ``model.head`` is the last convolution (7 × 7 cells, Z = 49) and ``model.fc`` the linear
    layer after the global average pool; the result is ``(N, 224, 224)``.
    """
    def no_relu(model: nn.Module, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            a = model.head(model.features(x))
            raw = (model.fc.weight[classes][:, :, None, None] * a).sum(dim=1) / 49
        return F.interpolate(raw[:, None], size=(224, 224), mode="bilinear",
                             align_corners=False)[:, 0]

    return _cam_checker("CAM", fn, lambda m, x, c: grad_cam(m, x, c, m.head),
                        [("the map without the final ReLU", no_relu)],
                        "CAM from the fc weights equals Grad-CAM at the last convolution")


def counterfactual_cam(fn: Callable) -> bool:
    """03 · Exercise 2: ``fn(model, images, classes)`` → ReLU(Σ_k (−α_k^c) A^k), upsampled.

    Computed at ``model.head`` and returned as ``(N, 224, 224)``.
    """
    return _cam_checker(
        "counterfactual Grad-CAM", fn, lambda m, x, c: grad_cam(_Negated(m), x, c, m.head),
        [("the ordinary Grad-CAM map: negate the weights α", lambda m, x, c: grad_cam(
            m, x, c, m.head))],
        "the evidence against the class")


def probability_grad_cam(fn: Callable) -> bool:
    """03 · Exercise 3: ``fn(model, images, classes)`` → Grad-CAM of the softmax probability.

    At ``model.head``, returned as ``(N, 224, 224)``.
    """
    return _cam_checker(
        "Grad-CAM of the probability", fn,
        lambda m, x, c: grad_cam(_Softmax(m), x, c, m.head),
        [("Grad-CAM of the logit: differentiate model(x).softmax(dim=1)[i, c] instead",
          lambda m, x, c: grad_cam(m, x, c, m.head))],
        "differentiates p_c, so other classes' scores matter too")


def capture_removes_hook(capture_activation: Callable) -> bool:
    """03 · Exercise 4: ``capture_activation(model, layer, x) → (logits, A)`` leaves no hook.

    Also when the forward pass raises.
    """
    def run() -> str:
        model, x = TinyNet(), tiny_images(2, 64)
        logits, activation = _call(capture_activation, model, model.head, x.clone(),
                                   what="capture_activation(model, model.head, x)")
        with torch.no_grad():
            expected_a = model.head(model.features(x))
            expected_logits = model(x)
        compare(logits, expected_logits, "the logits it returns")
        compare(activation, expected_a, "the activation it returns")
        if model.head._forward_hooks:
            raise Mismatch(f"{len(model.head._forward_hooks)} forward hook(s) left on the layer "
                           "after a normal call: call handle.remove()")
        try:
            capture_activation(model, model.head, torch.rand(1, 4, 64, 64))
        except RuntimeError:
            pass
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"a 4-channel image should make the model raise RuntimeError, got "
                           f"{type(err).__name__}: {err}") from None
        else:
            raise Mismatch("a 4-channel image should make the forward pass fail")
        if model.head._forward_hooks:
            raise Mismatch("a forward hook was left behind after the forward pass failed: "
                           "remove it in a `finally:` block")
        return "returns the activation and leaves no hook, also when the forward pass fails"
    return _verdict("capture_activation", run)


# ----------------------------------------------------------------------------- notebook 04

def smoothgrad(fn: Callable) -> bool:
    """04 · Exercise 1: ``fn(model, x, target, noise_level, n_samples, batch_size, seed)``.

    Returns the SmoothGrad map (or a tuple whose first item is it). It must equal the
    vanilla gradient at ``noise_level=0`` and ``course.smoothgrad`` with the same seed and
    batch size (noise from ``torch.Generator().manual_seed(seed)``, drawn image-major).
    """
    def run() -> str:
        # pixels in [0.2, 0.6]: σ relative to the range (0.4) differs from an absolute σ
        model, x, target = TinyNet(), 0.2 + 0.4 * tiny_images(2), torch.tensor([1, 3])
        got = _call(fn, model, x.clone(), target.clone(), noise_level=0.0, n_samples=3,
                    batch_size=2, seed=0)
        compare(got, _vanilla_gradient(model, x, target),
                "with noise_level=0 (which must give the vanilla gradient), your result")
        for n_samples, batch_size in ((5, 2), (4, 4)):
            expected = _smoothgrad(model, x, target, noise_level=0.2, n_samples=n_samples,
                                   batch_size=batch_size, seed=3, progress=False)
            got = _call(fn, model, x.clone(), target.clone(), noise_level=0.2,
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
    return _verdict("SmoothGrad", run)


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
        got = _as_tensor(_call(fn, x, sigma, 3, torch.Generator().manual_seed(0)),
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
    return _verdict("noisy copies", run)


def smoothgrad_guided(fn: Callable) -> bool:
    """04 · Exercise 3: ``fn(model, x, target, noise_level, n_samples, seed)`` → SmoothGrad of
    guided backprop, as ``course.smoothgrad`` inside ``course.relu_backward_rule(model, "guided")``
    with its default batch size."""
    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        got = _call(fn, model, x.clone(), target.clone(), noise_level=0.0, n_samples=2, seed=0)
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
        got = _call(fn, model, x.clone(), target.clone(), noise_level=0.15, n_samples=4, seed=0)
        compare(got, expected, "with noise_level=0.15, n_samples=4, seed=0, your result")
        return "guided backprop averaged over noisy copies"
    return _verdict("SmoothGrad on guided backprop", run)


def samples_needed(fn: Callable) -> bool:
    """04 · Exercise 4: ``fn(total_variance, scale, r)`` → samples for a relative error ``r``.

    ``total_variance`` = Σ_i v_i and ``scale`` = ‖M̂_100‖ as in section 6 of notebook 04.
    """
    def reference(total_variance: float, scale: float, r: float) -> float:
        signal_sq = scale ** 2 - total_variance / 100
        return total_variance / (r ** 2 * signal_sq)

    def run() -> str:
        for total_variance, scale, r in ((42.0, 1.0, 0.5), (42.0, 1.0, 0.25), (3.0, 0.4, 0.1)):
            got = _call(fn, total_variance, scale, r)
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
    return _verdict("samples needed", run)


# ----------------------------------------------------------------------------- notebook 05

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
    return _verdict("IG of a saturated unit", run)


def integrated_gradients(fn: Callable, rule: str = "midpoint") -> bool:
    """05 · Exercise 2: ``fn(model, inputs, target, baseline, steps)`` → IG with ``rule``.

    ``baseline`` is a tensor shaped like ``inputs``; compared with
    ``course.integrated_gradients(..., rule=rule)`` on a tiny CNN and on a linear model, where
    IG must equal ``w ⊙ (x − x')`` for any number of steps.
    """
    def run() -> str:
        for description, model, x, target in _cases():
            baseline = torch.full_like(x, 0.25)
            for steps in (1, 6):
                expected = _integrated_gradients(model, x, target, baseline=baseline,
                                                 steps=steps, rule=rule, progress=False)
                got = _call(fn, model, x.clone(), target.clone(), baseline.clone(), steps)
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
    return _verdict("Integrated Gradients", run)


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
            got = _call(fn, image.clone(), attribution.clone(), threshold)
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
    return _verdict("dark-pixel share", run)


def substituted_midpoint_rule(fn: Callable) -> bool:
    """05 · Exercise 4: ``fn(steps)`` → (alphas, weights) of the midpoint rule in t, α = t³."""
    def run() -> str:
        for steps in (4, 16):
            result = _call(fn, steps)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise Mismatch("expected a pair (alphas, weights)")
            t, _ = quadrature("midpoint", steps)
            compare(result[0], t ** 3, f"the points α for {steps} steps")
            if torch.allclose(_as_tensor(result[1], "weights").double(),
                              torch.full((steps,), 1 / steps, dtype=torch.float64)):
                raise Mismatch("the weights are still 1/m: the substitution α = t³ adds the "
                               "factor dα/dt = 3t², so w_k = 3 t_k² / m")
            compare(result[1], 3 * t ** 2 / steps, f"the weights for {steps} steps")
        return "α_k = t_k³, w_k = 3 t_k² / m: more points where the score changes"
    return _verdict("substituted midpoint rule", run)


# ----------------------------------------------------------------------------- notebook 06

def occlusion_passes(fn: Callable) -> bool:
    """06 · Exercise 1: ``fn(size, patch, stride)`` → forward passes of occlusion on a square
    image, the unoccluded reference included."""
    def run() -> str:
        for size, patch, stride in ((224, 32, 16), (448, 32, 16), (224, 32, 8), (224, 48, 32)):
            expected = len(patch_positions(size, patch, stride)) ** 2 + 1
            got = _call(fn, size, patch, stride)
            if got == expected:
                continue
            positions = len(patch_positions(size, patch, stride))
            hints = {expected - 1: "add the one unoccluded reference pass",
                     ((size - patch) // stride + 1) ** 2 + 1:
                         "a window that sticks out of the border is cropped, not dropped: "
                         "use ceil((H − p)/s) + 1 positions per side"}
            raise Mismatch(f"size {size}, patch {patch}, stride {stride}: expected "
                           f"{positions}² + 1 = {expected}, got {got}"
                           + (f" — {hints[got]}" if got in hints else ""))
        return "(⌈(H − p)/s⌉ + 1)² + 1 forward passes"
    return _verdict("occlusion passes", run)


def occlusion(fn: Callable) -> bool:
    """06 · Exercise 3: ``fn(model, image, target, patch, stride, fill)`` → map ``(H, W)``.

    ``image`` is one image ``(3, H, W)``, ``target`` an int, ``fill`` a gray level or a fill
    image ``(3, H, W)``; compared with ``course.occlusion`` on a tiny CNN and a linear model.
    """
    def run() -> str:
        fill_image = tiny_images(1, 32, seed=5)[0]
        cases = [("a tiny CNN, gray fill, patch 8, stride 4", TinyNet(),
                  tiny_images(1, 32)[0], 1, 8, 4, 0.5),
                 ("a tiny CNN, a fill image, patch 12, stride 8 (cropped windows)", TinyNet(),
                  tiny_images(1, 32, seed=2)[0], 3, 12, 8, fill_image),
                 ("a linear model, black fill, patch 2, stride 1", tiny_linear((3, 4, 4)),
                  tiny_images(1, 4, seed=1)[0], 2, 2, 1, 0.0)]
        for description, model, image, target, patch, stride, fill in cases:
            expected = _occlusion(model, image[None], target, patch=patch, stride=stride,
                                  fill=fill, progress=False)[0]
            got = _call(fn, model, image.clone(), target, patch, stride, fill)
            if isinstance(got, torch.Tensor) and got.isnan().any():
                raise Mismatch(f"on {description}, your map has NaN at "
                               f"{int(got.isnan().sum())} pixels that no window covers: a "
                               "window that sticks out of the border is cropped, not dropped "
                               "(ceil((H − p)/s) + 1 positions per side)")
            compare(got, expected, f"on {description}, your map")
        return "matches course.occlusion, including windows cropped at the border"
    return _verdict("occlusion", run)


def shapley_values(fn: Callable) -> bool:
    """06 · Exercise 4: ``fn(v, players)`` → ``{player: Shapley value}`` for a game ``v``.

    ``v`` takes a collection of players (a coalition) and returns a number.
    """
    def exact(v: Callable[[Iterable[str]], float], players: tuple[str, ...]) -> dict[str, float]:
        orders = list(permutations(players))
        return {k: sum(v(order[:order.index(k) + 1]) - v(order[:order.index(k)])
                       for order in orders) / len(orders) for k in players}

    def redundant(coalition: Iterable[str]) -> float:
        s = set(coalition)
        return float("a" in s or "b" in s) + 0.5 * ("c" in s)

    def interacting(coalition: Iterable[str]) -> float:
        s = set(coalition)
        return 1.0 * ("a" in s) + 2.0 * ("b" in s and "c" in s) - 0.5 * ("d" in s and "a" in s)

    def run() -> str:
        for name, v, players in (("the redundant pair", redundant, ("a", "b", "c")),
                                 ("a four-part game with interactions", interacting,
                                  ("a", "b", "c", "d"))):
            got = _call(fn, v, players)
            if not isinstance(got, dict) or set(got) != set(players):
                raise Mismatch(f"expected a dict with one value per player {players}, got "
                               f"{got!r}")
            expected = exact(v, players)
            wrong = {k: (got[k], expected[k]) for k in players
                     if not math.isclose(float(got[k]), expected[k], abs_tol=1e-9)}
            if wrong:
                total = sum(float(x) for x in got.values())
                efficiency = v(players) - v(())
                raise Mismatch(f"for {name}: " + ", ".join(
                    f"{k}: got {g:.4g}, expected {e:.4g}" for k, (g, e) in wrong.items())
                    + f". Your values sum to {total:.4g}; Shapley values sum to "
                    f"v(all) − v(none) = {efficiency:.4g}")
        return "marginal contributions averaged over every order (they sum to v(all) − v(none))"
    return _verdict("Shapley values", run)
