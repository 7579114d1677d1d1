"""Checkers for the exercises of notebook 03 · Grad-CAM."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.methods.cam import grad_cam
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    as_tensor,
    call,
    compare,
    tiny_images,
    verdict,
)


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
            got = as_tensor(call(fn, model, x.clone(), classes.clone()), "your map")
            for name, other in confusions:
                wrong = other(model, x, classes)
                if got.shape == wrong.shape and not torch.allclose(wrong, expected) and \
                        torch.allclose(got.double(), wrong.double(), rtol=1e-4, atol=1e-6):
                    raise Mismatch(f"your map equals {name}")
        compare(got, expected, "your map (2 images, 224 × 224, tiny CNN with model.head and "
                               "model.fc)", rtol=1e-4, atol=1e-6)
        return detail
    return verdict(title, run)


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


def capture_layers(capture: Callable) -> bool:
    """03 · Exercise 4: ``capture(model, layers, x) → (logits, [A_1, A_2, …])`` in one pass.

    Every hook is removed again, also when the forward pass raises.
    """
    def hooks_left(model: nn.Module) -> int:
        return sum(len(m._forward_hooks) for m in model.modules())

    def run() -> str:
        model, x = TinyNet(), tiny_images(2, 64)
        layers = [model.features, model.head]
        with torch.no_grad():
            expected_features = model.features(x)
            expected = [expected_features.clone(), model.head(expected_features)]
            expected_logits = model(x)
        result = call(capture, model, layers, x.clone(),
                      what="capture_layers(model, [model.features, model.head], x)")
        if not (isinstance(result, tuple) and len(result) == 2):
            raise Mismatch("return a pair (logits, activations)")
        logits, activations = result
        compare(logits, expected_logits, "the logits it returns")
        if isinstance(activations, torch.Tensor) or len(activations) != len(layers):
            raise Mismatch(f"return one activation per layer, a list of {len(layers)}")
        for k, (got, want) in enumerate(zip(activations, expected)):
            compare(got, want, f"activation {k} (of {'model.features' if k == 0 else 'model.head'})")
        if hooks_left(model):
            raise Mismatch(f"{hooks_left(model)} forward hook(s) left on the model after a "
                           "normal call: remove every handle")
        try:
            capture(model, layers, torch.rand(1, 4, 64, 64))
        except RuntimeError:
            pass
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"a 4-channel image should make the model raise RuntimeError, got "
                           f"{type(err).__name__}: {err}") from None
        else:
            raise Mismatch("a 4-channel image should make the forward pass fail")
        if hooks_left(model):
            raise Mismatch(f"{hooks_left(model)} forward hook(s) left behind after the forward "
                           "pass failed: remove them all in a `finally:` block")
        return "both layers in one forward pass, and no hook left, also when the pass fails"
    return verdict("capture_layers", run)
