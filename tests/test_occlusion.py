r"""Occlusion against Captum and against a closed form written out in the test.

Convention mapping: Captum's ``Occlusion`` with ``sliding_window_shapes=(3, p, p)``,
``strides=(3, s, s)`` and ``baselines=fill`` returns (N, 3, H, W) with three identical
channels; ours returns the map once, (N, H, W). Window positions are the same (the
last window may stick out over the border and is cropped), and both average the score
drops over the windows that cover a pixel.

On a linear model :math:`z = Wx + b`, covering window :math:`P` with fill :math:`f` lowers
:math:`z_c` by exactly :math:`\sum_{u \in P} W_{c,u} (x_u - f_u)` (all channels), so the
whole map can be written out by hand (:func:`occlusion_by_hand`). The cases use odd,
non-square images, a different pixel range, target and fill for every image of a batch,
and stride < patch so that pixels are covered by 1 to 4 windows.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion

import course_lib as course
from course_lib.methods.occlusion import patch_positions
from test_against_captum import TARGETS
from test_gradients import images_with_ranges


@pytest.mark.parametrize("patch, stride, fill", [(56, 56, 0.5), (64, 40, 0.0)])
def test_matches_captum(any_model, photos, patch, stride, fill):
    ours = course.occlusion(any_model, photos, TARGETS, patch=patch, stride=stride, fill=fill,
                            batch_size=7, progress=False)
    theirs = Occlusion(any_model).attribute(photos, target=TARGETS, baselines=fill,
                                            sliding_window_shapes=(3, patch, patch),
                                            strides=(3, stride, stride),
                                            perturbations_per_eval=7)
    assert ours.shape == (3, 224, 224)
    # Each drop is a difference of two logits; ours run in channels-last layout, Captum's in
    # the default one, so each logit may differ by float rounding (~1e-6 relative).
    with torch.no_grad():
        logit_scale = float(any_model(photos).abs().max())
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=4e-6 * logit_scale)


def test_fill_can_be_an_image(lite0, photos):
    blurred = course.make_baseline(photos[:1], "blurred")
    ours = course.occlusion(lite0, photos[:1], 967, patch=112, stride=112, fill=blurred[0],
                            progress=False)
    theirs = Occlusion(lite0).attribute(photos[:1], target=967, baselines=blurred,
                                        sliding_window_shapes=(3, 112, 112),
                                        strides=(3, 112, 112))
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=1e-4)


def test_covering_the_whole_image():
    """One patch covering everything: every pixel gets z(x) − z(fill)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
    x = torch.rand(1, 3, 4, 4)
    result = course.occlusion(model, x, 1, patch=4, stride=4, fill=0.0, progress=False)
    with torch.no_grad():
        expected = (model(x) - model(torch.zeros_like(x)))[0, 1]
    torch.testing.assert_close(result, expected.expand(1, 4, 4))


def test_patch_positions_cover_every_pixel():
    assert patch_positions(224, 32, 16) == list(range(0, 193, 16))
    assert patch_positions(10, 4, 4) == [0, 4, 8]  # the last window sticks out and is cropped


@pytest.mark.parametrize("kwargs, match", [
    ({"patch": 300}, "larger than the image"),
    ({"patch": 16, "stride": 32}, "never covered"),
    ({"patch": 0}, "patch must be a positive int"),
    ({"stride": 2.5}, "stride must be a positive int"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(lite0, photos, kwargs, match):
    with pytest.raises(ValueError, match=match):
        course.occlusion(lite0, photos[:1], 5, progress=False, **kwargs)


def logit_scale(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Largest |logit|: each score drop is a difference of two logits, and a logit may round
    differently (~1e-6 relative) in another memory layout or batch composition."""
    with torch.no_grad():
        return float(model(x).abs().max())


def occlusion_by_hand(weight: torch.Tensor, x: torch.Tensor, fill: torch.Tensor,
                      targets: list[int], patch: int, stride: int) -> torch.Tensor:
    """Occlusion map of the linear model with ``weight`` (classes, 3, H, W), window by window."""
    n, _, height, width = x.shape
    total = torch.zeros(n, height, width, dtype=x.dtype)
    count = torch.zeros(height, width, dtype=x.dtype)
    for top in range(0, height - patch + stride, stride):  # the last window may stick out
        for left in range(0, width - patch + stride, stride):
            rows, cols = slice(top, top + patch), slice(left, left + patch)
            count[rows, cols] += 1
            for i, c in enumerate(targets):
                total[i, rows, cols] += (weight[c, :, rows, cols]
                                         * (x[i] - fill[i])[:, rows, cols]).sum()
    return total / count


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
def test_linear_model_per_image_fill_target_and_range(batch_size):
    height, width, patch, stride = 13, 17, 5, 3
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(),
                                torch.nn.Linear(3 * height * width, 4)).double().eval()
    x = images_with_ranges(3, height, width)
    fill = torch.stack([torch.full((3, height, width), -1.5, dtype=torch.float64),
                        100 * torch.rand(3, height, width, dtype=torch.float64),
                        torch.full((3, height, width), 0.35, dtype=torch.float64)])
    targets = [3, 0, 2]
    result = course.occlusion(model, x, targets, patch=patch, stride=stride, fill=fill,
                              batch_size=batch_size, progress=False)
    weight = model[1].weight.detach().view(4, 3, height, width)
    expected = occlusion_by_hand(weight, x, fill, targets, patch, stride)
    torch.testing.assert_close(result, expected)


def test_per_image_fill_target_and_range_match_captum(any_model):
    """A batch whose images differ in range, target and fill, at an odd non-square size."""
    x = images_with_ranges(3, 45, 61).float()
    fill = torch.stack([torch.zeros(3, 45, 61), course.make_baseline(x[1:2], "blurred")[0],
                        torch.full((3, 45, 61), 0.35)])
    ours = course.occlusion(any_model, x, TARGETS, patch=15, stride=7, fill=fill,
                            batch_size=5, progress=False)
    theirs = Occlusion(any_model).attribute(x, target=TARGETS, baselines=fill,
                                            sliding_window_shapes=(3, 15, 15),
                                            strides=(3, 7, 7), perturbations_per_eval=5)
    assert ours.shape == (3, 45, 61)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=4e-6 * logit_scale(any_model, x))


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batch_size_does_not_change_the_map(any_model, batch_size):
    x = images_with_ranges(2, 33, 47).float()
    run = lambda b: course.occlusion(any_model, x, TARGETS[:2], patch=12, stride=8,  # noqa: E731
                                     batch_size=b, progress=False)
    whole = run(1000)
    torch.testing.assert_close(run(batch_size), whole, rtol=1e-4,
                               atol=4e-6 * logit_scale(any_model, x))
