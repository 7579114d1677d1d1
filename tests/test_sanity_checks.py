"""Cascading model randomization (course_lib.evaluation.sanity_checks) on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import course_lib as course
from course_lib.evaluation.sanity_checks import (LITE0_CASCADE, cascade_layers, cascading_randomization,
                                      model_randomization_test, reinitialise)


def tiny_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(3, 4, 3, padding=1))
    model.add_module("bn1", nn.BatchNorm2d(4))
    model.add_module("relu1", nn.ReLU())
    model.add_module("conv2", nn.Conv2d(4, 4, 3, padding=1))
    model.add_module("relu2", nn.ReLU())
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flat", nn.Flatten())
    model.add_module("fc", nn.Linear(4, 3))
    with torch.no_grad():  # "trained" BatchNorm: statistics away from the defaults
        model.bn1.running_mean.fill_(0.3)
        model.bn1.running_var.fill_(2.0)
        model.bn1.weight.fill_(1.5)
    return model.eval()


TOP_DOWN = ["fc", "conv2", "bn1", "conv1"]


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed_modules(before: dict[str, torch.Tensor], model: nn.Module) -> set[str]:
    return {key.rsplit(".", 1)[0] for key, value in model.state_dict().items()
            if not torch.equal(before[key], value)}


def test_users_model_is_untouched() -> None:
    model = tiny_cnn()
    before = snapshot(model)
    result = model_randomization_test(model, torch.rand(2, 3, 8, 8), 0, course.vanilla_gradient,
                                      TOP_DOWN, progress=False)
    assert len(result.steps) == 4
    assert changed_modules(before, model) == set()
    assert not model.training


def test_step_k_randomizes_exactly_the_layers_above() -> None:
    model = tiny_cnn()
    before = snapshot(model)
    for k, (label, copy_k) in enumerate(cascading_randomization(model, TOP_DOWN, seed=1)):
        assert label == TOP_DOWN[k]
        assert copy_k is not model
        assert changed_modules(before, copy_k) == set(TOP_DOWN[:k + 1])


def test_independent_mode_randomizes_one_layer() -> None:
    model = tiny_cnn()
    before = snapshot(model)
    for name, copy_k in cascading_randomization(model, TOP_DOWN, cascade=False):
        assert changed_modules(before, copy_k) == {name}


def test_batchnorm_reset_or_kept() -> None:
    model = tiny_cnn()
    reset = reinitialise(model.bn1, "reset")
    assert reset == [""]
    assert torch.equal(model.bn1.running_mean, torch.zeros(4))
    assert torch.equal(model.bn1.running_var, torch.ones(4))
    assert torch.equal(model.bn1.weight.detach(), torch.ones(4))
    model = tiny_cnn()
    before = snapshot(model)
    (_, copy_all), = cascading_randomization(model, {"all": ["fc", "conv2", "bn1", "conv1"]},
                                             batchnorm="keep")
    assert changed_modules(before, copy_all) == {"fc", "conv2", "conv1"}


def test_seeded_and_reproducible() -> None:
    model = tiny_cnn()
    first = [snapshot(m) for _, m in cascading_randomization(model, TOP_DOWN, seed=3)]
    second = [snapshot(m) for _, m in cascading_randomization(model, TOP_DOWN, seed=3)]
    other = [snapshot(m) for _, m in cascading_randomization(model, TOP_DOWN, seed=4)]
    for a, b in zip(first, second):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(first[0]["fc.weight"], other[0]["fc.weight"])
    state = torch.get_rng_state()
    list(cascading_randomization(model, TOP_DOWN))
    assert torch.equal(state, torch.get_rng_state())  # global RNG left alone


def test_identical_maps_correlate_perfectly_and_randomized_ones_do_not() -> None:
    model = tiny_cnn()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    # A "method" that ignores the model: its maps never change, rank correlation 1, SSIM 1.
    def edge_detector(m, inputs, target):
        return inputs.sum(dim=1)
    fixed = model_randomization_test(model, x, 0, edge_detector, TOP_DOWN, ssim=True,
                                     progress=False)
    assert torch.allclose(fixed.rank_correlation, torch.ones(4, 2, dtype=torch.float64))
    assert torch.allclose(fixed.ssim, torch.ones(4, 2, dtype=torch.float64))
    gradient = model_randomization_test(model, x, 0, course.vanilla_gradient, TOP_DOWN,
                                        ssim=True, progress=False)
    assert gradient.maps.shape == (4, 2, 8, 8)
    assert gradient.original.shape == (2, 8, 8)
    assert gradient.rank_correlation[-1].abs().max() < 0.9  # everything randomized


def test_rank_correlation_is_spearman() -> None:
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert course.rank_correlation(a, a ** 3) == pytest.approx(1.0)  # monotone → 1
    assert course.rank_correlation(a, -a) == pytest.approx(-1.0)


def test_bad_layers_refused() -> None:
    model = tiny_cnn()
    with pytest.raises(ValueError, match="no submodule named 'layer9'"):
        list(cascading_randomization(model, ["fc", "layer9"]))
    with pytest.raises(TypeError, match="not one string"):
        list(cascading_randomization(model, "fc"))
    with pytest.raises(ValueError, match="listed twice"):
        list(cascading_randomization(model, ["fc", "fc"]))


def test_module_without_reset_parameters_refused() -> None:
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.weight

    with pytest.raises(TypeError, match="no reset_parameters"):
        reinitialise(nn.Sequential(nn.Linear(2, 2), Scale()))


def test_default_cascades() -> None:
    assert list(cascade_layers(tiny_cnn())) == ["fc", "conv2", "bn1", "conv1"]
    from course_lib.models.efficientnet_lite import EfficientNetLite0
    lite0 = EfficientNetLite0()
    steps = cascade_layers(lite0)
    assert steps == LITE0_CASCADE
    names = [name for group in steps.values() for name in group]
    blocks = [int(n.split(".")[1]) for n in names if n.startswith("blocks.")]
    assert sorted(blocks, reverse=True) == list(range(16))[::-1]  # every block once
    assert names[0] == "fc" and names[-1] == "stem"


# --- the pass criterion ------------------------------------------------------------------------

def test_rank_correlations_are_spearman_of_absolute_maps() -> None:
    from scipy.stats import spearmanr

    from course_lib.evaluation.sanity_checks import rank_correlations

    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 5, 6, generator=generator), torch.randn(3, 5, 6, generator=generator)
    b[1] = -a[1] + 0.01 * b[1]                      # the same magnitudes, opposite signs
    got = rank_correlations(a, b)
    expected = [spearmanr(x.abs().flatten(), y.abs().flatten()).statistic for x, y in zip(a, b)]
    assert got == pytest.approx(expected, abs=1e-12)
    assert got[1] > 0.99
    assert rank_correlations(a[:1], torch.zeros(1, 5, 6)).tolist() == [0.0]   # constant map


def test_verdict_fails_a_map_that_ignores_the_model_and_passes_one_that_forgets() -> None:
    from course_lib.evaluation.sanity_checks import randomization_verdict

    generator = np.random.default_rng(0)
    unrelated = generator.normal(0.1, 0.05, size=40)
    control = randomization_verdict(np.ones(40), unrelated)
    assert not control.passed and control.difference == pytest.approx(1 - unrelated.mean())
    forgets = randomization_verdict(unrelated + generator.normal(0, 0.05, size=40), unrelated)
    assert forgets.passed and forgets.low < 0 < forgets.high
    keeps_a_trace = randomization_verdict(unrelated + 0.3, unrelated)
    assert not keeps_a_trace.passed


class NegatingLinear(nn.Linear):
    """A linear layer whose "re-initialisation" negates its weight (once it is set up)."""

    def reset_parameters(self) -> None:
        if getattr(self, "ready", False):
            with torch.no_grad():
                self.weight.neg_()
        else:
            super().reset_parameters()


class Flip(nn.Module):
    """A "model" whose gradient map is +w; randomizing ``fc`` turns it into −w."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = NegatingLinear(3 * 4 * 4, 2, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.linspace(-1, 1, 96).reshape(2, 48))
        self.fc.ready = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def test_absolute_maps_ignore_the_sign() -> None:
    """The paper's main setting compares |maps|: a map that only flips its sign keeps ρ = 1,
    while the signed comparison sees the order reversed (ρ = −1)."""
    model = Flip().eval()
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    gradient_map = lambda m, x, t: course.vanilla_gradient(m, x, t)  # noqa: E731
    absolute = model_randomization_test(model, x, [0, 0], gradient_map, ["fc"],
                                        aggregation="sum", progress=False)
    signed = model_randomization_test(model, x, [0, 0], gradient_map, ["fc"],
                                      absolute=False, aggregation="sum", progress=False)
    torch.testing.assert_close(absolute.rank_correlation, torch.ones(1, 2, dtype=torch.float64))
    torch.testing.assert_close(signed.rank_correlation, -torch.ones(1, 2, dtype=torch.float64))


def test_the_verdict_needs_the_whole_interval_below_the_margin() -> None:
    """A mean difference below the margin is not enough: its 95 % interval must be too."""
    from course_lib.evaluation.sanity_checks import SANITY_MARGIN, randomization_verdict

    unrelated = np.zeros(10)
    spread = np.array([0.35, -0.25] * 5)        # mean 0.05, but very uncertain
    uncertain = randomization_verdict(unrelated + spread, unrelated)
    assert uncertain.difference == pytest.approx(0.05)
    assert uncertain.difference < SANITY_MARGIN < uncertain.high
    assert not uncertain.passed
    sure = randomization_verdict(unrelated + 0.05 + spread / 50, unrelated)
    assert sure.high < SANITY_MARGIN and sure.passed
