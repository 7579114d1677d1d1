"""Max-sensitivity and infidelity (Yeh et al. 2019; course_lib.evaluation.robustness).

Infidelity is checked against Captum's ``infidelity`` (test-only, pinned) fed the same
perturbations, and on a linear model, where the gradient predicts every score change
exactly. Max-sensitivity on maps whose change is known.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.evaluation.robustness import (infidelity, max_sensitivity, relative_infidelity,
                                              score_changes)

captum_metrics = pytest.importorskip("captum.metrics")


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 5, 4)).eval()


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 5, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(20, 3)).eval()


def test_gradient_of_a_linear_model_has_zero_infidelity():
    model = linear_model()
    x = torch.rand(2, 3, 6, 5) * torch.tensor([1.0, 3.0])[:, None, None, None]  # two ranges
    target = torch.tensor([1, 3])
    perturbations, changes = score_changes(model, x, target, n_samples=6, kind="gaussian",
                                           size=0.2, progress=False)
    weights = model[1].weight.detach().view(4, 3, 6, 5)[target]
    assert infidelity(weights, perturbations, changes).max() < 1e-10
    # any other map is worse, and a scaled gradient is just as good once β is fitted
    assert (infidelity(torch.rand(2, 3, 6, 5), perturbations, changes) > 1e-3).all()
    assert infidelity(7 * weights, perturbations, changes).max() < 1e-10
    assert infidelity(7 * weights, perturbations, changes, normalize=False).min() > 1e-3


def test_infidelity_matches_captum():
    model = small_cnn()
    x = torch.rand(3, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 2, 1])
    samples = 5
    perturbations, changes = score_changes(model, x, target, n_samples=samples,
                                           kind="gaussian", size=0.1, progress=False)
    attribution = torch.randn(3, 3, 6, 5, generator=torch.Generator().manual_seed(1))

    def perturb(inputs):      # Captum repeats each image `samples` times, image-major
        flat = perturbations.reshape(-1, 3, 6, 5)
        return flat, inputs - flat

    for normalize in (False, True):
        expected = captum_metrics.infidelity(model, perturb, x, attribution, target=target,
                                             n_perturb_samples=samples, normalize=normalize)
        got = infidelity(attribution, perturbations, changes, normalize=normalize)
        torch.testing.assert_close(got, expected.double(), rtol=1e-4, atol=1e-6)


def test_gradient_x_input_of_a_linear_model_predicts_square_removal():
    # blacking out a square S drops z = w·x by exactly Σ_S w·x: gradient × input predicts
    # every drop (the perturbation is the square's indicator), the gradient alone does not
    model = linear_model(1)
    x = torch.rand(2, 3, 6, 5) + torch.tensor([0.0, 2.0])[:, None, None, None]
    target = torch.tensor([0, 2])
    perturbations, changes = score_changes(model, x, target, n_samples=8, kind="square",
                                           size=3, progress=False)
    weights = model[1].weight.detach().view(4, 3, 6, 5)[target]
    assert infidelity(weights * x, perturbations, changes).max() < 1e-10
    assert (infidelity(weights, perturbations, changes) > 1e-6).all()
    # each perturbation is the indicator of one 3 × 3 square, on all channels
    assert set(perturbations.unique().tolist()) == {0.0, 1.0}
    assert (perturbations.flatten(2).sum(dim=2) == 27).all()
    top, left = perturbations[0, 0, 0].nonzero()[0].tolist()
    blacked = x[:1].clone()
    blacked[:, :, top:top + 3, left:left + 3] = 0
    expected = model(x[:1])[0, 0] - model(blacked)[0, 0]
    assert changes[0, 0].item() == pytest.approx(expected.item(), abs=1e-5)


def test_two_dimensional_maps_are_spread_over_the_channels():
    model = linear_model()
    x = torch.rand(1, 3, 6, 5)
    perturbations, changes = score_changes(model, x, 0, n_samples=4, size=3, progress=False)
    flat = torch.rand(1, 6, 5)
    assert torch.allclose(infidelity(flat, perturbations, changes),
                          infidelity(flat[:, None].expand(1, 3, 6, 5), perturbations, changes))


def test_relative_infidelity_lies_between_zero_and_one():
    model = small_cnn(1)
    x = torch.rand(4, 3, 6, 5)
    perturbations, changes = score_changes(model, x, 1, n_samples=8, size=3, progress=False)
    values = relative_infidelity(torch.randn(4, 3, 6, 5), perturbations, changes)
    assert ((values >= 0) & (values <= 1 + 1e-9)).all()


def test_max_sensitivity_of_a_map_that_ignores_the_input_is_zero():
    fixed = torch.rand(2, 6, 5)
    assert max_sensitivity(lambda images: fixed, torch.rand(2, 3, 6, 5), progress=False).max() == 0


def test_max_sensitivity_is_relative_and_bounded_by_the_radius():
    x = 0.2 + 0.6 * torch.rand(2, 3, 6, 5)      # away from the clipping at 0 and 1
    radius = 0.05

    def identity(images):
        return images.flatten(1)

    values = max_sensitivity(identity, x, radius=radius, n_samples=6, progress=False)
    bound = radius * (3 * 6 * 5) ** 0.5 / x.flatten(1).norm(dim=1)
    assert (values > 0).all() and (values <= bound.double() + 1e-9).all()
    scaled = max_sensitivity(lambda images: 10 * images.flatten(1), x, radius=radius,
                             n_samples=6, progress=False)
    torch.testing.assert_close(values, scaled)          # divided by the map's own norm
    more = max_sensitivity(identity, x, radius=radius, n_samples=12, progress=False)
    assert (more >= values).all()                        # a maximum over more samples


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="radius"):
        max_sensitivity(lambda images: images, torch.rand(1, 3, 4, 4), radius=0)
    with pytest.raises(ValueError, match="n_samples"):
        score_changes(linear_model(), torch.rand(1, 3, 6, 5), 0, n_samples=0)
    with pytest.raises(ValueError, match="square"):
        score_changes(linear_model(), torch.rand(1, 3, 6, 5), 0, size=7)
    with pytest.raises(ValueError, match="score_changes"):
        infidelity(torch.rand(1, 6, 5), torch.rand(1, 3, 6, 5), torch.rand(1, 2))
