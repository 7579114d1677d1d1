"""What a method costs, counted in passes through the model rather than in seconds.

Seconds depend on the machine and on what else it is doing; the number of images sent
forwards and backwards through the network does not. :func:`count_passes` counts both
while a method runs::

    with course.count_passes(model) as cost:
        course.smoothgrad(model, x, target, n_samples=50)
    cost.forward, cost.backward        # (50, 50) for one image

``forward`` is the number of images that went through ``model.forward`` (a batch of 8
counts 8), ``backward`` the number of images whose class scores were back-propagated
(a gradient that reached the model's output). The hooks that count are removed on the
way out, also after an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class PassCount:
    """Images through the model: ``forward`` passes and ``backward`` passes."""

    forward: int = 0
    backward: int = 0

    def __str__(self) -> str:
        return f"{self.forward} forward, {self.backward} backward passes (images)"


@contextmanager
def count_passes(model: nn.Module) -> Iterator[PassCount]:
    """Count the images ``model`` sees forwards and backwards inside the block."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    count = PassCount()

    def backward_seen(gradient: torch.Tensor) -> None:
        count.backward += gradient.shape[0]

    def forward_seen(module: nn.Module, args: tuple, output: object) -> None:
        if isinstance(output, torch.Tensor):
            count.forward += output.shape[0] if output.ndim else 1
            if output.requires_grad:
                output.register_hook(backward_seen)

    handle = model.register_forward_hook(forward_seen)
    try:
        yield count
    finally:
        handle.remove()
