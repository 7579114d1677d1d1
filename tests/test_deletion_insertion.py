"""Deletion and insertion curves (course_lib.evaluation.deletion_insertion) on hand-built cases."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.evaluation.deletion_insertion import (area_under_curve, deletion_curve, insertion_curve,
                                           random_saliency)

GAIN = 4.0


class RegionModel(nn.Module):
    """Two classes; logit 0 = GAIN · mean of the top-left 4 × 4 pixels, logit 1 = 0.

    So p_0 = sigmoid(GAIN · mean(region)): only the region matters.
    """

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(GAIN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.gain * x[:, :, :4, :4].mean(dim=(1, 2, 3))
        return torch.stack([z, torch.zeros_like(z)], dim=1)


def oracle_map(n: int = 1) -> torch.Tensor:
    saliency = torch.zeros(n, 8, 8)
    saliency[:, :4, :4] = 1.0
    return saliency


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_oracle_deletion_has_the_known_curve() -> None:
    x = torch.ones(1, 3, 8, 8)
    curves = deletion_curve(RegionModel(), x, 0, oracle_map(), steps=4, progress=False)
    assert torch.allclose(curves.fractions, torch.tensor([0, 0.25, 0.5, 0.75, 1.0],
                                                         dtype=torch.float64))
    # the 16 region pixels go first: after one step the logit is 0, p = 0.5
    expected = torch.tensor([[sigmoid(GAIN), 0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(curves.scores, expected, atol=1e-6, rtol=0)
    auc = 0.25 * (sigmoid(GAIN) + 0.5) / 2 + 0.75 * 0.5
    assert curves.auc.item() == pytest.approx(auc, abs=1e-6)


def test_oracle_beats_random_order() -> None:
    model, x = RegionModel(), torch.ones(3, 3, 8, 8)
    random_map = random_saliency(x, seed=0)
    black = torch.zeros(3, 8, 8)
    deletion = {name: deletion_curve(model, x, 0, m, steps=16, progress=False).auc
                for name, m in (("oracle", oracle_map(3)), ("random", random_map))}
    insertion = {name: insertion_curve(model, x, 0, m, steps=16, baseline=black,
                                       progress=False).auc
                 for name, m in (("oracle", oracle_map(3)), ("random", random_map))}
    assert (deletion["oracle"] < deletion["random"] - 0.05).all()
    assert (insertion["oracle"] > insertion["random"] + 0.05).all()
    assert ((deletion["oracle"] >= 0) & (insertion["oracle"] <= 1)).all()


def test_endpoints_are_the_original_and_the_fully_replaced_image() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5)).eval()
    x = torch.rand(2, 3, 10, 10)
    saliency = torch.rand(2, 10, 10)
    blurred = torch.rand(3, 10, 10)  # any reference image, one for all
    with torch.no_grad():
        p = lambda images: model(images).softmax(dim=1)[:, 3].double()  # noqa: E731
        p_image, p_black, p_blurred = p(x), p(torch.zeros_like(x)), p(blurred.expand_as(x))
    deletion = deletion_curve(model, x, 3, saliency, steps=7, batch_size=3, progress=False)
    insertion = insertion_curve(model, x, 3, saliency, steps=7, baseline=blurred,
                                batch_size=5, progress=False)
    torch.testing.assert_close(deletion.scores[:, 0], p_image)
    torch.testing.assert_close(deletion.scores[:, -1], p_black)
    torch.testing.assert_close(insertion.scores[:, 0], p_blurred)
    torch.testing.assert_close(insertion.scores[:, -1], p_image)
    assert deletion.scores.shape == insertion.scores.shape == (2, 8)
    # chunking does not change the numbers
    again = deletion_curve(model, x, 3, saliency, steps=7, batch_size=16, progress=False)
    torch.testing.assert_close(deletion.scores, again.scores)


def test_auc_of_a_constant_curve_is_the_constant() -> None:
    fractions = torch.tensor([0.0, 0.1, 0.5, 0.55, 1.0], dtype=torch.float64)
    scores = torch.full((2, 5), 0.37, dtype=torch.float64)
    torch.testing.assert_close(area_under_curve(scores, fractions),
                               torch.full((2,), 0.37, dtype=torch.float64))


def test_uneven_steps_still_cover_all_pixels() -> None:
    x = torch.ones(1, 3, 8, 8)
    curves = deletion_curve(RegionModel(), x, 0, oracle_map(), steps=5, progress=False)
    assert curves.fractions[0] == 0 and curves.fractions[-1] == 1
    assert (curves.fractions.diff() > 0).all()


def test_random_saliency_is_seeded() -> None:
    x = torch.zeros(2, 3, 6, 6)
    assert torch.equal(random_saliency(x, seed=1), random_saliency(x, seed=1))
    assert not torch.equal(random_saliency(x, seed=1), random_saliency(x, seed=2))
    assert random_saliency((2, 6, 6)).shape == (2, 6, 6)


def test_model_left_as_found() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten()).train()
    model[0].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 3, 6, 6)
    first = deletion_curve(model, x, 0, torch.rand(1, 6, 6), steps=3, progress=False)
    second = deletion_curve(model, x, 0, torch.rand(1, 6, 6), steps=3, progress=False)
    assert first.scores[0, 0] == second.scores[0, 0]  # eval mode: no dropout, no BN update
    assert model.training and all(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[1].weight.requires_grad
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("shape, match", [
    ((1, 3, 8, 8), "aggregate_channels"),
    ((1, 4, 4), "upsample"),
    ((2, 8, 8), r"\(N, H, W\) = \(1, 8, 8\)"),
    ((8, 8), "one map per image"),
])
def test_bad_saliency_shapes_refused(shape, match) -> None:
    with pytest.raises(ValueError, match=match):
        deletion_curve(RegionModel(), torch.ones(1, 3, 8, 8), 0, torch.rand(shape),
                       progress=False)


def test_bad_arguments_refused() -> None:
    x = torch.ones(1, 3, 8, 8)
    bad_map = oracle_map()
    bad_map[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        deletion_curve(RegionModel(), x, 0, bad_map, progress=False)
    with pytest.raises(ValueError, match="steps"):
        deletion_curve(RegionModel(), x, 0, oracle_map(), steps=0, progress=False)
    with pytest.raises(ValueError, match="baseline"):
        insertion_curve(RegionModel(), x, 0, oracle_map(), baseline="noise", progress=False)
    with pytest.raises(ValueError, match="out of range"):
        deletion_curve(RegionModel(), x, 7, oracle_map(), progress=False)
    with pytest.raises(TypeError, match="saliency"):
        deletion_curve(RegionModel(), x, 0, [[0.0]], progress=False)


class TwoRegionModel(nn.Module):
    """Logit 0 reads the top-left 4 × 4 pixels, logit 1 the bottom-right ones (GAIN each)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GAIN * torch.stack([x[:, :, :4, :4].mean(dim=(1, 2, 3)),
                                   x[:, :, 4:, 4:].mean(dim=(1, 2, 3))], dim=1)


def test_each_image_is_scored_for_its_own_target() -> None:
    """A batch with a different target per image: each curve is its own class's logit, by hand."""
    x = torch.ones(2, 3, 8, 8)
    x[1] = 0.5                                  # a second image with another pixel range
    saliency = oracle_map(2)                    # top-left region first, for both images
    curves = deletion_curve(TwoRegionModel(), x, [0, 1], saliency, steps=4, score="logit",
                            progress=False)
    # image 0, class 0: its region goes in the first step. Image 1, class 1: ties after the
    # top-left region go in pixel order, so step 3 removes rows 4–5 (half of the bottom-right
    # region) and step 4 rows 6–7 (the other half)
    expected = torch.tensor([[GAIN, 0, 0, 0, 0],
                             [GAIN / 2, GAIN / 2, GAIN / 2, GAIN / 4, 0]], dtype=torch.float64)
    torch.testing.assert_close(curves.scores, expected, atol=1e-6, rtol=0)
