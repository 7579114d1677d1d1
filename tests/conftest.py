"""Shared fixtures: the real EfficientNet-Lite0, a random-weight ResNet-18, the photos."""

from __future__ import annotations

import pytest
import torch
import torchvision

import course_lib as course


@pytest.fixture(scope="session")
def lite0() -> torch.nn.Module:
    return course.load_efficientnet_lite0()


@pytest.fixture(scope="session")
def resnet18() -> torch.nn.Module:
    """torchvision's ResNet-18 with random weights: ReLU(inplace=True), no download."""
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None).eval()


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    return course.load_photos(("chelsea", "coffee", "rocket"))


@pytest.fixture(params=["lite0", "resnet18"])
def any_model(request) -> torch.nn.Module:
    """Each test using this runs on both architectures."""
    return request.getfixturevalue(request.param)


def cam_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The layer the CAM methods explain: ``head``, ``layer4`` or the first convolution."""
    if not isinstance(model, torch.nn.Module):
        return "head"  # the method itself must then refuse the model
    for name in ("head", "layer4"):
        if hasattr(model, name):
            return getattr(model, name)
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def cheap_occlusion(model, x, target, **kwargs):
    """Occlusion with 2 × 2 patches over the image (4 forward passes per image)."""
    side = x.shape[-1] if isinstance(x, torch.Tensor) and x.ndim >= 2 else 8
    return course.occlusion(model, x, target, patch=side // 2, stride=side // 2,
                            progress=False, **kwargs)


def cheap_gradient_shap(model, x, target, **kwargs):
    """GradientSHAP with 2 samples, input noise, and a pool of two baselines (black, grey)."""
    pool = "uniform"
    if isinstance(x, torch.Tensor) and x.ndim == 4 and len(x):
        pool = torch.stack([torch.zeros_like(x[0]), torch.full_like(x[0], 0.5)])
    return course.gradient_shap(model, x, target, baselines=pool, n_samples=2, noise_level=0.1,
                                progress=False, **kwargs)


# Every method of course_lib with settings cheap enough for the generic tests
# (model left as found, bad input, chunking). Each takes (model, inputs, target, **kwargs).
ALL_METHODS = {
    "vanilla_gradient": course.vanilla_gradient,
    "gradient_x_input": course.gradient_x_input,
    "deconvnet": course.deconvnet,
    "guided_backprop": course.guided_backprop,
    "grad_cam": lambda m, x, t, **kw: course.grad_cam(m, x, t, cam_layer(m), **kw),
    "grad_cam_plus_plus": lambda m, x, t, **kw: course.grad_cam_plus_plus(m, x, t, cam_layer(m),
                                                                          **kw),
    "guided_grad_cam": lambda m, x, t, **kw: course.guided_grad_cam(m, x, t, cam_layer(m), **kw),
    "smoothgrad": lambda m, x, t, **kw: course.smoothgrad(m, x, t, n_samples=2, progress=False,
                                                          **kw),
    "integrated_gradients": lambda m, x, t, **kw: course.integrated_gradients(
        m, x, t, steps=2, progress=False, **kw),
    "occlusion": lambda m, x, t, **kw: cheap_occlusion(m, x, t, **kw),
    "expected_gradients": lambda m, x, t, **kw: course.expected_gradients(
        m, x, t, n_samples=2, progress=False, **kw),
    "gradient_shap": lambda m, x, t, **kw: cheap_gradient_shap(m, x, t, **kw),
    "lrp": lambda m, x, t, **kw: course.lrp(m, x, t, progress=False, **kw),
    "deeplift": lambda m, x, t, **kw: course.deeplift(m, x, t, progress=False, **kw),
    # superpixel methods: SLIC with about 4 superpixels, a handful of forward passes
    "lime": lambda m, x, t, **kw: course.lime(m, x, t, n_segments=4, n_samples=6,
                                              progress=False, **kw),
    "kernel_shap": lambda m, x, t, **kw: course.kernel_shap(m, x, t, n_segments=4, n_samples=6,
                                                            progress=False, **kw),
    "exact_shapley": lambda m, x, t, **kw: course.exact_shapley(m, x, t, n_segments=4,
                                                                progress=False, **kw),
    "rise": lambda m, x, t, **kw: course.rise(m, x, t, n_masks=5, cells=3, progress=False,
                                              **kw),
}
RULE_METHODS = ("deconvnet", "guided_backprop", "guided_grad_cam")


@pytest.fixture(scope="session")
def odd_photos(photos) -> torch.Tensor:
    """The three photos at an odd, non-square size (57 × 70), each in its own pixel range:
    [0, 1], [−1, 1] and [0.25, 0.85] (cheap inputs for the perturbation methods)."""
    small = torch.nn.functional.interpolate(photos, size=(57, 70), mode="bilinear",
                                            align_corners=False)
    scale = torch.tensor([1.0, 2.0, 0.6])[:, None, None, None]
    offset = torch.tensor([0.0, -1.0, 0.25])[:, None, None, None]
    return small * scale + offset


@pytest.fixture(scope="session")
def odd_fills(odd_photos) -> torch.Tensor:
    """A different "off" image per photo: gray 0.5, black, and a random image in [0.25, 0.85]."""
    generator = torch.Generator().manual_seed(11)
    noise = 0.25 + 0.6 * torch.rand(odd_photos.shape[1:], generator=generator)
    return torch.stack([torch.full_like(noise, 0.5), torch.zeros_like(noise), noise])
