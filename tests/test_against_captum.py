"""course_lib's gradient methods against Captum, an independent implementation.

Convention mapping (Captum → course_lib):

* ``Saliency(model).attribute(x, target, abs=False)`` == ``vanilla_gradient``
  (Captum's default ``abs=True`` returns ``|∂z_c/∂x|``; we keep the sign).
* ``InputXGradient`` == ``gradient_x_input``.
* ``Deconvolution`` == ``deconvnet`` and ``GuidedBackprop`` == ``guided_backprop``.
  Captum overrides only ``nn.ReLU`` modules. EfficientNet-Lite0 uses ``nn.ReLU6``,
  which course_lib treats as a ReLU followed by a cap at 6 whose gradient is
  kept. So for Captum each ReLU6 is rewritten as ``Sequential(ReLU(), CapAt6())``
  — the same function, the same rule.

Every comparison uses a batch of three photos with a *different* target per image,
on the pretrained EfficientNet-Lite0 and a random-weight ResNet-18 (in-place ReLUs).
"""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, Saliency
from torch import nn

import course_lib as course

TARGETS = [285, 967, 657]  # Egyptian cat, espresso, missile: one per photo


class CapAt6(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(max=6)


def relu6_as_relu_then_cap(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ReLU6 modules are ReLU → cap at 6 (the same function)."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(parent, name, nn.Sequential(nn.ReLU(), CapAt6()))
    return model


def captum_attribution(method: str, model: nn.Module, x: torch.Tensor,
                       targets: list[int] = TARGETS) -> torch.Tensor:
    if method == "vanilla_gradient":
        return Saliency(model).attribute(x, target=targets, abs=False)
    if method == "gradient_x_input":
        return InputXGradient(model).attribute(x, target=targets)
    decomposed = relu6_as_relu_then_cap(model)
    if method == "deconvnet":
        return Deconvolution(decomposed).attribute(x, target=targets)
    return GuidedBackprop(decomposed).attribute(x, target=targets)


@pytest.mark.parametrize("method", ["vanilla_gradient", "gradient_x_input", "deconvnet",
                                    "guided_backprop"])
def test_matches_captum(method, any_model, photos):
    ours = getattr(course, method)(any_model, photos, TARGETS)
    theirs = captum_attribution(method, any_model, photos.clone())
    assert ours.shape == photos.shape
    scale = theirs.detach().abs().max()
    assert scale > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * float(scale))


def test_decomposition_is_the_same_function(lite0, photos):
    with torch.no_grad():
        torch.testing.assert_close(lite0(photos), relu6_as_relu_then_cap(lite0)(photos))


@pytest.mark.parametrize("method", ["vanilla_gradient", "gradient_x_input", "deconvnet",
                                    "guided_backprop"])
def test_matches_captum_on_odd_sizes_and_pixel_ranges(method, any_model):
    """45 × 61 images, each with its own pixel range (negative, 0–255, narrow) and target."""
    from test_gradients import images_with_ranges

    x = images_with_ranges(3, 45, 61).float()
    ours = getattr(course, method)(any_model, x, TARGETS)
    theirs = captum_attribution(method, any_model, x.clone())
    scale = float(theirs.detach().abs().max())
    assert scale > 0
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5 * scale)


def test_targets_are_per_image(lite0, photos):
    """Image i's map depends on target i only: the batch equals Captum on each image alone."""
    batch = course.vanilla_gradient(lite0, photos, TARGETS)
    for i, target in enumerate(TARGETS):
        single = Saliency(lite0).attribute(photos[i:i + 1].clone(), target=target, abs=False)
        scale = float(single.abs().max())
        torch.testing.assert_close(batch[i:i + 1], single, rtol=1e-4, atol=1e-5 * scale)
    other = course.vanilla_gradient(lite0, photos, [TARGETS[0]] * 3)
    assert not torch.allclose(batch[1], other[1])
