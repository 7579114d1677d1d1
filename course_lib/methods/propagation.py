"""What the modified backward passes of LRP and DeepLIFT share.

Both methods change how the signal crosses some layers on its way back, and both do it the
way notebook 02 swapped ReLUs: the modules in question are *replaced* for the duration of the
computation by stand-ins with the same forward pass and a different backward pass, and the
original module objects are put back afterwards, also after an exception
(:func:`swapped_modules`). A rule can only reach what is a module. A nonlinearity that the
model calls as a *function* in its ``forward`` (``torch.sigmoid``, ``F.relu6``, ``x * gate``,
…) would keep its ordinary gradient, and the map would silently mix methods; a
:class:`FunctionalGuard` watches the forward pass and refuses such calls with a message that
names them. The stand-ins mark their own work with :func:`trusted`, so the guard ignores it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

Place = tuple[nn.Module, str, nn.Module]  # (parent, attribute name, module found there)

_LOCAL = threading.local()


@contextmanager
def trusted() -> Iterator[None]:
    """Inside the block the :class:`FunctionalGuard` looks away (a stand-in's own operations)."""
    _LOCAL.depth = getattr(_LOCAL, "depth", 0) + 1
    try:
        yield
    finally:
        _LOCAL.depth -= 1


def places(model: nn.Module) -> dict[int, list[Place]]:
    """``id(module)`` → every ``(parent, attribute, module)`` where that module sits.

    One module object may sit in several places; each place is listed (``parent._modules``,
    not ``named_children()``, which skips a module met before).
    """
    found: dict[int, list[Place]] = {}
    for parent in model.modules():
        for name, child in parent._modules.items():
            if child is not None:
                found.setdefault(id(child), []).append((parent, name, child))
    return found


@contextmanager
def swapped_modules(replacements: Mapping[int, tuple[list[Place], nn.Module]]
                    ) -> Iterator[None]:
    """Put each stand-in in every place of its module; the originals come back on exit."""
    done: list[Place] = []
    try:
        for found_at, stand_in in replacements.values():
            for parent, name, original in found_at:
                setattr(parent, name, stand_in)
                done.append((parent, name, original))
        yield
    finally:
        for parent, name, original in reversed(done):
            setattr(parent, name, original)


NONLINEAR_FUNCTIONS: dict[Callable, str] = {
    F.relu6: "F.relu6", F.hardtanh: "F.hardtanh", F.hardtanh_: "F.hardtanh_",
    torch.clamp: "torch.clamp", torch.Tensor.clamp: "Tensor.clamp",
    torch.Tensor.clamp_: "Tensor.clamp_", torch.clip: "torch.clip",
    torch.Tensor.clip: "Tensor.clip", torch.sigmoid: "torch.sigmoid",
    torch.Tensor.sigmoid: "Tensor.sigmoid", F.sigmoid: "F.sigmoid", torch.tanh: "torch.tanh",
    torch.Tensor.tanh: "Tensor.tanh", F.tanh: "F.tanh", F.gelu: "F.gelu", F.silu: "F.silu",
    F.elu: "F.elu", F.leaky_relu: "F.leaky_relu", F.softplus: "F.softplus",
    F.hardswish: "F.hardswish", F.hardsigmoid: "F.hardsigmoid", F.mish: "F.mish",
    F.softmax: "F.softmax", torch.softmax: "torch.softmax", torch.Tensor.softmax: "Tensor.softmax",
    F.log_softmax: "F.log_softmax", F.adaptive_max_pool2d: "F.adaptive_max_pool2d",
    F.max_pool1d: "F.max_pool1d", F.max_pool3d: "F.max_pool3d", torch.exp: "torch.exp",
    torch.Tensor.exp: "Tensor.exp",
}
RELU_FUNCTIONS: dict[Callable, str] = {
    F.relu: "F.relu", F.relu_: "F.relu_", torch.relu: "torch.relu", torch.relu_: "torch.relu_",
    torch.Tensor.relu: "Tensor.relu", torch.Tensor.relu_: "Tensor.relu_",
}
MAX_FUNCTIONS: dict[Callable, str] = {
    F.max_pool2d: "F.max_pool2d", torch.max: "torch.max", torch.Tensor.max: "Tensor.max",
    torch.amax: "torch.amax", torch.Tensor.amax: "Tensor.amax",
}
PRODUCTS: dict[Callable, str] = {
    torch.mul: "*", torch.Tensor.mul: "*", torch.Tensor.__mul__: "*", torch.Tensor.__rmul__: "*",
    torch.Tensor.__imul__: "*=", torch.Tensor.mul_: "*=", torch.div: "/", torch.Tensor.div: "/",
    torch.Tensor.__truediv__: "/", torch.Tensor.__itruediv__: "/=", torch.matmul: "@",
    torch.Tensor.__matmul__: "@", torch.bmm: "torch.bmm", torch.einsum: "torch.einsum",
}


class FunctionalGuard(TorchFunctionMode):
    """Refuse, during the forward pass, every call that a method's rules cannot reach.

    ``refused`` maps functions to their names (``TypeError``); products (``*``, ``/``, ``@``)
    of two tensors that both depend on the input (gating, attention) are refused too
    (``ValueError``), since no rule here splits a product. ``method`` and ``supported`` make the message specific.
    """

    def __init__(self, refused: Mapping[Callable, str], method: str, supported: str) -> None:
        super().__init__()
        self.refused, self.method, self.supported = refused, method, supported

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(_LOCAL, "depth", 0) == 0:
            if func in self.refused:
                raise TypeError(
                    f"the model calls {self.refused[func]} inside its forward(); {self.method} "
                    f"has rules for {self.supported} only, and a function cannot be given a "
                    "rule, so the map would silently mix methods")
            if func in PRODUCTS:
                operands = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
                if sum(a.requires_grad for a in operands) >= 2:
                    # ValueError: PyTorch turns a TypeError raised by `*` into NotImplemented
                    raise ValueError(
                        f"the model multiplies or divides two activations ({PRODUCTS[func]}: "
                        f"gating or attention) inside its forward(); {self.method} has no rule "
                        "for a product of two inputs")
        return func(*args, **kwargs)


def refuse_modules(model: nn.Module, kinds: tuple[type, ...], method: str,
                   supported: str) -> None:
    """``TypeError`` naming the first module of one of ``kinds`` (layers without a rule)."""
    for name, module in model.named_modules():
        if isinstance(module, kinds):
            raise TypeError(f"layer {name!r} ({type(module).__name__}) has no {method} rule "
                            f"here; supported: {supported}")


UNSUPPORTED_ACTIVATIONS: tuple[type, ...] = (
    nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.PReLU, nn.Softplus,
    nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softmax, nn.LogSoftmax, nn.Threshold, nn.SELU,
    nn.CELU, nn.GLU, nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.RReLU,
    nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d, nn.MultiheadAttention, nn.LayerNorm, nn.GroupNorm,
    nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
)


def hardtanh_not_relu6(module: nn.Module) -> bool:
    """An ``nn.Hardtanh`` other than ``nn.ReLU6`` (a clamp the rules do not know)."""
    return isinstance(module, nn.Hardtanh) and not isinstance(module, nn.ReLU6)
