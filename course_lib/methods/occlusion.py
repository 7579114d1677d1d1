r"""Occlusion: cover a patch, watch the score drop (Zeiler & Fergus 2014, arXiv:1311.2901).

A square patch of ``patch`` × ``patch`` pixels, filled with ``fill``, slides
over the image with step ``stride``. For every pixel :math:`u`,

.. math:: R^c_u = \operatorname{mean}_{\text{patches } P \ni u}\;
          \big[z_c(x) - z_c(x \text{ with } P \text{ filled})\big]

so a positive value means "covering this region lowers the class score". Only
forward passes are needed — no gradients, any model — but one per patch
position: :math:`\lceil (H - p)/s + 1\rceil \cdot \lceil (W - p)/s + 1\rceil` per image.
Windows are laid out as in Captum's ``Occlusion`` (the last one may stick out
over the border and is cropped), so every pixel is covered.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.forward import class_scores
from course_lib.model_state import attribution_mode


def patch_positions(size: int, patch: int, stride: int) -> list[int]:
    """Start offsets of the patches along one side of length ``size``."""
    return [k * stride for k in range(math.ceil((size - patch) / stride) + 1)]


def _check_geometry(patch: object, stride: object, height: int, width: int) -> None:
    for name, value in (("patch", patch), ("stride", stride)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if patch > min(height, width):
        raise ValueError(f"patch {patch} is larger than the image ({height} × {width})")
    if stride > patch:
        raise ValueError(f"stride {stride} > patch {patch} would leave pixels never covered")


@torch.no_grad()
def occlusion(model: nn.Module, inputs: torch.Tensor, target: Target, patch: int = 32,
              stride: int = 16, fill: float | torch.Tensor = 0.5, batch_size: int = 16,
              progress: bool = True) -> torch.Tensor:
    """Occlusion map, ``(N, H, W)`` (the patch covers all colour channels at once).

    ``fill`` is a gray level in [0, 1] or a tensor shaped like one image or the
    batch (e.g. a blurred copy); ``batch_size`` is the number of occluded images
    per forward pass.
    """
    model, x, classes = prepare(model, inputs, target)
    height, width = x.shape[-2:]
    _check_geometry(patch, stride, height, width)
    batch_size = check_batch_size(batch_size)
    fill_value = torch.as_tensor(fill, dtype=x.dtype, device=x.device).expand_as(x)
    windows = [(top, left) for top in patch_positions(height, patch, stride)
               for left in patch_positions(width, patch, stride)]
    total = torch.zeros(x.shape[0], height, width, dtype=x.dtype, device=x.device)
    count = torch.zeros(height, width, dtype=x.dtype, device=x.device)
    for top, left in windows:
        count[top:top + patch, left:left + patch] += 1
    with attribution_mode(model), tqdm(total=len(x) * len(windows), desc="occlusion passes",
                                       disable=not progress, leave=False) as bar:
        logits = model(x)
        check_target_range(classes, logits.shape[1])
        reference = logits.gather(1, classes[:, None])[:, 0]
        for i in range(len(x)):
            for start in range(0, len(windows), batch_size):
                chunk = windows[start:start + batch_size]
                occluded = x[i].repeat(len(chunk), 1, 1, 1)
                for j, (top, left) in enumerate(chunk):
                    occluded[j, :, top:top + patch, left:left + patch] = \
                        fill_value[i, :, top:top + patch, left:left + patch]
                drop = reference[i] - class_scores(model, occluded, classes[i:i + 1])
                for j, (top, left) in enumerate(chunk):
                    total[i, top:top + patch, left:left + patch] += drop[j]
                bar.update(len(chunk))
    return (total / count).to(inputs.device)
