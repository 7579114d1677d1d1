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


# ----------------------------------------------------------------------------- Captum's forms
# Captum's LRP and DeepLift work with module hooks: every leaf module needs a rule, a module may
# run only once, in-place ReLUs and a tensor shared by two hooked modules confuse them. These
# copies compute the same function in a form Captum can take (used by the tests and by
# tests/benchmark.py).


class Fresh(nn.Module):
    """``x + 0``: a new tensor, so that the hooks of neighbouring modules do not collide."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0


class ReLU6AsReLUs(nn.Module):
    """ReLU6(x) = ReLU(x) − ReLU(x − 6); both ReLUs see the same Δx, so their Rescale
    multipliers add up to ReLU6's."""

    def __init__(self) -> None:
        super().__init__()
        self.low, self.high = nn.ReLU(), nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.low(x + 0) - self.high(x - 6)


def relu6_decomposed(model: nn.Module) -> nn.Module:
    """A copy whose ReLU6 modules are :class:`ReLU6AsReLUs` (for Captum's DeepLift)."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, ReLU6AsReLUs())
    return model


def _mbconv_forward(self, x):
    out = self.project(self.depthwise(self.expand(x)))
    return self.captum_sum(out, x) if self.use_skip else out


def captum_lite0_lrp(model: nn.Module, rule_factory) -> tuple[nn.Module, object]:
    """EfficientNet-Lite0 for Captum's LRP, and a function that (re)assigns the rules.

    BatchNorm folded by PyTorch's ``fuse_conv_bn_eval``; the normalisation and ReLU6 get
    ``IdentityRule`` (relevance passes unchanged); each skip connection is Captum's
    ``Addition_Module``; block 0's ``nn.Identity`` becomes :class:`Fresh`. Captum deletes the
    rules after each call: call the returned function before every ``attribute``.
    """
    import types

    from captum.attr._utils.custom_modules import Addition_Module
    from captum.attr._utils.lrp_rules import IdentityRule
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from course_lib.models.efficientnet_lite import MBConv

    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, nn.Sequential) and isinstance(getattr(module, "bn", None),
                                                            nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            del module.bn
        if isinstance(module, MBConv):
            if isinstance(module.expand, nn.Identity):
                module.expand = Fresh()
            module.captum_sum = Addition_Module()
            module.forward = types.MethodType(_mbconv_forward, module)

    def assign_rules() -> None:
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.rule = rule_factory()
            elif isinstance(module, (nn.ReLU6, Fresh)) or type(module).__name__ == "Normalize":
                module.rule = IdentityRule()

    assign_rules()
    return model, assign_rules


def _basic_block_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    identity = self.downsample(x) if self.downsample is not None else x
    return self.relu_out(self.captum_sum(out, identity))


def captum_resnet(model: nn.Module, fold: bool = True) -> nn.Module:
    """torchvision's ResNet (BasicBlock) for Captum: one ReLU module per use, none in place,
    the residual sum as ``Addition_Module``. With ``fold`` (for LRP), BatchNorm folded by
    PyTorch and the BatchNorms replaced by :class:`Fresh` (give them ``IdentityRule``);
    without (for DeepLift), a :class:`Fresh` between the stem's ReLU and its max pool. (Captum's
    LRP reads a ReLU's output gradient before an ``IdentityRule`` right after it has rewritten
    it, so there the stem keeps a plain ReLU.)"""
    import types

    from captum.attr._utils.custom_modules import Addition_Module
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = out_of_place(model).eval()
    if fold:
        model.conv1, model.bn1 = fuse_conv_bn_eval(model.conv1, model.bn1), Fresh()
    model.relu = nn.ReLU() if fold else nn.Sequential(nn.ReLU(), Fresh())
    for module in list(model.modules()):
        if type(module).__name__ == "BasicBlock":
            if fold:
                module.conv1, module.bn1 = fuse_conv_bn_eval(module.conv1, module.bn1), Fresh()
                module.conv2, module.bn2 = fuse_conv_bn_eval(module.conv2, module.bn2), Fresh()
                if module.downsample is not None:
                    module.downsample = nn.Sequential(
                        fuse_conv_bn_eval(module.downsample[0], module.downsample[1]))
            module.relu, module.relu_out = nn.ReLU(), nn.ReLU()
            module.captum_sum = Addition_Module()
            module.forward = types.MethodType(_basic_block_forward, module)
    return model
