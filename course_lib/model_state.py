"""Leave the learner's model exactly as it was found.

:func:`attribution_mode` wraps every method: for the duration of the
computation it switches the model to eval mode (BatchNorm must not update its
running statistics, dropout must not drop) and freezes the parameters (only the
input needs a gradient). On the way out, normally or through an exception, it
restores each module's mode and each parameter's ``requires_grad`` one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def attribution_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters inside the block; the original state afterwards."""
    modes = [(module, module.training) for module in model.modules()]
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        model.eval()
        for param, _ in flags:
            param.requires_grad_(False)
        yield model
    finally:
        for module, training in modes:
            module.training = training
        for param, requires_grad in flags:
            param.requires_grad_(requires_grad)
