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


def input_correlation(fn: Callable) -> bool:
    """02 · Exercise 1: ``fn(attribution, images)`` → ``(N,)``, one Pearson correlation per image.

    The correlation between all ``3 × H × W`` numbers of an image's signed attribution and
    of the image itself.
    """
    def run() -> str:
        generator = torch.Generator().manual_seed(0)
        images = torch.rand(3, 3, 12, 10, generator=generator)
        noise = torch.randn(3, 3, 12, 10, generator=generator)
        attribution = torch.stack([2.0 * images[0] + noise[0],          # echoes the image
                                   -0.5 * images[1] + 0.3 * noise[1],   # echoes it negated
                                   noise[2]])                           # unrelated
        expected = torch.stack([torch.corrcoef(torch.stack([a.flatten(), x.flatten()]))[0, 1]
                                for a, x in zip(attribution, images)])
        got = as_tensor(call(fn, attribution.clone(), images.clone(),
                             what="input_correlation(attribution, images)"),
                        "your correlations")
        if got.numel() == 1:
            raise Mismatch("one correlation for the whole batch; compute one per image, "
                           "shape (N,)")
        if got.shape == expected.shape and torch.allclose(got.double(), expected.abs().double(),
                                                          atol=1e-4) \
                and not torch.allclose(got.double(), expected.double(), atol=1e-4):
            raise Mismatch("the sign matters: image 1's attribution is −0.5 × the image plus "
                           "noise, its correlation is negative (do not take abs)")
        summed = torch.stack([torch.corrcoef(torch.stack([a.sum(0).flatten(),
                                                          x.mean(0).flatten()]))[0, 1]
                              for a, x in zip(attribution, images)])
        if got.shape == expected.shape and torch.allclose(got.double(), summed.double(),
                                                          atol=1e-4):
            raise Mismatch("that correlates channel sums; keep all 3 × H × W numbers of each "
                           "image (flatten it)")
        compare(got, expected, "your correlations for 3 images", rtol=1e-4, atol=1e-5)
        return "one Pearson correlation per image, over all of its numbers"
    return verdict("input correlation", run)


def eval_and_frozen(context: Callable) -> bool:
    """02 · Exercise 4: ``with context(model):`` → eval mode, frozen parameters; restored after.

    Afterwards — also when the block raised — every module has its own former mode and
    every parameter its own former ``requires_grad``.
    """
    def state(model: nn.Module) -> tuple[list[bool], list[bool]]:
        return ([m.training for m in model.modules()],
                [p.requires_grad for p in model.parameters()])

    def run() -> str:
        model = TinyNet().train()
        model.features.eval()                     # a submodule that was in eval mode
        model.fc.bias.requires_grad_(False)       # a parameter that was frozen
        before = state(model)
        entered = call(context, model, what="eval_and_frozen(model)")
        if not hasattr(entered, "__enter__"):
            raise Mismatch("eval_and_frozen(model) should be a context manager (decorate it "
                           "with @contextmanager and yield inside try/finally)")
        try:
            with entered:
                modes, flags = state(model)
                if any(modes):
                    raise Mismatch("inside the block some modules are still in training "
                                   "mode: call model.eval()")
                if any(flags):
                    raise Mismatch("inside the block some parameters still require a "
                                   "gradient: set requires_grad_(False) on each")
        except Mismatch:
            raise
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"the block raised {type(err).__name__}: {err}") from None
        modes, flags = state(model)
        if modes != before[0]:
            wrong = "model.features was in eval mode before and is now training" \
                if model.features.training else "the modes differ from before"
            raise Mismatch(f"after the block {wrong}: restore each module's own mode "
                           "(remember [m.training for m in model.modules()]), not "
                           "model.train()")
        if flags != before[1]:
            raise Mismatch("after the block the requires_grad flags differ from before (fc.bias "
                           "was frozen): restore each parameter's own flag")
        try:
            with context(model):
                model(torch.rand(1, 4, 32, 32))  # four channels: the forward pass fails
        except RuntimeError:
            pass
        except Exception as err:  # noqa: BLE001
            raise Mismatch(f"a failing forward pass inside the block should raise the "
                           f"model's RuntimeError, got {type(err).__name__}: {err}") from None
        if state(model) != before:
            raise Mismatch("after an exception inside the block the model was not restored: "
                           "restore it in a `finally:` block")
        return "eval and frozen inside, each module and parameter as before afterwards, also " \
               "after an error"
    return verdict("eval_and_frozen", run)
