"""Shared fixtures: the real EfficientNet-Lite0, a random-weight ResNet-18, the photos."""

from __future__ import annotations

import pytest
import torch
import torchvision

import course_lib as course


@pytest.fixture(scope="session")
def lite0() -> torch.nn.Module:
    return course.load_efficientnet_lite0()


@pytest.fixture(scope="session")
def resnet18() -> torch.nn.Module:
    """torchvision's ResNet-18 with random weights: ReLU(inplace=True), no download."""
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    return course.load_photos(("chelsea", "coffee", "rocket"))


@pytest.fixture(params=["lite0", "resnet18"])
def any_model(request) -> torch.nn.Module:
    """Each test using this runs on both architectures."""
    return request.getfixturevalue(request.param)
