"""DeepLIFT (Rescale) against Captum 0.9.0's ``DeepLift``, closed forms and summation-to-delta.

Convention mapping (Captum → course_lib):

* ``DeepLift(model).attribute(x, baselines, target)`` multiplies by ``x − baseline`` (its
  ``multiply_by_inputs=True``) and falls back to the gradient where ``|Δx| < 1e-10``: ours.
  Its max-pooling rule (the window's Δ goes to the input's winner when max(x) ≥ max(x′),
  else to the reference's winner) is ours.
* Captum reads each nonlinear module's output gradient with a tensor hook *before* the next
  module's hook has rewritten it: when a ReLU's output goes straight into a max pool, its
  multiplier would use the plain max-pool gradient. Its copy gets ``x + 0`` between the two
  (the same function). Its max-pool fallback also takes ``grad_input[0]`` (the first image's
  gradient) — harmless where the ReLU below has Δ = 0 too, which holds for random baselines.
* Captum has no ReLU6. ReLU6(x) = ReLU(x) − ReLU(x − 6), and both ReLUs see the same Δx, so the
  two Rescale multipliers add up to ReLU6's: Captum's copy of EfficientNet-Lite0 uses that
  decomposition (each ReLU on a fresh tensor, for the same hook reason). Captum's hooks cannot
  take in-place ReLUs or a module used twice (ResNet's ``relu``): copies with ``inplace=False``.
  On ResNet-18 Captum's max-pool rule itself goes wrong: its windows overlap (3 × 3, stride 2)
  and ``max_unpool2d`` overwrites where shares should add up, so Captum's attributions miss
  summation-to-delta there (shown below); ResNet-18 is checked by summation-to-delta, and the
  overlap by a small network, instead.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn

import course_lib as course

from relevance_nets import (Fresh, VGGStyle, captum_resnet, out_of_place, relu6_decomposed,
                            scaled_images)

pytest.importorskip("captum.attr")
from captum.attr import DeepLift  # noqa: E402

TARGETS = [1, 3, 5]


def close(ours: torch.Tensor, theirs: torch.Tensor, rtol: float = 1e-4) -> None:
    scale = float(theirs.detach().abs().max())
    assert scale > 0
    torch.testing.assert_close(ours, theirs.detach(), rtol=rtol, atol=rtol * scale)


def captum_deeplift(model: nn.Module, x: torch.Tensor, baseline: torch.Tensor,
                    targets: list[int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DeepLift(model).attribute(x.clone(), baselines=baseline.clone(), target=targets)


def for_captum(model: VGGStyle) -> VGGStyle:
    """``+ 0`` after every ReLU that feeds a max pool (see the module docstring)."""
    model = out_of_place(model)
    layers = list(model.features)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, nn.ReLU) and isinstance(layers[i + 1], nn.MaxPool2d):
            layers[i] = nn.Sequential(layer, Fresh())
    model.features = nn.Sequential(*layers)
    return model


def test_matches_captum_on_a_vgg_style_network():
    """In-place ReLUs, BatchNorm, max and average pooling; per-image pixel ranges, baselines
    and targets."""
    model = VGGStyle()
    x = scaled_images(3)
    baseline = scaled_images(3, seed=1) * 0.5
    ours = course.deeplift(model, x, TARGETS, baseline=baseline, progress=False)
    assert ours.shape == x.shape
    close(ours, captum_deeplift(for_captum(model), x, baseline, TARGETS))


@pytest.mark.parametrize("baseline", ["black", "blurred"])
def test_matches_captum_on_efficientnet_lite0(lite0, photos, baseline):
    targets = [285, 967, 657]
    reference = course.make_baseline(photos, baseline)
    ours = course.deeplift(lite0, photos, targets, baseline=baseline, progress=False)
    close(ours, captum_deeplift(relu6_decomposed(lite0), photos, reference, targets))


def test_decomposition_is_the_same_function(lite0, photos):
    with torch.no_grad():
        torch.testing.assert_close(relu6_decomposed(lite0)(photos), lite0(photos))


# ----------------------------------------------------------------------------- closed forms


def test_linear_model_gives_weight_times_difference():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 5, 4)).eval()
    x, baseline, targets = scaled_images(3, 4, 5), scaled_images(3, 4, 5, seed=2), [0, 3, 2]
    expected = model[1].weight.detach()[targets].view(3, 3, 4, 5) * (x - baseline)
    torch.testing.assert_close(course.deeplift(model, x, targets, baseline, progress=False),
                               expected)


def test_one_layer_of_relus_gives_integrated_gradients():
    """z = v·ReLU(Wx + b) + c: along x' + α(x − x') each hidden unit's input is linear in α, so
    the average of ReLU' over the path is the fraction of the path where it is positive, which
    is the secant slope ΔReLU/Δu. IG, computed here in closed form, equals DeepLIFT."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 3)).eval()
    x, baseline, targets = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2), [0, 2, 1, 2]
    w, b = model[1].weight.detach(), model[1].bias.detach()
    v = model[3].weight.detach()[targets]                           # (4, 20)
    u, u_ref = x.flatten(1) @ w.T + b, baseline.flatten(1) @ w.T + b  # hidden inputs at α = 1, 0
    # fraction of α in [0, 1] with u_ref + α (u − u_ref) > 0
    crossing = (-u_ref / (u - u_ref)).clamp(0, 1)
    fraction = torch.where(u > u_ref, 1 - crossing, crossing)
    fraction = torch.where(u == u_ref, (u > 0).float(), fraction)
    expected = ((v * fraction) @ w).view_as(x) * (x - baseline)
    ours = course.deeplift(model, x, targets, baseline, progress=False)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)
    ig = course.integrated_gradients(model, x, targets, baseline, steps=64, progress=False)
    assert (ig - expected).abs().max() < 0.05 * expected.abs().max()  # quadrature error only


def test_bias_free_relu_network_black_baseline_gives_gradient_times_input():
    """No biases, black baseline: every reference activation is 0, so ΔReLU/Δu = ReLU(u)/u =
    ReLU'(u): DeepLIFT = gradient × input (= LRP-0, Ancona et al. 2018)."""
    model = VGGStyle(batchnorm=False, bias=False)
    x = scaled_images(3)
    x_leaf = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x_leaf)[range(3), TARGETS].sum(), x_leaf)
    ours = course.deeplift(model, x, TARGETS, "black", progress=False)
    close(ours, gradient * x)
    close(course.lrp(model, x, TARGETS, course.lrp_rules.Zero(), progress=False), ours)


# ----------------------------------------------------------------------------- properties


@pytest.fixture(scope="module")
def resnet() -> nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.mark.parametrize("baseline", ["black", "noise"])
def test_summation_to_delta(lite0, resnet, photos, baseline):
    """Σ attributions = z_c(x) − z_c(x') on both architectures: EfficientNet-Lite0 (ReLU6, skip
    connections) and ResNet-18 (in-place ReLU used twice per block, overlapping max pool)."""
    for model in (lite0, resnet):
        attribution = course.deeplift(model, photos, [285, 967, 657], baseline, progress=False)
        with torch.no_grad():
            difference = (model(photos) - model(course.make_baseline(photos, baseline)))[
                [0, 1, 2], [285, 967, 657]]
        torch.testing.assert_close(attribution.flatten(1).sum(1), difference, rtol=1e-4,
                                   atol=1e-4 * float(difference.abs().max()))


def test_overlapping_max_pool_windows_add_up():
    """Kernel 3, stride 2: an input can win two windows; its two shares add up."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(3, stride=2, padding=1), nn.Flatten(),
                          nn.Linear(4 * 4 * 5, 3)).eval()
    x, baseline = torch.randn(3, 3, 8, 10), torch.randn(3, 3, 8, 10)
    attribution = course.deeplift(model, x, [0, 1, 2], baseline, progress=False)
    with torch.no_grad():
        difference = (model(x) - model(baseline))[[0, 1, 2], [0, 1, 2]]
    torch.testing.assert_close(attribution.flatten(1).sum(1), difference, rtol=1e-5, atol=1e-5)


def test_captum_misses_summation_to_delta_on_overlapping_max_pools(resnet, photos):
    """Why ResNet-18 is not compared with Captum: Captum's own attributions do not add up there."""
    x, targets = photos[:2], [1, 2]
    theirs = captum_deeplift(captum_resnet(resnet, fold=False), x, torch.zeros_like(x), targets)
    ours = course.deeplift(resnet, x, targets, progress=False)
    with torch.no_grad():
        difference = (resnet(x) - resnet(torch.zeros_like(x)))[[0, 1], targets]
    their_gap = (theirs.flatten(1).sum(1) - difference).abs().max()
    our_gap = (ours.flatten(1).sum(1) - difference).abs().max()
    assert their_gap > 1000 * our_gap and their_gap > 1e-3 * difference.abs().max()


def test_input_equal_to_its_baseline_in_places_uses_the_gradient_fallback():
    """Where x = x' the secant is 0/0: every unit that sees only such pixels must fall back to
    the gradient, not produce NaN. Captum agrees (a network without max pooling)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True),
                          nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(inplace=True),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(24, 3)).eval()
    x = torch.rand(2, 3, 12, 12)
    baseline = x.clone()
    baseline[0, :, 2:6, 3:8] = 0.0  # the images differ from their baselines in one patch
    baseline[1, :, 7:, 7:] = 1.0
    ours = course.deeplift(model, x, [0, 2], baseline, progress=False)
    assert torch.isfinite(ours).all()
    assert (ours[(x == baseline)] == 0).all()
    close(ours, captum_deeplift(out_of_place(model), x, baseline, [0, 2]))
    with torch.no_grad():
        difference = (model(x) - model(baseline))[[0, 1], [0, 2]]
    torch.testing.assert_close(ours.flatten(1).sum(1), difference, rtol=1e-5, atol=1e-6)


def test_in_place_relus_give_the_same_attribution(resnet, photos):
    torch.testing.assert_close(
        course.deeplift(resnet, photos[:2], [1, 2], progress=False),
        course.deeplift(out_of_place(resnet), photos[:2], [1, 2], progress=False))


def test_cost_in_passes(lite0, photos):
    """Per image: one forward pass of its reference, one forward and one backward pass."""
    with course.count_passes(lite0) as cost:
        course.deeplift(lite0, photos, [1, 2, 3], batch_size=2, progress=False)
    assert (cost.forward, cost.backward) == (6, 3)


def test_baseline_checks():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="baseline has shape"):
        course.deeplift(model, x, 0, baseline=torch.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="baseline must be"):
        course.deeplift(model, x, 0, baseline=0.0)
    with pytest.raises(ValueError, match="unknown baseline"):
        course.deeplift(model, x, 0, baseline="grey")
    one = course.deeplift(model, x, 0, baseline=torch.full((3, 8, 8), 0.5), progress=False)
    both = course.deeplift(model, x, 0, baseline=torch.full((2, 3, 8, 8), 0.5), progress=False)
    torch.testing.assert_close(one, both)


# ----------------------------------------------------------------------------- refusals


class FunctionalReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 5)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.act, self.fc = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(4, 5)

    def forward(self, x):
        h = self.act(self.conv(x))
        return self.fc((h * h.mean(dim=(2, 3), keepdim=True)).mean(dim=(2, 3)))


@pytest.mark.parametrize("model, error, words", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)),
     TypeError, r"'1' \(SiLU\) has no DeepLIFT rule"),
    (FunctionalReLU(), TypeError, "torch.relu"),
    (Gated(), ValueError, "multiplies or divides two activations"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 5)),
     TypeError, r"AdaptiveMaxPool2d\) has no DeepLIFT rule"),
])
def test_unsupported_layers_are_named_and_the_model_is_restored(model, error, words):
    from test_model_safety import assert_unchanged, snapshot
    model.eval()
    before = snapshot(model)
    with pytest.raises(error, match=words):
        course.deeplift(model, torch.rand(2, 3, 8, 8), [0, 1], progress=False)
    assert_unchanged(before, model)
