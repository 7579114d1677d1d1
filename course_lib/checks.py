"""Argument checks shared by every attribution method.

A wrong argument must fail loudly with a message that names the problem, never
produce a plausible-looking but wrong map. Each check raises ``TypeError`` for a
wrong kind of object and ``ValueError`` for a wrong value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

Target = int | Sequence[int] | torch.Tensor | np.ndarray


def check_model(model: object) -> nn.Module:
    """``model`` must be a ``torch.nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def check_inputs(inputs: object) -> torch.Tensor:
    """``inputs`` must be a finite floating-point tensor shaped ``(N, 3, H, W)``."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError("inputs must be a torch.Tensor shaped (N, 3, H, W), "
                        f"got {type(inputs).__name__}; use course_lib.preprocess()")
    if inputs.ndim != 4:
        hint = " (a single image? add a batch dimension with x[None])" if inputs.ndim == 3 else ""
        raise ValueError(f"inputs must have 4 dimensions (N, 3, H, W), got shape "
                         f"{tuple(inputs.shape)}{hint}")
    if inputs.shape[1] != 3:
        raise ValueError(f"inputs must have 3 colour channels in dimension 1, got shape "
                         f"{tuple(inputs.shape)}; channels-last images need .permute(0, 3, 1, 2)")
    if inputs.shape[0] == 0:
        raise ValueError("inputs is an empty batch (N = 0)")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be floating point with pixels in [0, 1], got dtype "
                        f"{inputs.dtype}; convert uint8 images with course_lib.preprocess() "
                        "or x.float() / 255")
    if not torch.isfinite(inputs).all():
        raise ValueError("inputs contain NaN or infinite values")
    return inputs


def check_target(target: object, batch_size: int) -> torch.Tensor:
    """One class index per image → ``int64`` tensor ``(batch_size,)``.

    A single ``int`` is used for every image. Ranges are checked by
    :func:`check_target_range` once the number of classes is known.
    """
    if isinstance(target, (bool, np.bool_)) or (
            isinstance(target, torch.Tensor) and target.dtype == torch.bool):
        raise TypeError("target must be class indices (int), not booleans")
    if isinstance(target, (int, np.integer)):
        return torch.full((batch_size,), int(target), dtype=torch.int64)
    if isinstance(target, (torch.Tensor, np.ndarray)):
        values = torch.as_tensor(target)
        if values.is_floating_point() or values.is_complex():
            raise TypeError(f"target must hold integer class indices, got dtype {values.dtype}")
    elif isinstance(target, Sequence) and not isinstance(target, (str, bytes)):
        if not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in target):
            raise TypeError(f"target must be a list of integer class indices, got {target!r}")
        values = torch.tensor(list(target), dtype=torch.int64)
    else:
        raise TypeError("target must be an int, a sequence of ints or an integer tensor, "
                        f"got {type(target).__name__}")
    if values.ndim == 0:
        return values.to(torch.int64).expand(batch_size).clone()
    if values.ndim != 1 or len(values) != batch_size:
        raise ValueError(f"target needs one class per image: {batch_size} image(s) but "
                         f"target has shape {tuple(values.shape)}")
    return values.to(torch.int64).cpu()


def check_target_range(target: torch.Tensor, num_classes: int) -> None:
    """Every class index must lie in ``[0, num_classes)``."""
    bad = (target < 0) | (target >= num_classes)
    if bad.any():
        raise ValueError(f"target class {int(target[bad][0])} is out of range: the model has "
                         f"{num_classes} classes (0 to {num_classes - 1})")


def model_device(model: nn.Module, default: torch.device) -> torch.device:
    """The device of the model's first parameter or buffer (``default`` if it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return default


def prepare(model: object, inputs: object, target: object
            ) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Check all three arguments; move inputs and targets to the model's device."""
    model = check_model(model)
    inputs = check_inputs(inputs)
    target = check_target(target, inputs.shape[0])
    device = model_device(model, inputs.device)
    return model, inputs.detach().to(device), target.to(device)


def check_batch_size(batch_size: object) -> int:
    """``batch_size`` must be a positive ``int``: how many images go through one pass."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return int(batch_size)
