r"""Three ways to send a signal backwards through a ReLU.

With :math:`X_{n+1} = \mathrm{ReLU}(X_n)` and :math:`R_{n+1}` the signal arriving
from above, the methods differ only in what they pass down:

* gradient (Simonyan et al. 2013): :math:`R_n = R_{n+1}\,\mathbb{I}(X_n > 0)`
* DeconvNet (Zeiler & Fergus 2014): :math:`R_n = R_{n+1}\,\mathbb{I}(R_{n+1} > 0)`
* guided backprop (Springenberg et al. 2014): :math:`R_n = R_{n+1}\,\mathbb{I}(X_n > 0)\,\mathbb{I}(R_{n+1} > 0)`

:func:`relu_backward_rule` swaps every ``nn.ReLU``/``nn.ReLU6`` module of a
model for a :class:`RuleReLU` whose *forward* is identical and whose *backward*
follows the chosen rule, and puts the original modules back afterwards.

ReLU6 is read as a ReLU followed by a cap at 6: the cap keeps its ordinary
gradient :math:`\mathbb{I}(X_n < 6)` and the rule replaces the ReLU part.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

Rule = Literal["gradient", "deconvnet", "guided"]
RULES: tuple[str, ...] = ("gradient", "deconvnet", "guided")


class _RuleReLUFunction(torch.autograd.Function):
    r"""ReLU (or ReLU6) forward; backward by the chosen rule.

    The backward reads the masks off the saved *output* :math:`Y = \min(\max(X, 0), 6)`:
    :math:`Y > 0 \iff X > 0` and :math:`Y < 6 \iff X < 6`. PyTorch's own fused
    ReLU/ReLU6 backward kernels apply them, so a rule costs one extra operation
    (the clamp of the signal) over the ordinary gradient.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: str, cap: float | None) -> torch.Tensor:
        output = x.clamp(min=0, max=cap)  # never in place, so inplace=True models work
        ctx.rule, ctx.cap = rule, cap
        ctx.save_for_backward(output)
        return output

    @staticmethod
    def backward(ctx, signal: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (output,) = ctx.saved_tensors
        if ctx.rule != "gradient":  # DeconvNet and guided: only positive signals pass
            signal = signal.clamp(min=0)
        # DeconvNet ignores the forward activation: keep only the cap's gradient I(X < 6).
        low = -math.inf if ctx.rule == "deconvnet" else 0.0
        if ctx.cap is not None:  # signal · I(low < Y < cap)
            return torch.ops.aten.hardtanh_backward(signal, output, low, ctx.cap), None, None
        if ctx.rule == "deconvnet":
            return signal, None, None
        return torch.ops.aten.threshold_backward(signal, output, 0.0), None, None  # · I(Y > 0)


class RuleReLU(nn.Module):
    """Stand-in for ``nn.ReLU`` (``cap=None``) or ``nn.ReLU6`` (``cap=6``) with a custom backward."""

    def __init__(self, rule: Rule, cap: float | None = None) -> None:
        super().__init__()
        if rule not in RULES:
            raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
        self.rule, self.cap = rule, cap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _RuleReLUFunction.apply(x, self.rule, self.cap)

    def extra_repr(self) -> str:
        return f"rule={self.rule!r}, cap={self.cap}"


class _FunctionalReLUGuard(TorchFunctionMode):
    """Raise if the forward pass calls a ReLU *function*: no module, nothing to swap."""

    FUNCTIONS = {F.relu: "F.relu", F.relu_: "F.relu_", torch.relu: "torch.relu",
                 torch.relu_: "torch.relu_", torch.Tensor.relu: "Tensor.relu",
                 torch.Tensor.relu_: "Tensor.relu_", F.relu6: "F.relu6",
                 F.hardtanh: "F.hardtanh", F.hardtanh_: "F.hardtanh_"}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.FUNCTIONS:
            raise TypeError(
                f"the model calls {self.FUNCTIONS[func]} inside its forward(), so its ReLU "
                "cannot be swapped for another backward rule and the map would silently "
                "mix rules. Use nn.ReLU modules instead (assign them in __init__).")
        return func(*args, **(kwargs or {}))


def relu_modules(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Every ``(parent, attribute name, module)`` where an ``nn.ReLU``/``nn.ReLU6`` sits."""
    # parent._modules, not named_children(): the latter skips a module met before,
    # and one ReLU object may sit in several places.
    return [(parent, name, child) for parent in model.modules()
            for name, child in parent._modules.items()
            if isinstance(child, (nn.ReLU, nn.ReLU6))]


@contextmanager
def swapped_relus(model: nn.Module, replacement: Callable[[float | None], nn.Module],
                  purpose: str) -> Iterator[nn.Module]:
    """Inside the block every ``nn.ReLU``/``nn.ReLU6`` module is ``replacement(cap)``.

    ``cap`` is 6.0 for a ReLU6 and ``None`` for a ReLU. The original module objects
    are put back on exit, also after an exception. Raises ``TypeError`` if the model
    has no ReLU modules, or if its forward pass calls a functional ReLU that cannot
    be swapped; ``purpose`` ("the guided rule", …) makes that message specific.
    """
    places = relu_modules(model)
    if not places:
        raise TypeError(f"{type(model).__name__} has no nn.ReLU or nn.ReLU6 modules, so "
                        f"{purpose} has nothing to act on (a ReLU called as a function, "
                        "F.relu or torch.relu, cannot be swapped: use nn.ReLU modules)")
    try:
        for parent, name, original in places:
            setattr(parent, name, replacement(6.0 if isinstance(original, nn.ReLU6) else None))
        with _FunctionalReLUGuard():
            yield model
    finally:
        for parent, name, original in places:
            setattr(parent, name, original)


@contextmanager
def relu_backward_rule(model: nn.Module, rule: Rule) -> Iterator[nn.Module]:
    """Inside the block, every ReLU/ReLU6 module of ``model`` back-propagates by ``rule``.

    The original module objects are put back on exit, also after an exception.
    Raises ``TypeError`` if the model has no ReLU modules, or if its forward pass
    calls a functional ReLU that cannot be swapped.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    with swapped_relus(model, lambda cap: RuleReLU(rule, cap), f"the {rule} rule"):
        yield model
