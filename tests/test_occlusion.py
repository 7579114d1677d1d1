"""Occlusion against Captum.

Convention mapping: Captum's ``Occlusion`` with ``sliding_window_shapes=(3, p, p)``,
``strides=(3, s, s)`` and ``baselines=fill`` returns (N, 3, H, W) with three identical
channels; ours returns the map once, (N, H, W). Window positions are the same (the
last window may stick out over the border and is cropped), and both average the score
drops over the windows that cover a pixel.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion

import course_lib as course
from course_lib.methods.occlusion import patch_positions
from test_against_captum import TARGETS


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
