"""Grad-CAM, Grad-CAM++ and Guided Grad-CAM against Captum and pytorch-grad-cam.

Convention mapping:

* Captum ``LayerGradCam(model, layer).attribute(x, target, relu_attributions=True)``
  (its default skips the ReLU) followed by ``LayerAttribution.interpolate(...,
  interpolate_mode="bilinear")`` (its default is nearest) == ``grad_cam``.
* Captum ``GuidedGradCam(model, layer).attribute(x, target, interpolate_mode="bilinear")``
  == ``guided_grad_cam``; for EfficientNet-Lite0 with ReLU6 rewritten as ReLU → cap
  (see ``test_against_captum.py``), because Captum's guided backprop only sees ``nn.ReLU``.
* pytorch-grad-cam min-max normalises every map (which would hide a scale error) and
  adds 1e-6 to the Grad-CAM++ denominator; we compare its *unnormalised* map (read
  before its ReLU and rescaling) at the layer's resolution, and for Grad-CAM++ on the
  model with logits × 1000, where that 1e-6 is negligible.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import GuidedGradCam, LayerAttribution, LayerGradCam
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import course_lib as course
from course_lib.methods.cam import activations_and_gradients, grad_cam_plus_plus_weights
from test_against_captum import TARGETS, relu6_as_relu_then_cap
from test_gradients import images_with_ranges

OTHER_TARGETS = [967, 657, 285]  # each photo explained for another photo's class


def cam_layer(model: nn.Module) -> nn.Module:
    return model.head if hasattr(model, "head") else model.layer4


def test_grad_cam_matches_captum(any_model, photos):
    layer = cam_layer(any_model)
    ours = course.grad_cam(any_model, photos, TARGETS, layer)
    coarse = LayerGradCam(any_model, layer).attribute(photos, target=TARGETS,
                                                      relu_attributions=True)
    theirs = LayerAttribution.interpolate(coarse, photos.shape[-2:], interpolate_mode="bilinear")
    assert ours.shape == (3, 224, 224)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=1e-5 * float(ours.max()))


def test_grad_cam_on_a_layer_followed_by_an_inplace_add(resnet18, photos):
    """ResNet's ``out += identity`` after bn2 must not corrupt the recorded activation."""
    layer = resnet18.layer4[1].bn2
    ours = course.grad_cam(resnet18, photos, TARGETS, layer, upsample=False)
    theirs = LayerGradCam(resnet18, layer).attribute(photos, target=TARGETS,
                                                     relu_attributions=True)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=1e-6)


def test_guided_grad_cam_matches_captum(any_model, photos):
    layer = cam_layer(any_model)
    decomposed = relu6_as_relu_then_cap(any_model)
    theirs = GuidedGradCam(decomposed, cam_layer(decomposed)).attribute(
        photos, target=TARGETS, interpolate_mode="bilinear")
    ours = course.guided_grad_cam(any_model, photos, TARGETS, layer)
    assert ours.shape == photos.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-4,
                               atol=1e-5 * float(theirs.detach().abs().max()))


class TimesThousand(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1000 * self.model(x)


def raw_pytorch_grad_cam(cam_class: type, model: nn.Module, layer: nn.Module, x: torch.Tensor,
                         targets: list[int]) -> np.ndarray:
    """pytorch-grad-cam's map *before* its ReLU and min-max scaling: Σ_k w_k A^k, (N, h, w).

    The library returns only min-max-normalised maps, which would hide a positive scale
    error; its ``get_cam_image`` (an internal method, see pyproject.toml's pin) gives the
    weighted sum that it then clips and rescales.
    """
    cam = cam_class(model, [layer])
    raw = []
    weighted_sum = cam.get_cam_image

    def record(*args, **kwargs):
        raw.append(weighted_sum(*args, **kwargs))
        return raw[-1]

    cam.get_cam_image = record
    cam(x, targets=[ClassifierOutputTarget(c) for c in targets])
    cam.activations_and_grads.release()
    (values,) = raw
    return values


@pytest.mark.parametrize("targets", [TARGETS, OTHER_TARGETS], ids=["own", "other"])
@pytest.mark.parametrize("theirs_class, ours_function, scale", [
    (GradCAM, course.grad_cam, False), (GradCAMPlusPlus, course.grad_cam_plus_plus, True)],
    ids=["grad_cam", "grad_cam_plus_plus"])
def test_cams_match_pytorch_grad_cam_unnormalised(any_model, photos, theirs_class,
                                                   ours_function, scale, targets):
    """Unnormalised maps at the layer's resolution, ReLU included.

    With each photo explained for *another* photo's class, maps have negative and positive
    regions before the ReLU on both architectures (on EfficientNet-Lite0 all three, 41–63 %
    of the cells negative), so a missing ReLU shows; with each photo's own class the
    EfficientNet-Lite0 maps happen to be positive everywhere already.
    Grad-CAM++ runs on logits × 1000, where pytorch-grad-cam's +1e-6 in the denominator
    is negligible.
    """
    model = TimesThousand(any_model) if scale else any_model
    layer = cam_layer(any_model)
    raw = raw_pytorch_grad_cam(theirs_class, model, layer, photos, targets)
    if targets is OTHER_TARGETS and theirs_class is GradCAM:
        assert any(m.min() < 0 < m.max() for m in raw), "the case must need the ReLU"
    theirs = torch.from_numpy(np.maximum(raw, 0))
    ours = ours_function(model, photos, targets, layer, upsample=False)
    assert float(theirs.max()) > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.max()))


def pooled_linear_model(classes: int = 4) -> nn.Sequential:
    """Conv (signed feature maps, stride 2) → global average pool → linear, in float64."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 5, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(5, classes)).double().eval()


def test_cams_in_closed_form_after_global_pooling():
    r"""After GAP + linear, :math:`\partial z_c / \partial A^k_{ij} = W_{ck} / (hw)` everywhere.

    So Grad-CAM's :math:`\alpha_k = W_{ck}/(hw)`, and Grad-CAM++'s
    :math:`w_k = hw\, a_k \max(g_k, 0)` with :math:`a_k = g_k^2 / (2 g_k^2 + S_k g_k^3)`,
    :math:`S_k = \sum_{ij} A^k_{ij}`. Images of odd size (9 × 13 → a 4 × 6 layer), a pixel
    range and a target per image; the upsampled map is bilinear with half-pixel centres.
    """
    model = pooled_linear_model()
    # pixel ranges [−2, 1], [0, 255] and [−3, 3]
    x, targets = images_with_ranges(5, 9, 13)[[0, 1, 4]], [3, 0, 3]
    with torch.no_grad():
        a = model[0](x)                                            # (N, 5, 4, 6)
    hw = a.shape[2] * a.shape[3]
    g = model[3].weight.detach()[targets] / hw                     # (N, 5)
    raw = (g[:, :, None, None] * a).sum(dim=1)
    assert all(m.min() < 0 < m.max() for m in raw), "the case must need the ReLU"
    s = a.sum(dim=(2, 3))
    plus_plus_weights = hw * g.pow(2) / (2 * g.pow(2) + s * g.pow(3)) * g.clamp(min=0)
    expected = {course.grad_cam: raw.clamp(min=0),
                course.grad_cam_plus_plus: (plus_plus_weights[:, :, None, None] * a).sum(1)
                .clamp(min=0)}
    for function, coarse in expected.items():
        torch.testing.assert_close(function(model, x, targets, model[0], upsample=False), coarse)
        upsampled = torch.nn.functional.interpolate(coarse[:, None], size=(9, 13),
                                                    mode="bilinear", align_corners=False)[:, 0]
        torch.testing.assert_close(function(model, x, targets, model[0]), upsampled)


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_plus_plus", "guided_grad_cam"])
@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_batch_size_does_not_change_the_map(any_model, photos, method, batch_size):
    """Five photos at 161 × 203 (two with stretched contrast), each explained for its
    predicted class (a non-zero map even on the random ResNet): chunks of 1, 2, 3 or all 5."""
    small = torch.nn.functional.interpolate(photos, size=(161, 203), mode="bilinear")
    x = torch.cat([small, 2 * small[:2] - 0.5])
    with torch.no_grad():
        targets = any_model(x).argmax(dim=1)
    run = lambda b: getattr(course, method)(any_model, x, targets, cam_layer(any_model),  # noqa
                                            batch_size=b)
    whole = run(5)
    assert (whole.flatten(1).amax(dim=1) > 0).all(), "every map must have something to chunk"
    torch.testing.assert_close(run(batch_size), whole, rtol=1e-4,
                               atol=1e-5 * float(whole.abs().max()))


def test_grad_cam_plus_plus_weights_follow_the_paper_by_autograd():
    """Eq. 19 of Chattopadhay et al. from real 2nd/3rd derivatives of Y = exp(S).

    With the layer followed only by global average pooling and a linear layer, S is
    linear in A, which is the case the paper's closed form assumes.
    """
    torch.manual_seed(0)
    activation = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    fc = torch.randn(2, dtype=torch.float64)

    def y(a: torch.Tensor) -> torch.Tensor:
        return torch.exp((a.mean(dim=(2, 3)) * fc).sum())

    a = activation.clone().requires_grad_(True)
    (d1,) = torch.autograd.grad(y(a), a, create_graph=True)
    d2 = torch.zeros_like(activation)
    d3 = torch.zeros_like(activation)
    for index in np.ndindex(*activation.shape):  # diagonal 2nd and 3rd derivatives
        (g2,) = torch.autograd.grad(d1[index], a, create_graph=True)
        (g3,) = torch.autograd.grad(g2[index], a, retain_graph=True)
        d2[index], d3[index] = g2[index].detach(), g3[index]
    alpha = d2 / (2 * d2 + activation.sum(dim=(2, 3), keepdim=True) * d3)
    paper = (alpha * torch.relu(d1.detach())).sum(dim=(2, 3))
    score = (a.mean(dim=(2, 3)) * fc).sum()
    (gradient,) = torch.autograd.grad(score, a)
    ours = grad_cam_plus_plus_weights(activation, gradient)
    torch.testing.assert_close(paper, torch.exp(score.detach()) * ours)  # exp(S) left out


def test_head_weights_are_fc_weights_over_49(lite0, photos):
    """CAM link: after GAP + linear, Grad-CAM's α is the class's fc weight / (7 · 7)."""
    _, gradient = activations_and_gradients(lite0, photos[:1].clone(), torch.tensor([285]),
                                            lite0.head)
    torch.testing.assert_close(gradient.mean(dim=(2, 3))[0], lite0.fc.weight[285] / 49)


def test_all_zero_map_gives_zeros_and_a_warning():
    """No NaN from normalising by zero: a layer with no positive evidence gives 0 + warning."""
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(2, 3))
    with torch.no_grad():
        model[0].weight.fill_(0.1)
        model[0].bias.fill_(1.0)
        model[3].weight.fill_(-1.0)  # every channel lowers every class: ReLU(Σ αA) = 0
    with pytest.warns(UserWarning, match=r"image\(s\) \[0, 1\] is zero everywhere"):
        cam = course.grad_cam(model, torch.rand(2, 3, 8, 8), [0, 1], model[0])
    assert torch.equal(cam, torch.zeros(2, 8, 8))


def test_layer_by_name_and_bad_layers(lite0, photos):
    by_name = course.grad_cam(lite0, photos[:1], 3, "head")
    torch.testing.assert_close(by_name, course.grad_cam(lite0, photos[:1], 3, lite0.head))
    with pytest.raises(ValueError, match="no layer named"):
        course.grad_cam(lite0, photos[:1], 3, "tail")
    with pytest.raises(ValueError, match="not a module of this model"):
        course.grad_cam(lite0, photos[:1], 3, nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match=r"\(N, K, h, w\) feature map"):
        course.grad_cam(lite0, photos[:1], 3, lite0.fc)
    with pytest.raises(TypeError, match="nn.Module or its name"):
        course.grad_cam(lite0, photos[:1], 3, 7)


def test_layer_that_runs_twice_is_refused():
    shared = nn.Conv2d(3, 3, 1)
    model = nn.Sequential(shared, shared, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="ran 2 times"):
        course.grad_cam(model, torch.rand(1, 3, 4, 4), 0, shared)
