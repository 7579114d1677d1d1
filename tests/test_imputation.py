"""Fills for removed pixels (course_lib.evaluation.imputation) and the MoRF/LeRF games.

ROAD's noisy linear imputation is checked against Quantus's implementation (test-only,
pinned), adapted from Rong et al.'s code, and on images whose imputation is known in
closed form: a linear ramp is harmonic for the 8-neighbour stencil, so pixels removed
away from the border come back exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.evaluation.deletion_insertion import (cell_order, insertion_curve,
                                                      removal_curves)
from course_lib.evaluation.imputation import fill_removed, linear_imputation, road_noise

quantus_perturb = pytest.importorskip("quantus.functions.perturb_func")


@pytest.mark.parametrize("seed", range(3))
def test_linear_imputation_matches_quantus(seed):
    generator = np.random.default_rng(seed)
    image = generator.random((3, 11, 14))
    removed = generator.random((11, 14)) < 0.4 + 0.2 * seed
    expected = quantus_perturb.noisy_linear_imputation(
        image.copy(), np.flatnonzero(removed.ravel()), noise=0.0)
    np.testing.assert_allclose(linear_imputation(image, removed), expected, atol=1e-10)


def test_a_linear_ramp_is_restored_exactly():
    rows, cols = np.mgrid[0:12, 0:12].astype(float)
    image = np.stack([0.02 * rows + 0.03 * cols, 0.5 - 0.01 * rows, 0.04 * cols])
    removed = np.zeros((12, 12), dtype=bool)
    removed[3:9, 2:10] = True          # a block away from the border
    removed[5, 1] = True
    np.testing.assert_allclose(linear_imputation(image, removed), image, atol=1e-10)


def test_kept_pixels_never_change_and_all_removed_gives_the_mean():
    generator = np.random.default_rng(0)
    image = generator.random((3, 6, 6))
    removed = generator.random((6, 6)) < 0.5
    out = linear_imputation(image, removed)
    np.testing.assert_array_equal(out[:, ~removed], image[:, ~removed])
    everything = linear_imputation(image, np.ones((6, 6), dtype=bool))
    np.testing.assert_allclose(everything, np.broadcast_to(image.mean(axis=(1, 2))[:, None, None],
                                                           image.shape))


def test_fills_black_blurred_and_road():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    removed = torch.zeros(2, 8, 8, dtype=torch.bool)
    removed[0, 2:4, 2:6] = True
    removed[1, 0, :] = True
    black = fill_removed(x, removed, "black")
    assert (black[:, :, removed[0] & removed[1]] == 0).all()
    assert torch.equal(black[0][:, ~removed[0]], x[0][:, ~removed[0]])
    blurred_image = torch.full_like(x, 0.25)
    assert torch.equal(fill_removed(x, removed, "blurred", blurred=blurred_image)[0, :, 2, 2],
                       torch.full((3,), 0.25))
    no_noise = torch.zeros_like(x)
    road = fill_removed(x, removed, "road", noise=no_noise)
    for i in range(2):
        expected = linear_imputation(x[i].double().numpy(), removed[i].numpy())
        np.testing.assert_allclose(road[i].double().numpy(), expected, atol=1e-6)


def test_road_on_cells_is_road_on_the_averaged_image():
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    removed = torch.zeros(1, 4, 4, dtype=torch.bool)
    removed[0, 1:3, 1] = True
    road = fill_removed(x, removed, "road", block=2, noise=torch.zeros_like(x))
    cells = F.avg_pool2d(x.double(), 2)[0].numpy()
    imputed = linear_imputation(cells, removed[0].numpy())
    np.testing.assert_allclose(road[0, :, 2:4, 2:4].double().numpy(),
                               np.repeat(np.repeat(imputed[:, 1:2, 1:2], 2, 1), 2, 2), atol=1e-6)
    assert torch.equal(road[0, :, :2, :], x[0, :, :2, :])          # kept cells untouched


def test_road_noise_is_fixed_per_image_and_small():
    x = torch.zeros(3, 3, 16, 16)
    first, again = road_noise(x, seed=4), road_noise(x, seed=4)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], first[1])                     # each image its own field
    assert torch.equal(road_noise(x[1:], seed=5)[0], first[1])      # seed + index
    assert 0.008 < first.std().item() < 0.012                       # σ = 0.01


class RegionModel(nn.Module):
    """Two classes; logit 0 = 4 · mean of the top-left 4 × 4 pixels, logit 1 = 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 4.0 * x[:, :, :4, :4].mean(dim=(1, 2, 3))
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def oracle(n: int) -> torch.Tensor:
    saliency = torch.zeros(n, 8, 8)
    saliency[:, :4, :4] = 1.0
    return saliency


def test_morf_removes_the_region_first_and_lerf_last():
    x = torch.ones(1, 3, 8, 8)
    curves = removal_curves(RegionModel(), x, 0, oracle(1), fills=("black",),
                            fractions=(0, 0.25, 0.5, 0.75, 1), progress=False)
    sigmoid = torch.sigmoid(torch.tensor(4.0, dtype=torch.float64)).item()
    morf = curves.scores["black", "morf"][0]
    lerf = curves.scores["black", "lerf"][0]
    torch.testing.assert_close(morf, torch.tensor([sigmoid, 0.5, 0.5, 0.5, 0.5],
                                                  dtype=torch.float64))
    torch.testing.assert_close(lerf, torch.tensor([sigmoid, sigmoid, sigmoid, sigmoid, 0.5],
                                                  dtype=torch.float64))
    assert curves.auc("black", "morf") < curves.auc("black", "lerf")


def test_lerf_is_insertion_read_backwards():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    torch.manual_seed(0)
    for p in model.parameters():
        nn.init.normal_(p)
    x = torch.rand(2, 3, 8, 8)
    saliency = torch.rand(2, 8, 8)   # no ties, so the two orders agree exactly
    blurred = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    lerf = removal_curves(model, x, [0, 2], saliency, fills=("blurred",), orders=("lerf",),
                          fractions=tuple(k / 8 for k in range(9)), blurred=blurred,
                          progress=False)
    inserted = insertion_curve(model, x, [0, 2], saliency, steps=8, baseline=blurred,
                               progress=False)
    torch.testing.assert_close(lerf.scores["blurred", "lerf"], inserted.scores.flip(1))
    torch.testing.assert_close(lerf.auc("blurred", "lerf"), inserted.auc)


def test_ties_are_broken_at_random_not_by_position():
    order = cell_order(torch.zeros(1, 8, 8))[0]
    first_quarter = order[:16]
    # a positional tie-break would take pixels 0..15 (the top two rows) first
    assert set(first_quarter.tolist()) != set(range(16))
    assert torch.equal(order, cell_order(torch.zeros(1, 8, 8))[0])    # but seeded


def test_cells_average_the_map():
    saliency = torch.zeros(1, 4, 4)
    saliency[0, 2:, 2:] = 1.0           # the bottom-right 2 × 2 cell
    assert cell_order(saliency, block=2)[0, 0].item() == 3


def test_removal_curves_refuse_bad_arguments():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="fills"):
        removal_curves(RegionModel(), x, 0, oracle(1), fills=("grey",), progress=False)
    with pytest.raises(ValueError, match="fractions"):
        removal_curves(RegionModel(), x, 0, oracle(1), fractions=(0.1, 1), progress=False)
    with pytest.raises(ValueError, match="divide"):
        removal_curves(RegionModel(), x, 0, oracle(1), block=3, progress=False)
