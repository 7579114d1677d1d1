"""RISE against the paper's mask recipe (scikit-image ``resize``), its formula written out,
and closed forms.

No independent library implements RISE (Captum has none), so: the masks are compared
with the official code's recipe (a binary ``cells × cells`` grid, ``skimage.transform.resize``
with ``order=1, mode="reflect", anti_aliasing=False`` to ``(cells + 1)`` cell sizes, crop at
the shift), and the saliency with ``Σ_i score_i · M_i / (N p)`` computed here from those
masks, one masked image at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.transform import resize

import course_lib as course
from course_lib.methods.rise import rise_grids

TARGETS = [285, 967, 657]


@pytest.mark.parametrize("cells, height, width", [(7, 224, 224), (3, 57, 70), (4, 31, 18)])
def test_masks_follow_the_papers_recipe(cells, height, width):
    grids, shifts = rise_grids(8, height, width, cells=cells, p=0.4, seed=2)
    masks = course.rise_masks(8, height, width, cells=cells, p=0.4, seed=2)
    cell_h, cell_w = math.ceil(height / cells), math.ceil(width / cells)
    assert masks.shape == (8, height, width)
    for grid, (dy, dx), mask in zip(grids.numpy(), shifts.tolist(), masks.numpy()):
        assert set(np.unique(grid)) <= {0.0, 1.0}
        assert 0 <= dy < cell_h and 0 <= dx < cell_w
        upsampled = resize(grid, ((cells + 1) * cell_h, (cells + 1) * cell_w), order=1,
                           mode="reflect", anti_aliasing=False)
        np.testing.assert_allclose(mask, upsampled[dy:dy + height, dx:dx + width], atol=1e-12)


def test_grids_and_shifts_are_random_as_specified():
    """Cells are 1 with probability p; shifts are uniform over the cell size. Tolerances: 5
    binomial standard deviations."""
    grids, shifts = rise_grids(4000, 224, 224, cells=7, p=0.3, seed=0)
    share = grids.mean().item()
    assert abs(share - 0.3) < 5 * math.sqrt(0.3 * 0.7 / grids.numel())
    for column in (0, 1):
        counts = torch.bincount(shifts[:, column], minlength=32).double()
        assert len(counts) == 32
        sd = math.sqrt(4000 * (1 / 32) * (31 / 32))
        assert ((counts - 4000 / 32).abs() < 5 * sd).all(), counts


@pytest.mark.parametrize("score", ["probability", "logit"])
def test_saliency_is_the_score_weighted_average_of_masks(any_model, odd_photos, odd_fills, score):
    n_masks, p = 12, 0.5
    got = course.rise(any_model, odd_photos, TARGETS, n_masks=n_masks, cells=5, p=p,
                      fill=odd_fills, score=score, batch_size=7, seed=4, progress=False)
    masks = course.rise_masks(n_masks, 57, 70, cells=5, p=p, seed=4).float()
    expected = torch.zeros(3, 57, 70)
    with torch.no_grad():
        for i, target in enumerate(TARGETS):
            for mask in masks:
                masked = mask * odd_photos[i] + (1 - mask) * odd_fills[i]
                logits = any_model(masked[None])[0]
                value = logits.softmax(dim=0)[target] if score == "probability" else logits[target]
                expected[i] += value * mask
    expected /= n_masks * p
    assert got.shape == (3, 57, 70)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


class Constant(torch.nn.Module):
    def forward(self, x):
        return torch.full((len(x), 3), 2.0) + 0 * x.sum()


def test_constant_model_gets_its_constant_everywhere():
    """E[M(u)] = p (bilinear weights sum to 1), so the map of a constant score c is ≈ c at
    every pixel. Over seeds 0–4 with 2000 masks of 7 × 7 cells and p = 0.5 or 0.2 the pixel
    mean was within 1.2 % of c and no pixel off by more than 13 %; we allow 3 % and 25 %."""
    for p in (0.5, 0.2):
        saliency = course.rise(Constant(), torch.zeros(1, 3, 40, 48), 1, n_masks=2000,
                               cells=7, p=p, score="logit", progress=False)
        assert abs(saliency.mean().item() - 2.0) < 0.03 * 2.0, (p, saliency.mean())
        assert (saliency - 2.0).abs().max().item() < 0.25 * 2.0, (p, saliency)


class Box(torch.nn.Module):
    """Class 1 scores 10 × (mean of the pixels in rows 10–24, columns 30–44)²."""

    def forward(self, x):
        inside = x[:, :, 10:25, 30:45].mean(dim=(1, 2, 3))
        return torch.stack([-inside, 10 * inside ** 2], dim=1)


def test_map_finds_the_box_and_converges_with_more_masks():
    """Two independent mask sets agree better as N grows (Pearson correlation of the maps).
    Measured over the seed pairs (0, 1) … (18, 19): 0.11–0.50 (mean 0.36) at N = 50,
    0.88–0.94 (mean 0.91) at N = 800. We use five pairs and require a mean above 0.8 at
    N = 800 and a rise of 0.3; and the box brighter than a far corner."""
    x = torch.ones(1, 3, 40, 56)

    def maps(n, seed):
        return course.rise(Box(), x, 1, n_masks=n, cells=7, fill=0.0, score="logit",
                           seed=seed, progress=False)[0]

    def mean_correlation(n):
        pairs = [(maps(n, s), maps(n, s + 1)) for s in range(0, 10, 2)]
        return sum(float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])
                   for a, b in pairs) / len(pairs)

    few, many = mean_correlation(50), mean_correlation(800)
    assert many > 0.8 and many > few + 0.3, (few, many)
    saliency = maps(800, 0)
    assert saliency[10:25, 30:45].mean() > saliency[30:, :10].mean() + 0.3


def test_batch_size_seed_and_batch_companions(lite0, odd_photos, odd_fills):
    run = lambda x, t, f, **kw: course.rise(lite0, x, t, n_masks=10, cells=4, fill=f,
                                            progress=False, **kw)
    reference = run(odd_photos, TARGETS, odd_fills, batch_size=30)
    close = {"rtol": 1e-4, "atol": 1e-4 * float(reference.abs().max())}  # batched float sums
    torch.testing.assert_close(run(odd_photos, TARGETS, odd_fills, batch_size=4), reference,
                               **close)
    alone = run(odd_photos[:1], TARGETS[0], odd_fills[:1], batch_size=3)
    torch.testing.assert_close(alone[0], reference[0], **close)
    assert not torch.allclose(run(odd_photos, TARGETS, odd_fills, seed=1), reference)


def test_cost_in_forward_passes(lite0, odd_photos):
    """n_masks passes per image, plus one pass of the photos that checks the targets."""
    with course.count_passes(lite0) as cost:
        course.rise(lite0, odd_photos, TARGETS, n_masks=6, progress=False)
    assert (cost.forward, cost.backward) == (3 * 7, 0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cells": 80}, ValueError, "cells must be an int from 1"),
    ({"p": 1.0}, ValueError, r"p \(the probability"),
    ({"n_masks": 0}, ValueError, "n_masks must be at least 1"),
    ({"fill": "mean"}, ValueError, "needs superpixels"),
])
def test_bad_arguments(lite0, odd_photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        course.rise(lite0, odd_photos, TARGETS, progress=False, **kwargs)
