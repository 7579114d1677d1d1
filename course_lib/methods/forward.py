"""Forward passes without gradients: the one operation every perturbation method repeats.

Occlusion, LIME, KernelSHAP and RISE (and the deletion/insertion curves) change the image and
read one class score per changed image, thousands of times. They never need a gradient, so:

* the forward passes run in :func:`torch.inference_mode` (no autograd bookkeeping at all);
* the images enter the network in *channels-last* memory layout (pixels stored as H × W × C):
  on the CPU, oneDNN's convolutions are faster on that layout and keep it from layer to
  layer. The model itself is not touched; only the layout of the input changes, never
  the numbers (up to float rounding).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

ScoreKind = Literal["logit", "probability"]


def class_scores(model: nn.Module, images: torch.Tensor, classes: torch.Tensor,
                 kind: ScoreKind = "logit") -> torch.Tensor:
    """Score of ``classes[i]`` for ``images[i]``, shape ``(N,)``: one forward pass, no graph.

    ``kind="logit"`` reads the logit :math:`z_c`, ``"probability"`` the softmax
    :math:`p_c`. Arguments are assumed checked and on the model's device; call inside
    :func:`course_lib.model_state.attribution_mode` (eval mode).
    """
    with torch.inference_mode():
        logits = model(images.contiguous(memory_format=torch.channels_last))
        if kind == "probability":
            logits = logits.softmax(dim=1)
        elif kind != "logit":
            raise ValueError(f"unknown score {kind!r}; choose 'logit' or 'probability'")
        return logits.gather(1, classes.view(-1, 1).expand(len(images), 1))[:, 0].clone()
