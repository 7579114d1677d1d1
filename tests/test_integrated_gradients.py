"""Integrated Gradients against Captum, completeness, baselines and quadrature rules.

Convention mapping (ours → Captum's ``method``): ``left`` → ``riemann_left``,
``right`` → ``riemann_right``, ``midpoint`` → ``riemann_middle``, ``gausslegendre`` →
``gausslegendre``, and ``trapezoid`` → ``riemann_trapezoid`` × m/(m−1): Captum's
trapezoid weights are 1/m (halved at the ends) on m points from 0 to 1, which sum to
(m−1)/m; the trapezoid rule's are 1/(m−1). The step counts keep every Riemann α an
exact binary fraction (k/8, (2k+1)/16, k/8 for the trapezoid's m − 1 = 8), so both
libraries evaluate the gradient at bit-identical points: this ReLU6 network's gradient
jumps at kinks, and a 1-ulp difference in α can land on the other side of one.
"""

from __future__ import annotations

import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

import course_lib as course
from course_lib.methods.integrated_gradients import RULES, quadrature
from test_against_captum import TARGETS
from test_gradients import images_with_ranges

CAPTUM_METHOD = {"left": "riemann_left", "right": "riemann_right", "midpoint": "riemann_middle",
                 "trapezoid": "riemann_trapezoid", "gausslegendre": "gausslegendre"}
STEPS = {"left": 8, "right": 8, "midpoint": 8, "trapezoid": 9, "gausslegendre": 8}


@pytest.mark.parametrize("rule", list(CAPTUM_METHOD))
def test_matches_captum(any_model, photos, rule):
    m = STEPS[rule]
    ours = course.integrated_gradients(any_model, photos, TARGETS, steps=m, rule=rule,
                                       batch_size=9, progress=False)
    theirs = IntegratedGradients(any_model).attribute(
        photos, target=TARGETS, n_steps=m, method=CAPTUM_METHOD[rule], internal_batch_size=9)
    if rule == "trapezoid":
        theirs = theirs * m / (m - 1)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_matches_captum_with_a_blurred_baseline(lite0, photos):
    """Midpoint nodes (2k+1)/16 and the same chunks of path images in both libraries: with
    Gauss–Legendre nodes (not binary fractions) a path point of this ReLU6 network can land
    on the other side of a kink in one library and not the other."""
    baseline = course.make_baseline(photos, "blurred")
    ours = course.integrated_gradients(lite0, photos, TARGETS, baseline=baseline, steps=8,
                                       rule="midpoint", batch_size=9, progress=False)
    theirs = IntegratedGradients(lite0).attribute(photos, baselines=baseline, target=TARGETS,
                                                  n_steps=8, method="riemann_middle",
                                                  internal_batch_size=9)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


class Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


def quadratic_model(height: int, width: int, classes: int = 4) -> nn.Sequential:
    r""":math:`z = V (x \odot x) + b`, float64: its gradient :math:`2 V_c \odot x` is linear."""
    torch.manual_seed(0)
    return nn.Sequential(Square(), nn.Flatten(),
                         nn.Linear(3 * height * width, classes)).double().eval()


def per_image_baselines(x: torch.Tensor) -> torch.Tensor:
    """A baseline per image: black, a constant gray 0.7, uniform noise in [−1, 1]."""
    noise = 2 * torch.rand(x.shape[1:], generator=torch.Generator().manual_seed(5),
                           dtype=x.dtype) - 1
    return torch.stack([torch.zeros_like(x[0]), torch.full_like(x[0], 0.7), noise])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 100])
@pytest.mark.parametrize("rule", RULES)
def test_quadratic_model_in_closed_form(rule, batch_size):
    r"""On the path :math:`x' + \alpha (x - x')` the gradient :math:`2 V_c (x' + \alpha d)` is
    linear in :math:`\alpha`, so a rule with points :math:`\alpha_k` and weights :math:`w_k`
    gives exactly :math:`d \odot 2 V_c (x' + \bar\alpha d)` with
    :math:`\bar\alpha = \sum_k w_k \alpha_k`: 1/2 for midpoint, trapezoid and
    Gauss–Legendre (then IG is :math:`V_c (x^2 - x'^2)` and complete), (m − 1)/(2m) for
    left and (m + 1)/(2m) for right Riemann sums. A baseline, a target and a pixel range
    per image; 7 steps in chunks of 1, 2, 3 or all path points.
    """
    height, width, m = 5, 7, 7
    model = quadratic_model(height, width)
    x, targets = images_with_ranges(3, height, width), [3, 0, 2]
    baseline = per_image_baselines(x)
    result = course.integrated_gradients(model, x, targets, baseline=baseline, steps=m,
                                         rule=rule, batch_size=3 * batch_size, progress=False)
    mean_alpha = {"left": (m - 1) / (2 * m), "right": (m + 1) / (2 * m)}.get(rule, 0.5)
    v = model[2].weight.detach().view(4, 3, height, width)[targets]
    d = x - baseline
    torch.testing.assert_close(result, d * 2 * v * (baseline + mean_alpha * d))
    if mean_alpha == 0.5:
        with torch.no_grad():
            gain = (model(x) - model(baseline))[range(3), targets]
        torch.testing.assert_close(result.flatten(1).sum(dim=1), gain)


def test_completeness_gap_is_sum_minus_score_difference():
    model = quadratic_model(5, 7)
    x, targets = images_with_ranges(3, 5, 7), [1, 2, 3]
    baseline = per_image_baselines(x)
    attribution = torch.randn(x.shape, generator=torch.Generator().manual_seed(0),
                              dtype=x.dtype)
    with torch.no_grad():
        gain = (model(x) - model(baseline))[range(3), targets]
    torch.testing.assert_close(
        course.completeness_gap(model, x, attribution, targets, baseline=baseline),
        attribution.flatten(1).sum(dim=1) - gain)


def test_per_image_baseline_target_and_range_match_captum(any_model):
    """Odd, non-square images with their own range, target and baseline each."""
    x = images_with_ranges(3, 45, 61).float()
    baseline = per_image_baselines(x)
    ours = course.integrated_gradients(any_model, x, TARGETS, baseline=baseline, steps=8,
                                       rule="midpoint", batch_size=6, progress=False)
    theirs = IntegratedGradients(any_model).attribute(
        x, baselines=baseline, target=TARGETS, n_steps=8, method="riemann_middle",
        internal_batch_size=6)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5])
def test_batch_size_does_not_change_the_map(any_model, batch_size):
    """``batch_size`` path images per pass; 3 images × 5 steps in 1 to 5 passes of k images."""
    x = images_with_ranges(3, 33, 47).float()
    run = lambda b: course.integrated_gradients(any_model, x, TARGETS, steps=5,  # noqa: E731
                                                batch_size=b, progress=False)
    whole = run(15)
    torch.testing.assert_close(run(3 * batch_size), whole, rtol=1e-4,
                               atol=1e-5 * float(whole.abs().max()))


def smooth_network() -> nn.Sequential:
    """A random float64 CNN with tanh activations: its path integrand is smooth."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.Tanh(), nn.Conv2d(8, 8, 3, stride=2), nn.Tanh(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).double().eval()


def test_gauss_legendre_is_complete_on_a_smooth_network():
    r"""On a smooth (analytic) integrand, m-point Gauss–Legendre converges exponentially.

    Measured on this network (float64), the largest relative gap
    :math:`|\sum_i \mathrm{IG}_i - (z(x) - z(x'))| / |z(x) - z(x')|` over the three images
    falls from 3.9e-3 (4 steps) to 1.1e-5 (8), 1.1e-8 (12) and 6.1e-11 (16 steps): the bound
    1e-9 at 16 steps leaves 16× for rounding differences between machines, and a wrong
    weight or node shows at once. (On EfficientNet-Lite0 the integrand jumps at every
    ReLU6 kink and the gap does not shrink steadily with the number of steps — from 4 to
    64 Gauss–Legendre steps it wandered between 0.04 % and 114 % of z(x) − z(black) on the
    three photos — so no tight completeness bound holds there.)
    """
    model = smooth_network()
    x, targets = images_with_ranges(5, 11, 15)[[0, 3, 4]], [4, 0, 2]
    baseline = per_image_baselines(x)
    result = course.integrated_gradients(model, x, targets, baseline=baseline, steps=16,
                                         progress=False)
    with torch.no_grad():
        gain = (model(x) - model(baseline))[range(3), targets]
    gap = (result.flatten(1).sum(dim=1) - gain).abs() / gain.abs()
    assert (gap < 1e-9).all(), gap


def test_completeness_gap_of_gradient_x_input_is_large(lite0, photos):
    """Gradient × input is not complete: its sum misses z(x) − z(black) by far more than IG's."""
    gxi = course.gradient_x_input(lite0, photos[1:2], 967)
    ig = course.integrated_gradients(lite0, photos[1:2], 967, steps=32, progress=False)
    with torch.no_grad():
        gain = (lite0(photos[1:2]) - lite0(torch.zeros_like(photos[1:2])))[0, 967]
    assert abs(ig.sum() - gain) < 0.2 * abs(gxi.sum() - gain)


@pytest.mark.parametrize("rule", ["left", "right", "midpoint", "trapezoid", "gausslegendre"])
def test_quadrature_weights_integrate_polynomials(rule):
    alphas, weights = quadrature(rule, 5)
    assert weights.sum().item() == pytest.approx(1.0)
    assert ((alphas >= 0) & (alphas <= 1)).all()
    exact_degree = {"left": 0, "right": 0, "midpoint": 1, "trapezoid": 1, "gausslegendre": 9}[rule]
    for degree in range(exact_degree + 1):
        assert (weights * alphas ** degree).sum().item() == pytest.approx(1 / (degree + 1))


def test_baselines(photos):
    black = course.make_baseline(photos, "black")
    blurred = course.make_baseline(photos, "blurred")
    noise = course.make_baseline(photos, "noise", seed=1)
    assert torch.equal(black, torch.zeros_like(photos))
    assert blurred.shape == photos.shape
    assert blurred.mean().item() == pytest.approx(photos.mean().item(), abs=0.02)
    assert (blurred[..., 1:] - blurred[..., :-1]).abs().mean() < \
        0.2 * (photos[..., 1:] - photos[..., :-1]).abs().mean()
    assert 0 <= noise.min() and noise.max() <= 1
    assert torch.equal(noise, course.make_baseline(photos, "noise", seed=1))
    with pytest.raises(ValueError, match="unknown baseline"):
        course.make_baseline(photos, "white")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": 0}, ValueError, "needs steps >= 1"),
    ({"steps": 1, "rule": "trapezoid"}, ValueError, "needs steps >= 2"),
    ({"steps": 2.0}, TypeError, "steps must be an int"),
    ({"rule": "simpson"}, ValueError, "unknown rule"),
    ({"baseline": torch.zeros(3, 10, 10)}, ValueError, "baseline has shape"),
    ({"baseline": torch.full((3, 224, 224), float("nan"))}, ValueError, "finite"),
    ({"baseline": 0.0}, TypeError, "baseline must be"),
    ({"batch_size": -1}, ValueError, "batch_size"),
])
def test_bad_arguments(lite0, photos, kwargs, error, match):
    with pytest.raises(error, match=match):
        course.integrated_gradients(lite0, photos[:1], 5, progress=False, **kwargs)
