"""Small networks for the LRP and DeepLIFT tests, built here so every weight is known.

* :class:`VGGStyle` — the layers Captum's ``LRP`` and ``DeepLift`` support: Conv2d → BatchNorm →
  ReLU(inplace=True) → MaxPool/AvgPool, adaptive average pooling, Linear; the flattening is a
  function call (Captum's LRP wants a rule for every module, and a flatten module has none).
* :func:`randomise_batchnorm` — running statistics and affine parameters far from the
  identity, so that folding BatchNorm into the convolution matters.
* :func:`scaled_images` — a batch whose images have *different* pixel ranges, none of them
  [0, 1].
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class VGGStyle(nn.Module):
    def __init__(self, batchnorm: bool = True, bias: bool = True, classes: int = 6,
                 seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)

        def norm(channels: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(channels)] if batchnorm else []

        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=bias), *norm(8), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1, bias=bias), *norm(16), nn.ReLU(inplace=True),
            nn.AvgPool2d(2),
            nn.Conv2d(16, 16, 3, padding=1, bias=bias), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((2, 2)))
        self.classifier = nn.Sequential(nn.Linear(64, 32, bias=bias), nn.ReLU(inplace=True),
                                        nn.Linear(32, classes, bias=bias))
        randomise_batchnorm(self, seed)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def randomise_batchnorm(model: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.3, 0.3, generator=generator)
    return model


def scaled_images(n: int = 3, height: int = 16, width: int = 20, seed: int = 0) -> torch.Tensor:
    """Image i has pixels in [low_i, high_i]: [0, 255], [-2, 2], [0.5, 3], ..."""
    generator = torch.Generator().manual_seed(seed)
    ranges = torch.tensor([[0.0, 255.0], [-2.0, 2.0], [0.5, 3.0], [-1.0, 0.0]])[:n]
    unit = torch.rand(n, 3, height, width, generator=generator)
    return ranges[:, :1, None, None] + unit * (ranges[:, 1:, None, None] - ranges[:, :1, None, None])


def out_of_place(model: nn.Module) -> nn.Module:
    """A copy with ``ReLU(inplace=False)`` (the same function)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return model
