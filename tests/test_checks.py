"""Bad input gets a clear TypeError/ValueError that names the problem — one test per case,
each run through every method."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import course_lib as course

from conftest import ALL_METHODS


@pytest.fixture(params=list(ALL_METHODS))
def method(request):
    return ALL_METHODS[request.param]


@pytest.fixture(scope="module")
def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 10)).eval()


def image(n: int = 2) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16)


def test_wrong_rank(method, small_model):
    with pytest.raises(ValueError, match=r"4 dimensions.*add a batch dimension"):
        method(small_model, image(1)[0], 0)


def test_wrong_channel_count(method, small_model):
    with pytest.raises(ValueError, match="3 colour channels"):
        method(small_model, torch.rand(2, 16, 16, 3), [0, 1])


def test_integer_dtype(method, small_model):
    with pytest.raises(TypeError, match=r"floating point.*uint8"):
        method(small_model, (image() * 255).to(torch.uint8), [0, 1])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf(method, small_model, bad):
    x = image()
    x[1, 2, 3, 4] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        method(small_model, x, [0, 1])


@pytest.mark.parametrize("target", [10, -1, [0, 10]])
def test_target_out_of_range(method, small_model, target):
    with pytest.raises(ValueError, match=r"out of range.*10 classes"):
        method(small_model, image(), target)


@pytest.mark.parametrize("target", [[0, 1, 2], [0], torch.tensor([[0, 1]])])
def test_batch_and_target_length_mismatch(method, small_model, target):
    with pytest.raises(ValueError, match="one class per image"):
        method(small_model, image(), target)


@pytest.mark.parametrize("target", [1.0, [0.0, 1.0], torch.tensor([0.0, 1.0]), True,
                                    "cat", None])
def test_target_of_wrong_type(method, small_model, target):
    with pytest.raises(TypeError, match="target"):
        method(small_model, image(), target)


def test_inputs_not_a_tensor(method, small_model):
    with pytest.raises(TypeError, match=r"torch.Tensor.*ndarray"):
        method(small_model, np.zeros((2, 3, 16, 16), dtype=np.float32), [0, 1])


def test_model_not_a_module(method):
    with pytest.raises(TypeError, match="nn.Module"):
        method(lambda x: x, image(), [0, 1])


def test_empty_batch(method, small_model):
    with pytest.raises(ValueError, match="empty batch"):
        method(small_model, image(0), [])


@pytest.mark.parametrize("target", [3, np.int64(3), [3, 3], torch.tensor([3, 3]),
                                    np.array([3, 3]), torch.tensor(3)])
def test_accepted_target_forms_agree(method, small_model, target):
    x = image()
    torch.testing.assert_close(method(small_model, x, target), method(small_model, x, [3, 3]))


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-2, ValueError),
                                               (1.5, TypeError), (True, TypeError)])
def test_bad_batch_size(method, small_model, batch_size, error):
    with pytest.raises(error, match="batch_size"):
        method(small_model, image(), [0, 1], batch_size=batch_size)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_chunking_does_not_change_the_result(request, method, small_model, batch_size):
    if "smoothgrad" in request.node.name:
        pytest.skip("SmoothGrad's noise is drawn per chunk, as in Captum: chunking changes it")
    x = image(5)
    targets = [0, 1, 2, 3, 4]
    torch.testing.assert_close(method(small_model, x, targets, batch_size=batch_size),
                               method(small_model, x, targets, batch_size=5))
