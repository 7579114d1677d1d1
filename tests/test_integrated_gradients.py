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

import course_lib as course
from course_lib.methods.integrated_gradients import quadrature
from test_against_captum import TARGETS

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
    baseline = course.make_baseline(photos, "blurred")
    ours = course.integrated_gradients(lite0, photos, TARGETS, baseline=baseline, steps=8,
                                       progress=False)
    theirs = IntegratedGradients(lite0).attribute(photos, baselines=baseline, target=TARGETS,
                                                  n_steps=8)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_completeness_gap_shrinks_with_steps(lite0, photos):
    """Gauss–Legendre, 4 → 32 steps: the gap shrinks several times and ends below 10 %.

    (This ReLU6 network's path integrand jumps at kinks, so low-order Riemann rules
    converge erratically; notebook 05 shows the whole table.)
    """
    gaps = []
    for steps in (4, 32):
        attribution = course.integrated_gradients(lite0, photos[1:2], 967, steps=steps,
                                                  progress=False)
        gaps.append(course.completeness_gap(lite0, photos[1:2], attribution, 967).abs().item())
    with torch.no_grad():
        difference = (lite0(photos[1:2]) - lite0(torch.zeros_like(photos[1:2])))[0, 967].item()
    assert gaps[1] < gaps[0] / 4 and gaps[1] < 0.1 * abs(difference)


def test_completeness_gap_of_the_vanilla_gradient_is_large(lite0, photos):
    """Gradient × input is not complete: its sum misses z(x) − z(black) by a lot."""
    gxi = course.gradient_x_input(lite0, photos[1:2], 967)
    ig = course.integrated_gradients(lite0, photos[1:2], 967, steps=32, progress=False)
    gap_gxi = course.completeness_gap(lite0, photos[1:2], gxi, 967).abs().item()
    gap_ig = course.completeness_gap(lite0, photos[1:2], ig, 967).abs().item()
    assert gap_ig < 0.2 * gap_gxi


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
