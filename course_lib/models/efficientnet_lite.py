"""EfficientNet-Lite0, written out in plain PyTorch modules.

Tan & Le (2019), "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", https://arxiv.org/abs/1905.11946, and the "Lite" variant for mobile
devices (no squeeze-and-excitation, ReLU6 instead of swish, fixed stem and head).

Every activation is an ``nn.ReLU6`` *module* (never a functional call), so the
backward rules of DeconvNet and guided backprop can be swapped in later, and the
convolutions pad like TensorFlow's ``"SAME"`` so the ported weights give the same
numbers as the original model.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expand ratio, in channels, out channels) of each stage.
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
BN_EPS = 1e-3


class Conv2dSame(nn.Conv2d):
    """A bias-free convolution that pads like TensorFlow's ``padding="SAME"``.

    The output has ``ceil(size / stride)`` pixels per side. With stride 1 that is
    PyTorch's symmetric ``padding=kernel_size // 2``. With stride 2 TensorFlow
    splits the padding unevenly, the odd pixel on the bottom/right, which
    PyTorch's ``padding=`` argument cannot express: those layers pad explicitly.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=kernel_size // 2 if stride == 1 else 0,
                         groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):
            return super().forward(x)
        pads: list[int] = []
        # F.pad takes (left, right, top, bottom): last dimension first.
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size),
                              reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


class ConvBNReLU6(nn.Sequential):
    """Convolution → BatchNorm → ReLU6 (the ReLU6 is left out when ``act=False``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, groups: int = 1, act: bool = True) -> None:
        layers: list[tuple[str, nn.Module]] = [
            ("conv", Conv2dSame(in_channels, out_channels, kernel_size, stride, groups)),
            ("bn", nn.BatchNorm2d(out_channels, eps=BN_EPS)),
        ]
        if act:
            layers.append(("act", nn.ReLU6()))
        super().__init__(OrderedDict(layers))


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand → k×k depthwise → 1×1 project (+ skip)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = (ConvBNReLU6(in_channels, hidden, 1) if expand_ratio != 1
                       else nn.Identity())
        self.depthwise = ConvBNReLU6(hidden, hidden, kernel_size, stride, groups=hidden)
        self.project = ConvBNReLU6(hidden, out_channels, 1, act=False)
        self.use_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self.use_skip else out


class Normalize(nn.Module):
    """First layer of every course model: maps pixels in [0, 1] to the network's scale.

    Keeping the normalisation *inside* the model means every attribution is taken
    with respect to real pixel values in [0, 1]: a black image is all zeros, and
    noise levels are fractions of the pixel range.
    """

    def __init__(self, mean: tuple[float, float, float],
                 std: tuple[float, float, float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 for ImageNet-1k: takes RGB images in [0, 1], returns logits.

    Layout: ``normalize`` → ``stem`` (3×3/2 conv, 32 channels) → ``blocks`` (16 MBConv
    blocks) → ``head`` (1×1 conv to 1280 channels) → global average pool →
    ``dropout`` → ``fc`` (1000 logits). ``model.head`` is the last convolutional
    layer, the usual place for Grad-CAM.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        # The TensorFlow weights expect (255·x − 127) / 128 for x in [0, 1].
        self.normalize = Normalize(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
        self.stem = ConvBNReLU6(3, 32, 3, stride=2)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in if i == 0 else c_out, c_out, kernel,
                                     stride if i == 0 else 1, expand))
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBNReLU6(320, 1280, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.blocks(self.stem(self.normalize(x))))
        return self.fc(self.dropout(self.pool(features).flatten(1)))


def rename_lukemelas_keys(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Translate the checkpoint's ``_conv_stem``/``_blocks.N._bn1``/... names to ours."""
    top = {"_conv_stem": "stem.conv", "_bn0": "stem.bn", "_conv_head": "head.conv",
           "_bn1": "head.bn", "_fc": "fc"}
    in_block = {"_expand_conv": "expand.conv", "_bn0": "expand.bn",
                "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
                "_project_conv": "project.conv", "_bn2": "project.bn"}
    renamed = {}
    for key, value in state_dict.items():
        parts = key.split(".")
        if parts[0] == "_blocks":
            new = ["blocks", parts[1], in_block[parts[2]], *parts[3:]]
        else:
            new = [top[parts[0]], *parts[1:]]
        renamed[".".join(new)] = value
    return renamed
