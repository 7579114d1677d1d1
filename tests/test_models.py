"""The offline EfficientNet-Lite0, its padding, its weights check, the optional models."""

from __future__ import annotations

import math
import urllib.error

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import course_lib as course
from course_lib.models import loaders as models
from course_lib.models.efficientnet_lite import Conv2dSame


@pytest.mark.parametrize("photo, expected", [
    ("coffee", {"espresso"}),
    ("chelsea", {"Egyptian cat", "tiger cat", "tabby"}),
    ("rocket", {"missile"}),
])
def test_lite0_predicts_the_photos(lite0, photo, expected):
    (top1, probability), *_ = course.top_k(lite0, course.load_photos((photo,)))[0]
    assert top1 in expected and probability > 0.25


def test_lite0_espresso_is_confident(lite0):
    assert course.top_k(lite0, course.load_photos(("coffee",)))[0][0][1] > 0.9


def test_lite0_structure(lite0):
    assert sum(p.numel() for p in lite0.parameters()) == 4_652_008
    assert len(lite0.blocks) == 16
    assert sum(isinstance(m, nn.ReLU6) for m in lite0.modules()) == 1 + 2 * 16 - 1 + 1
    assert not lite0.training


@pytest.mark.parametrize("size", [224, 225, 160, 97])
@pytest.mark.parametrize("kernel, stride", [(3, 1), (3, 2), (5, 2), (5, 1)])
def test_same_padding_like_tensorflow(size, kernel, stride):
    """Output is ceil(size / stride); extra padding goes to the bottom/right."""
    torch.manual_seed(0)
    conv = Conv2dSame(2, 2, kernel, stride)
    x = torch.randn(1, 2, size, size)
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    pads = [total // 2, total - total // 2] * 2
    expected = F.conv2d(F.pad(x, pads), conv.weight, stride=stride)
    out = conv(x)
    assert out.shape[-1] == math.ceil(size / stride)
    torch.testing.assert_close(out, expected)


def test_lite0_runs_on_other_image_sizes(lite0):
    with torch.no_grad():
        assert lite0(torch.rand(1, 3, 160, 200)).shape == (1, 1000)


def test_weights_checksum_mismatch_is_refused(monkeypatch):
    monkeypatch.setattr(models, "LITE0_SHA256", "0" * 64)
    with pytest.raises(models.WeightsUnavailableError, match="SHA-256"):
        course.load_efficientnet_lite0()


def test_missing_weights_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "lite0_weights_path", lambda: tmp_path / "absent.pth")
    with pytest.raises(models.WeightsUnavailableError, match="not found"):
        course.load_efficientnet_lite0()


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_torchvision_model_offline_fails_clearly(monkeypatch, tmp_path, name):
    """No network: a clear error saying how to pre-download, never a silent fallback."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(models.WeightsUnavailableError) as info:
        course.load_torchvision_model(name)
    message = str(info.value)
    assert "offline" in message and f"torchvision.models.{name}(weights=" in message
    assert str(tmp_path) in message


def test_torchvision_model_wraps_normalisation(monkeypatch):
    """With weights available, the model takes [0, 1] images through ImageNet normalisation."""
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict",
                        lambda *a, **k: torchvision.models.resnet50().state_dict())
    model = course.load_torchvision_model("resnet50")
    assert isinstance(model.normalize, nn.Module) and not model.training
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.net((x - torch.tensor(models.IMAGENET_MEAN).view(1, 3, 1, 1))
                             / torch.tensor(models.IMAGENET_STD).view(1, 3, 1, 1))
        torch.testing.assert_close(model(x), expected)


def test_unknown_torchvision_model():
    with pytest.raises(ValueError, match="unknown model"):
        course.load_torchvision_model("alexnet")


def test_class_names():
    classes = course.imagenet_classes()
    assert len(classes) == 1000 and classes[course.class_index("espresso")] == "espresso"
    with pytest.raises(ValueError, match="did you mean"):
        course.class_index("cat")
