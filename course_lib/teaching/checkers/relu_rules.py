"""Checkers for the exercises of notebook 02 · DeconvNet and guided backprop."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_lib.methods.gradients import deconvnet as _deconvnet
from course_lib.methods.gradients import guided_backprop as _guided_backprop
from course_lib.methods.gradients import vanilla_gradient as _vanilla_gradient
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    as_tensor,
    call,
    compare,
    method_checker,
    modules_snapshot,
    same_modules,
    tiny_images,
    verdict,
)


def deconvnet(fn: Callable) -> bool:
    """``fn(model, inputs, target)`` → the DeconvNet map, shaped like ``inputs``."""
    return method_checker("DeconvNet", fn, _deconvnet, linear=False)


def guided_backprop(fn: Callable) -> bool:
    """02 · Exercise 1: ``fn(model, inputs, target)`` → the guided-backprop map."""
    def reference(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _guided_backprop(model, x, target)

    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        got = as_tensor(call(fn, model, x.clone(), target.clone()), "your result")
        for name, other in (("the plain gradient", _vanilla_gradient),
                            ("DeconvNet", _deconvnet)):
            if got.shape == x.shape and torch.allclose(got.double(),
                                                       other(model, x, target).double(),
                                                       rtol=1e-4, atol=1e-6):
                raise Mismatch(f"your result equals {name}: guided backprop passes a signal "
                               "only where X_n > 0 AND R_{n+1} > 0")
        compare(got, reference(model, x, target), "on a tiny CNN, your result")
        return "matches course.guided_backprop on a tiny CNN"
    return verdict("guided backprop", run)


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
    return verdict("which rule is left", run)


def swap_restores_model(swapped_relus: Callable) -> bool:
    """02 · Exercise 4: ``swapped_relus(model, rule)``, a context manager, restores the model.

    Inside the block the model must compute the rule's map; afterwards — also when the
    block raised — the very same ReLU module objects must be back in their places.
    """
    def run() -> str:
        model, x, target = TinyNet(), tiny_images(2), torch.tensor([1, 3])
        before = modules_snapshot(model)
        expected = _guided_backprop(model, x, target)
        leaf = x.clone().requires_grad_(True)
        try:
            with call(swapped_relus, model, "guided", what="swapped_relus(model, 'guided')"):
                logits = model(leaf)
        except Mismatch:
            raise
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"entering the block raised {type(err).__name__}: {err}") from None
        (got,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), leaf)
        if not same_modules(before, model):
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
        if not same_modules(before, model):
            raise Mismatch("after an exception inside the block the original ReLU modules are "
                           "not back: restore them in a `finally:` block")
        return "the rule applies inside the block and the model is restored, also after an error"
    return verdict("swapped_relus restores the model", run)


