"""Exact Shapley values and KernelSHAP against Captum 0.9.0 and closed forms.

Convention mapping to Captum:
- ``feature_mask`` = our superpixel labels ``(N, 1, H, W)`` (one segmentation per image);
  ``baselines`` = our ``fill`` (one image per photo); ``target`` the same per-image classes.
  Both count M = the largest label + 1 players for the whole batch.
- ``ShapleyValues`` averages marginal contributions over all M! orders; ours enumerates the
  2^M coalitions. Same numbers, different cost.
- ``KernelShap`` draws coalitions from the Shapley kernel like ours, but adds the full and
  the empty coalition as samples of weight 10^6 in an unconstrained linear regression with
  an intercept, while ours enforces Σφ = f(x) − f(fill) exactly by eliminating one player.
  Fed the same coalitions (its ``perturb_func``), the two agree to ~10⁻⁵ relative.
- Captum draws from the global torch RNG, we from a private generator: with their own draws
  the two are compared statistically against the exact values.
"""

from __future__ import annotations

import math

import pytest
import torch
from captum.attr import KernelShap, ShapleyValues

import course_lib as course
from course_lib.methods.kernel_shap import efficient_regression, kernel_shap_coalitions
from perturbation_games import RegionModel, game_values, interacting, shapley

pytestmark = pytest.mark.filterwarnings("ignore:You are providing multiple inputs:UserWarning")
TARGETS = [285, 967, 657]


def per_image_segments(rows_cols=((2, 2), (1, 4), (4, 1))) -> torch.Tensor:
    """A different segmentation per photo of the odd batch, each with the same M."""
    return torch.stack([course.grid_segments(57, 70, r, c) for r, c in rows_cols])


def test_exact_shapley_matches_captum_shapley_values(any_model, odd_photos, odd_fills):
    segments = per_image_segments()
    ours = course.exact_shapley(any_model, odd_photos, TARGETS, segments, fill=odd_fills,
                                batch_size=6, progress=False)
    theirs = ShapleyValues(any_model).attribute(odd_photos, baselines=odd_fills, target=TARGETS,
                                                feature_mask=segments[:, None],
                                                perturbations_per_eval=8)
    assert ours.shape == (3, 57, 70)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4,
                               atol=1e-4 * float(theirs.abs().max()))


def _captum_kernel_shap_on(coalitions: torch.Tensor, n_players: int):
    """Captum's KernelShap fed our coalitions after its own first two (full, empty)."""
    def same_draws(original_input, **kwargs):
        yield torch.ones(1, n_players, dtype=torch.long)
        yield torch.zeros(1, n_players, dtype=torch.long)
        for row in coalitions:
            yield row[None].long()
    explainer = KernelShap(lambda x: None)  # forward set below
    explainer.perturb_func = same_draws
    return explainer


def test_kernel_shap_matches_captum_on_shared_coalitions(any_model, odd_photos, odd_fills):
    segments = per_image_segments(((2, 3), (3, 2), (1, 6)))
    coalitions = kernel_shap_coalitions(30, 6, seed=3)
    ours = course.kernel_shap(any_model, odd_photos, TARGETS, segments, fill=odd_fills,
                              coalitions=coalitions, batch_size=7, per_superpixel=True,
                              progress=False)
    explainer = _captum_kernel_shap_on(coalitions, 6)
    explainer.forward_func = any_model
    theirs = explainer.attribute(odd_photos, baselines=odd_fills, target=TARGETS,
                                 feature_mask=segments[:, None], n_samples=32,
                                 perturbations_per_eval=8, return_input_shape=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=1e-3 * float(theirs.abs().max()))


def test_kernel_shap_is_efficient(any_model, odd_photos, odd_fills):
    """Σφ_k = f(x) − f(fill) exactly, for any number of samples."""
    segments = course.superpixels(odd_photos, n_segments=8)
    phi = course.kernel_shap(any_model, odd_photos, TARGETS, segments, n_samples=12,
                             fill=odd_fills, per_superpixel=True, progress=False)
    with torch.no_grad():
        rows = torch.arange(3)
        delta = any_model(odd_photos)[rows, TARGETS] - any_model(odd_fills)[rows, TARGETS]
    torch.testing.assert_close(phi.sum(dim=1), delta, rtol=1e-4, atol=1e-4)


def test_painted_map_carries_the_superpixel_values(lite0, odd_photos):
    segments = course.superpixels(odd_photos, n_segments=6)
    phi = course.exact_shapley(lite0, odd_photos, TARGETS, segments, per_superpixel=True,
                               progress=False)
    painted = course.exact_shapley(lite0, odd_photos, TARGETS, segments, progress=False)
    for i in range(3):
        for label in segments[i].unique():
            where = segments[i] == label
            assert torch.all(painted[i][where] == phi[i, label])


# ----------------------------------------------------------------------------- closed forms

def linear_model(shape=(3, 57, 70), seed=0) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Flatten(),
                                   torch.nn.Linear(math.prod(shape), 4)).eval()


def test_additive_model_gets_each_superpixels_own_effect(odd_photos, odd_fills):
    """z = w·x + b: v(S) is a sum of one term per superpixel, so every Shapley estimator
    must return φ_k = Σ_{i∈k} w_i (x_i − f_i) exactly (KernelSHAP for any sample set)."""
    model = linear_model()
    segments = per_image_segments(((2, 3), (3, 2), (1, 6)))
    targets = [0, 3, 2]
    weights = model[1].weight.detach()[targets].view(3, 3, 57, 70)
    contribution = (weights * (odd_photos - odd_fills)).sum(dim=1)  # (3, H, W)
    expected = torch.stack([torch.stack([contribution[i][segments[i] == k].sum()
                                         for k in range(6)]) for i in range(3)])
    exact = course.exact_shapley(model, odd_photos, targets, segments, fill=odd_fills,
                                 per_superpixel=True, progress=False)
    sampled = course.kernel_shap(model, odd_photos, targets, segments, n_samples=20,
                                 fill=odd_fills, per_superpixel=True, progress=False)
    for got in (exact, sampled):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_two_player_interaction_is_shared_equally():
    """v = a·b only when both halves are present: each half gets a·b / 2."""
    segments = course.grid_segments(4, 6, 1, 2)
    model = RegionModel(segments, 2, lambda m: m[:, 0] * m[:, 1])
    x = torch.rand(1, 3, 4, 6, generator=torch.Generator().manual_seed(0))
    left, right = x[..., :3].mean(), x[..., 3:].mean()
    expected = torch.full((1, 2), float(left * right / 2))
    exact = course.exact_shapley(model, x, 1, segments, fill=0.0, per_superpixel=True,
                                 progress=False)
    both_halves = torch.tensor([[1, 0], [0, 1]])
    sampled = course.kernel_shap(model, x, 1, segments, fill=0.0, coalitions=both_halves,
                                 per_superpixel=True, progress=False)
    torch.testing.assert_close(exact, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sampled, expected, rtol=1e-5, atol=1e-6)


def test_exact_shapley_of_an_interacting_game():
    segments = course.grid_segments(6, 9, 2, 3)
    model = RegionModel(segments, 6, interacting(6))
    x = torch.rand(2, 3, 6, 9, generator=torch.Generator().manual_seed(1))
    fill = torch.full_like(x, 0.2)
    got = course.exact_shapley(model, x, [1, 0], segments, fill=fill, per_superpixel=True,
                               progress=False)
    for i, target in enumerate([1, 0]):
        expected = shapley(game_values(model, x[i], fill[i], segments, target, 6), 6)
        torch.testing.assert_close(got[i].double(), expected, rtol=1e-5, atol=1e-5)


def test_kernel_regression_over_every_coalition_is_exact():
    """Lundberg & Lee's theorem: weighted by the Shapley kernel over all coalitions, the
    constrained regression returns the Shapley values exactly."""
    n_players = 5
    segments = course.grid_segments(5, 10, 1, 5)
    model = RegionModel(segments, n_players, lambda m: m[:, 0] * m[:, 1]
                        + m[:, 2] ** 2 * m[:, 4] - torch.minimum(m[:, 3], m[:, 1]))
    x = torch.rand(3, 5, 10, generator=torch.Generator().manual_seed(2))
    fill = torch.full_like(x, 0.3)
    values = game_values(model, x, fill, segments, 1, n_players)
    interior = [c for c in values if 0 < len(c) < n_players]
    z = torch.tensor([[k in c for k in range(n_players)] for c in interior])
    weights = torch.tensor([(n_players - 1) / (math.comb(n_players, len(c)) * len(c)
                                                * (n_players - len(c))) for c in interior])
    got = efficient_regression(z, torch.tensor([[values[c] for c in interior]]),
                               torch.tensor([values[tuple(range(n_players))]]),
                               torch.tensor([values[()]]), weights)
    torch.testing.assert_close(got[0], shapley(values, n_players), rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- sampling

def test_sizes_follow_the_shapley_kernel_and_subsets_are_uniform():
    """Size s with probability ∝ (M − 1)/(s (M − s)); every subset of a size equally likely.
    Tolerance: 5 binomial standard deviations of each frequency."""
    n_players, n_draws = 6, 200_000
    z = kernel_shap_coalitions(n_draws, n_players, seed=0)
    sizes = z.sum(dim=1)
    kernel = torch.tensor([(n_players - 1) / (s * (n_players - s)) for s in range(1, n_players)],
                          dtype=torch.float64)
    expected = kernel / kernel.sum()
    observed = torch.stack([(sizes == s).double().mean() for s in range(1, n_players)])
    sd = (expected * (1 - expected) / n_draws).sqrt()
    assert ((observed - expected).abs() < 5 * sd).all(), (observed, expected)
    pairs = z[sizes == 2]
    codes = (pairs.long() * (2 ** torch.arange(n_players))).sum(dim=1)
    counts = torch.bincount(codes, minlength=2 ** n_players)[codes.unique()]
    assert len(counts) == math.comb(n_players, 2)
    share = 1 / len(counts)
    sd = math.sqrt(share * (1 - share) / len(pairs))
    assert ((counts / len(pairs) - share).abs() < 5 * sd).all(), counts
    assert not (z.all(dim=1) | ~z.any(dim=1)).any()  # never the full or the empty coalition


def test_kernel_shap_error_matches_captums_and_shrinks_with_samples():
    """Ours and Captum's draw from the same distribution, so their errors against the exact
    values must be alike. Measured here over 10 groups of 20 seeds at n = 100: the ratio
    of the groups' mean relative errors (ours / Captum's) ranged 0.80–1.19 (sd 0.12), so
    [0.6, 1.5] is a safe band. The error must fall like 1/√n: from n = 50 to n = 400 it
    fell 2.6× (expected √8 ≈ 2.8); we require 2×."""
    n_players = 6
    segments = course.grid_segments(12, 15, 2, 3)
    model = RegionModel(segments, n_players, interacting(n_players))
    x = torch.rand(1, 3, 12, 15, generator=torch.Generator().manual_seed(1))
    fill = torch.full_like(x, 0.2)
    exact = shapley(game_values(model, x[0], fill[0], segments, 1, n_players), n_players)

    def error(phi):
        return float((phi[0].double() - exact).norm() / exact.norm())

    def ours(n, seed):
        return error(course.kernel_shap(model, x, 1, segments, n_samples=n, fill=fill,
                                        seed=seed, per_superpixel=True, progress=False))

    def captums(n, seed):
        with torch.random.fork_rng():
            torch.manual_seed(1000 + seed)
            return error(KernelShap(model).attribute(x, baselines=fill, target=1,
                                                     feature_mask=segments[None, None],
                                                     n_samples=n, return_input_shape=False))

    seeds = range(20)
    ours_100 = sum(ours(100, s) for s in seeds) / 20
    captums_100 = sum(captums(100, s) for s in seeds) / 20
    assert 0.6 < ours_100 / captums_100 < 1.5, (ours_100, captums_100)
    ours_50 = sum(ours(50, s) for s in seeds) / 20
    ours_400 = sum(ours(400, s) for s in seeds) / 20
    assert ours_400 < ours_50 / 2, (ours_50, ours_400)


# ----------------------------------------------------------------------------- contract

def test_batch_size_seed_and_batch_companions(lite0, odd_photos, odd_fills):
    segments = course.grid_segments(57, 70, 2, 3)
    run = lambda x, t, f, **kw: course.kernel_shap(lite0, x, t, segments, n_samples=15,
                                                   fill=f, progress=False, **kw)
    reference = run(odd_photos, TARGETS, odd_fills, batch_size=45)
    close = {"rtol": 1e-4, "atol": 1e-4 * float(reference.abs().max())}  # batched float sums
    torch.testing.assert_close(run(odd_photos, TARGETS, odd_fills, batch_size=4), reference,
                               **close)
    alone = run(odd_photos[1:2], TARGETS[1], odd_fills[1:2], batch_size=4)
    torch.testing.assert_close(alone[0], reference[1], **close)  # the rest of the batch
    other_seed = run(odd_photos, TARGETS, odd_fills, seed=1)
    assert not torch.allclose(other_seed, reference)


def test_cost_in_forward_passes(lite0, odd_photos):
    segments = course.grid_segments(57, 70, 2, 2)
    with course.count_passes(lite0) as cost:
        course.kernel_shap(lite0, odd_photos, TARGETS, segments, n_samples=9, progress=False)
    assert (cost.forward, cost.backward) == (3 * 9, 0)
    with course.count_passes(lite0) as cost:
        course.exact_shapley(lite0, odd_photos, TARGETS, segments, progress=False)
    assert (cost.forward, cost.backward) == (3 * 2 ** 4, 0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_samples": 1}, ValueError, "n_samples must be at least 2"),
    ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
    ({"n_samples": 5, "coalitions": torch.ones(2, 4)}, ValueError, "either n_samples"),
])
def test_kernel_shap_bad_arguments(lite0, odd_photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        course.kernel_shap(lite0, odd_photos, TARGETS, course.grid_segments(57, 70, 2, 2),
                           progress=False, **kwargs)


def test_exact_shapley_refuses_too_many_players(lite0, odd_photos):
    with pytest.raises(ValueError, match="2\\^17 forward passes"):
        course.exact_shapley(lite0, odd_photos, TARGETS, torch.arange(17).repeat(57, 5)[:, :70],
                             progress=False)
