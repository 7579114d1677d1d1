"""Superpixels, fills and coalition scores: the shared ground of LIME, KernelSHAP and Shapley.

Expected values come from scikit-image's ``slic`` called directly, from loops written
here, and from the model called one masked image at a time.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.segmentation import slic

import course_lib as course

TARGETS = [285, 967, 657]


def test_superpixels_are_slic_labels(photos):
    labels = course.superpixels(photos, n_segments=30, compactness=10)
    assert labels.shape == (3, 224, 224) and labels.dtype == torch.int64
    for image, got in zip(photos, labels):
        image = image.double()
        image = (image - image.min()) / (image.max() - image.min())  # each image to [0, 1]
        expected = slic(image.permute(1, 2, 0).numpy(), n_segments=30, compactness=10,
                        start_label=0, channel_axis=-1)
        _, expected = np.unique(expected, return_inverse=True)
        assert np.array_equal(got.numpy().ravel(), expected.ravel())
        count = int(got.max()) + 1
        assert sorted(got.unique().tolist()) == list(range(count))  # no gaps
        assert 15 <= count <= 45, count  # about the requested 30


def test_superpixels_ignore_the_pixel_range(odd_photos):
    """Each image is rescaled to [0, 1] first: a different range gives the same labels."""
    in_unit_range = course.superpixels(odd_photos[1:2] * 0.5 + 0.5, n_segments=12)
    torch.testing.assert_close(course.superpixels(odd_photos[1:2], n_segments=12), in_unit_range)


def test_grid_segments_count_and_layout():
    labels = course.grid_segments(7, 10, 2, 3)
    expected = torch.tensor([[r * 3 + c for c in (0, 0, 0, 0, 1, 1, 1, 2, 2, 2)]
                             for r in (0, 0, 0, 0, 1, 1, 1)])
    assert torch.equal(labels, expected)
    with pytest.raises(ValueError, match="rows"):
        course.grid_segments(4, 4, 5, 1)


def test_paint_puts_each_value_on_its_pixels():
    segments = torch.tensor([[[0, 1], [2, 1]], [[1, 1], [0, 0]]])
    values = torch.tensor([[10.0, 20.0, 30.0], [-1.0, -2.0, -3.0]])
    expected = torch.tensor([[[10.0, 20.0], [30.0, 20.0]], [[-2.0, -2.0], [-1.0, -1.0]]])
    torch.testing.assert_close(course.paint_superpixels(values, segments), expected)


def _masked(image, fill, segments, coalition):
    """One masked image the slow way: pixel by pixel."""
    out = fill.clone()
    for row in range(image.shape[1]):
        for col in range(image.shape[2]):
            if coalition[segments[row, col]]:
                out[:, row, col] = image[:, row, col]
    return out


def test_coalition_scores_match_masked_images_one_by_one(any_model, odd_photos, odd_fills):
    segments = torch.stack([course.grid_segments(57, 70, 2, 2),
                            course.grid_segments(57, 70, 1, 4),
                            course.grid_segments(57, 70, 4, 1)])
    coalitions = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])
    got = course.coalition_scores(any_model, odd_photos, TARGETS, segments, coalitions,
                                  fill=odd_fills, batch_size=5, progress=False)
    with torch.no_grad():
        for i, target in enumerate(TARGETS):
            images = torch.stack([_masked(odd_photos[i], odd_fills[i], segments[i], z)
                                  for z in coalitions])
            expected = any_model(images)[:, target]
            torch.testing.assert_close(got[i], expected, rtol=1e-4, atol=1e-4)


def test_mean_fill_is_each_superpixels_mean_colour(lite0, odd_photos):
    segments = course.superpixels(odd_photos, n_segments=6)
    empty = torch.zeros(1, int(segments.max()) + 1)
    got = course.coalition_scores(lite0, odd_photos, TARGETS, segments, empty, fill="mean",
                                  progress=False)
    fills = torch.zeros_like(odd_photos)
    for i in range(3):
        for label in segments[i].unique():
            where = segments[i] == label
            fills[i][:, where] = odd_photos[i][:, where].mean(dim=1, keepdim=True)
    with torch.no_grad():
        expected = lite0(fills)[torch.arange(3), TARGETS]
    torch.testing.assert_close(got[:, 0], expected, rtol=1e-4, atol=1e-4)


def test_full_coalition_costs_no_extra_pass(lite0, odd_photos):
    """The photo is scored once; a coalition with every superpixel on reuses that score."""
    coalitions = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 0], [1, 1, 1, 1]])
    with course.count_passes(lite0) as cost:
        values = course.coalition_scores(lite0, odd_photos, TARGETS,
                                          course.grid_segments(57, 70, 2, 2), coalitions,
                                          progress=False)
    assert (cost.forward, cost.backward) == (3 * 2, 0)
    with torch.no_grad():
        photo = lite0(odd_photos)[torch.arange(3), TARGETS]
    torch.testing.assert_close(values[:, 0], photo)
    torch.testing.assert_close(values[:, 2], photo)


def test_all_coalitions_are_binary_numbers():
    table = course.all_coalitions(3)
    assert table.tolist() == [[bool(b >> k & 1) for k in range(3)] for b in range(8)]


@pytest.mark.parametrize("kwargs, error, match", [
    ({"segments": torch.zeros(57, 70)}, TypeError, "integer labels"),
    ({"segments": torch.zeros(2, 57, 70, dtype=torch.long)}, ValueError, r"\(H, W\)"),
    ({"segments": -torch.ones(57, 70, dtype=torch.long)}, ValueError, "labels 0, 1"),
    ({"segments": [[0, 1]]}, TypeError, "segments must be"),
    ({"coalitions": torch.tensor([[1, 0, 1]])}, ValueError, "M = 4"),
    ({"coalitions": torch.tensor([[1, 0, 2, 1]])}, ValueError, "only 0"),
    ({"fill": "blurred"}, ValueError, "unknown fill"),
    ({"fill": torch.zeros(3, 8, 8)}, ValueError, "fill has shape"),
    ({"fill": float("nan")}, ValueError, "NaN"),
    ({"score": "softmax"}, ValueError, "unknown score"),
])
def test_bad_arguments(lite0, odd_photos, kwargs, error, match):
    arguments = {"segments": course.grid_segments(57, 70, 2, 2),
                 "coalitions": torch.tensor([[1, 0, 1, 0]])} | kwargs
    with pytest.raises(error, match=match):
        course.coalition_scores(lite0, odd_photos, TARGETS, progress=False, **arguments)
