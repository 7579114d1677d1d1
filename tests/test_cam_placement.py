"""Where the cells of a CAM go on the image: ``placement="stretch"`` and ``"receptive_field"``.

Expected values come from outside ``course_lib``:

* closed forms for the receptive-field centres, composed in the test from each
  architecture's stride-2 layers (TensorFlow "same" padding for EfficientNet-Lite0,
  PyTorch's symmetric ``padding=`` for ResNet-18);
* an exact probe: on a strip of noise long enough to hold a whole receptive field, the
  gradient of one cell is non-zero exactly on its receptive field, whose middle is the
  centre;
* Captum's ``LayerAttribution.interpolate`` for ``"stretch"``, and ``np.interp`` (linear
  between the centres, constant beyond them) for ``"receptive_field"``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

import course_lib as course
from course_lib.methods.cam import receptive_field_grid, upsample_cam
from course_lib.teaching.checkers.common import TinyNet

TARGETS = [285, 967, 657]


def cam_layer(model: nn.Module) -> nn.Module:
    return model.head if hasattr(model, "head") else model.layer4


# ----------------------------------------------------------------------------- closed forms

def lite0_first_centre(size: int) -> float:
    """Centre of head cell 0 for EfficientNet-Lite0, from its five stride-2 layers.

    TensorFlow "same": ``out = ceil(n / 2)``, total padding ``(out − 1)·2 + k − n``, the
    smaller half before. Window ``o`` covers padded rows ``2o … 2o + k − 1``, so its centre
    is ``2o − before + (k − 1)/2`` in the layer's input. Stride-1 layers pad symmetrically
    and keep centres where they are.
    """
    maps = []
    n = size
    for k in (3, 3, 5, 3, 5):  # stem, stages 2, 3, 4 and 6 (the stride-2 ones)
        out = math.ceil(n / 2)
        before = max((out - 1) * 2 + k - n, 0) // 2
        maps.append((2, -before + (k - 1) / 2))
        n = out
    index = 0.0  # cell 0 of the head, mapped back through the layers to the image
    for scale, shift in reversed(maps):
        index = scale * index + shift
    return index + 0.5  # pixel p covers [p, p + 1)


def resnet_first_centre(size: int) -> float:
    """ResNet: conv1 7×7/2 pad 3, maxpool 3×3/2 pad 1, three 3×3/2 pad 1 (and 1×1/2 pad 0
    shortcuts, same centres): every one maps cell o to 2o, so cell j sits at 32j + 0.5."""
    return 0.5


@pytest.mark.parametrize("size", [(224, 224), (225, 225), (200, 232), (97, 161)])
def test_lite0_head_centres_follow_tensorflow_same_padding(lite0, size):
    rows, cols = receptive_field_grid(lite0, "head", torch.rand(1, 3, *size))
    assert (rows.stride, cols.stride) == (32, 32)
    assert rows.first == lite0_first_centre(size[0])
    assert cols.first == lite0_first_centre(size[1])


def test_lite0_head_at_224_sits_15_5_pixels_from_the_patch_centres(lite0):
    rows, cols = receptive_field_grid(lite0, lite0.head, torch.rand(2, 3, 224, 224))
    expected = 32 * torch.arange(7, dtype=torch.float64) + 31.5
    torch.testing.assert_close(rows.centres(7), expected)
    torch.testing.assert_close(cols.centres(7), expected)


@pytest.mark.parametrize("size", [(224, 224), (225, 199)])
def test_resnet18_layer4_centres_follow_symmetric_padding(resnet18, size):
    rows, cols = receptive_field_grid(resnet18, resnet18.layer4, torch.rand(1, 3, *size))
    assert (rows.stride, rows.first) == (32, resnet_first_centre(size[0]))
    assert (cols.stride, cols.first) == (32, resnet_first_centre(size[1]))


# ----------------------------------------------------------------------------- exact probe

def support_centre(model: nn.Module, layer: nn.Module, x: torch.Tensor, axis: int
                   ) -> tuple[int, float]:
    """(cell, centre of the pixels its output depends on) for the middle cell along ``axis``."""
    outputs = []
    handle = layer.register_forward_hook(lambda module, args, out: outputs.append(out))
    x = x.clone().requires_grad_(True)
    try:
        model(x)
    finally:
        handle.remove()
    activation = outputs[0]
    cell = activation.shape[2 + axis] // 2
    chosen = activation.select(2 + axis, cell)
    (gradient,) = torch.autograd.grad(chosen.sum(), x)
    profile = gradient.abs().sum(dim=(0, 1, 3 - axis))
    touched = profile.nonzero().flatten()
    first, last = int(touched.min()), int(touched.max())
    assert 0 < first and last < x.shape[2 + axis] - 1, "the strip must hold the whole field"
    return cell, (first + last + 1) / 2


@pytest.mark.parametrize("axis", [0, 1])
def test_centres_match_an_exact_gradient_probe(lite0, resnet18, axis):
    # 1120 = 35 · 32: every stride-2 layer pads as at 224, and Lite0's receptive field
    # (851 px) fits around the middle cell.
    shape = (1, 3, 1120, 64) if axis == 0 else (1, 3, 64, 1120)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    for model in (lite0, resnet18):
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            cell, probed = support_centre(model, cam_layer(model), x, axis)
        finally:
            for p in model.parameters():
                p.requires_grad_(True)
        grid = receptive_field_grid(model, cam_layer(model), x)[axis]
        assert float(grid.centres(cell + 1)[cell]) == probed


class Windows(nn.Module):
    """Every kind of window the trace knows, in small: dilated and asymmetric padding,
    F.pad, a slice, reflection padding, pools with and without an explicit stride, and a
    squeeze-and-excitation branch (global, so it must not count; the probe detaches it,
    since it makes every cell depend on every pixel). No ReLUs: a linear network's
    gradient is non-zero on its whole receptive field."""

    def __init__(self) -> None:
        super().__init__()
        self.probing = False
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=(2, 0), dilation=2)
        self.b = nn.Conv2d(4, 4, (3, 5), stride=(1, 2), padding=(0, 1))
        self.se = nn.Conv2d(4, 4, 1)
        self.c = nn.Conv2d(4, 4, 3, stride=1)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.head = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(x)
        x = F.pad(x, (3, 0, 1, 2))  # left 3, right 0, top 1, bottom 2
        x = self.b(x)[..., 2:, 1:]
        pooled = (x.detach() if self.probing else x).mean(dim=(2, 3), keepdim=True)
        x = x * torch.sigmoid(self.se(pooled))
        x = F.max_pool2d(x, 2)  # stride defaults to the kernel
        x = self.c(F.pad(x, (1, 2, 2, 1), mode="reflect"))
        return self.head(self.pool(x)).mean(dim=(2, 3))


@pytest.mark.parametrize("axis", [0, 1])
def test_every_window_kind_matches_the_probe(axis):
    model = Windows().eval()
    x = torch.rand(1, 3, 150, 170, generator=torch.Generator().manual_seed(1))
    grid = receptive_field_grid(model, model.head, x)[axis]
    model.probing = True
    cell, probed = support_centre(model, model.head, x, axis)
    assert float(grid.centres(cell + 1)[cell]) == pytest.approx(probed)


def test_tiled_cells_need_no_correction():
    """TinyNet's windows tile the image (8×8/8, then 4×4/4): the centres are the patch
    centres, so both placements give the same map."""
    model = TinyNet()
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    rows, cols = receptive_field_grid(model, model.head, x)
    assert (rows.stride, rows.first, cols.stride, cols.first) == (32, 16, 32, 16)
    stretch = course.grad_cam(model, x, [1, 3], model.head)
    placed = course.grad_cam(model, x, [1, 3], model.head, placement="receptive_field")
    torch.testing.assert_close(placed, stretch, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------------------- the maps

def interpolate_at(centres_rows, centres_cols, cam, size):
    """Separable linear interpolation with np.interp (constant beyond the outer centres)."""
    height, width = size
    rows = np.arange(height) + 0.5
    cols = np.arange(width) + 0.5
    out = []
    for single in cam.double().numpy():
        along_cols = np.stack([np.interp(cols, centres_cols, row) for row in single])
        out.append(np.stack([np.interp(rows, centres_rows, column)
                             for column in along_cols.T], axis=1))
    return torch.from_numpy(np.stack(out)).float()


def test_stretch_is_captums_interpolation(any_model, photos):
    layer = cam_layer(any_model)
    ours = course.grad_cam(any_model, photos, TARGETS, layer, placement="stretch")
    coarse = LayerGradCam(any_model, layer).attribute(photos, target=TARGETS,
                                                      relu_attributions=True)
    theirs = LayerAttribution.interpolate(coarse, photos.shape[-2:], interpolate_mode="bilinear")
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=1e-5 * float(ours.max()))
    torch.testing.assert_close(ours, course.grad_cam(any_model, photos, TARGETS, layer))


def expected_centres(model: nn.Module, size: int, cells: int) -> np.ndarray:
    first = lite0_first_centre(size) if hasattr(model, "head") else resnet_first_centre(size)
    return first + 32 * np.arange(cells)


@pytest.mark.parametrize("method", ["grad_cam", "grad_cam_plus_plus"])
def test_receptive_field_placement_interpolates_between_the_true_centres(any_model, photos,
                                                                         method):
    x = F.interpolate(photos, size=(200, 232), mode="bilinear", align_corners=False)
    x = x * torch.tensor([0.5, 1.0, 2.0])[:, None, None, None]  # a different range each
    function = getattr(course, method)
    coarse = function(any_model, x, TARGETS, cam_layer(any_model), upsample=False)
    placed = function(any_model, x, TARGETS, cam_layer(any_model), placement="receptive_field")
    expected = interpolate_at(expected_centres(any_model, 200, coarse.shape[-2]),
                              expected_centres(any_model, 232, coarse.shape[-1]),
                              coarse, (200, 232))
    assert placed.shape == (3, 200, 232)
    torch.testing.assert_close(placed, expected, rtol=1e-4, atol=1e-6 * float(expected.max()))


def test_guided_grad_cam_places_its_cam_too(resnet18, photos):
    placed = course.guided_grad_cam(resnet18, photos, TARGETS, resnet18.layer4,
                                    placement="receptive_field")
    cam = course.grad_cam(resnet18, photos, TARGETS, resnet18.layer4,
                          placement="receptive_field")
    guided = course.guided_backprop(resnet18, photos, TARGETS)
    torch.testing.assert_close(placed, guided * cam[:, None])
    stretched = course.guided_grad_cam(resnet18, photos, TARGETS, resnet18.layer4)
    assert not torch.allclose(placed, stretched)


def test_the_two_placements_differ_by_the_offset(lite0, photos):
    """On Lite0 the placed map moves down and right: its centre of mass by up to 15.5 px
    (less than the full offset, because both maps are held constant at the borders)."""
    stretch = course.grad_cam(lite0, photos, TARGETS, lite0.head)
    placed = course.grad_cam(lite0, photos, TARGETS, lite0.head, placement="receptive_field")
    pixels = torch.arange(224.0) + 0.5
    def centre(maps, dim):
        mass = maps.sum(dim=3 - dim)
        return (mass * pixels).sum(dim=1) / mass.sum(dim=1)

    for dim in (1, 2):  # rows (mass summed over columns), then columns
        shift = centre(placed, dim) - centre(stretch, dim)
        assert ((shift > 5) & (shift <= 15.5)).all(), shift


def test_batch_size_does_not_change_the_placed_map(resnet18, photos):
    x = F.interpolate(photos, size=(161, 97), mode="bilinear", align_corners=False)
    one = course.grad_cam(resnet18, x, TARGETS, "layer4", batch_size=1,
                          placement="receptive_field")
    three = course.grad_cam(resnet18, x, TARGETS, "layer4", batch_size=3,
                            placement="receptive_field")
    torch.testing.assert_close(one, three, rtol=1e-4, atol=1e-6 * float(three.max()))


def test_upsample_cam_stretch_equals_interpolate():
    cam = torch.rand(2, 7, 5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(upsample_cam(cam, (224, 160)),
                               F.interpolate(cam[:, None], size=(224, 160), mode="bilinear",
                                             align_corners=False)[:, 0])


# ----------------------------------------------------------------------------- refusals

def test_bad_placement_is_refused(resnet18, photos):
    with pytest.raises(ValueError, match="stretch"):
        course.grad_cam(resnet18, photos[:1], 0, "layer4", placement="centre")
    with pytest.raises(TypeError, match="placement"):
        course.grad_cam(resnet18, photos[:1], 0, "layer4", placement=3)


class Upsampling(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        self.head = nn.Conv2d(4, 4, 3, stride=4, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.head(self.up(self.a(x))).mean(dim=(2, 3)))


class Disagreeing(nn.Module):
    """Two branches whose cells sit one pixel apart, added together."""

    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.right = nn.Conv2d(3, 4, 3, stride=2)
        self.head = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        both = self.left(x) + self.right(F.pad(x, (0, 1, 0, 1)))
        return self.fc(self.head(both).mean(dim=(2, 3)))


@pytest.mark.parametrize("model_class, words", [(Upsampling, "rearranges positions"),
                                                (Disagreeing, "different positions")])
def test_layers_without_a_grid_are_refused_clearly(model_class, words):
    model = model_class().eval()
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match=words):
        course.grad_cam(model, x, [0, 1], model.head, placement="receptive_field")
    assert course.grad_cam(model, x, [0, 1], model.head).shape == (2, 32, 32)


def test_the_model_is_left_as_found(resnet18, photos):
    resnet18.train()
    flags = [p.requires_grad for p in resnet18.parameters()]
    # the fixture is shared: reference libraries (pytorch-grad-cam calls .backward()) may have
    # left .grad tensors on it, so compare with what was there, value and object
    grads = [None if p.grad is None else p.grad.clone() for p in resnet18.parameters()]
    try:
        course.grad_cam(resnet18, photos[:1], 0, "layer4", placement="receptive_field")
        receptive_field_grid(resnet18, "layer4", photos[:1])
        assert resnet18.training and all(m.training for m in resnet18.modules())
        assert [p.requires_grad for p in resnet18.parameters()] == flags
        for p, before in zip(resnet18.parameters(), grads):
            assert (p.grad is None) == (before is None)
            assert before is None or torch.equal(p.grad, before)
        assert not any(m._forward_hooks for m in resnet18.modules())
    finally:
        resnet18.eval()


def test_random_weights_look_at_their_receptive_field_centres(resnet18):
    """Random weights do not lean: the centre of mass of |∂A/∂x| of a middle cell of ResNet-18
    sits on the traced centre, 32j + 0.5 (measured 0.3–1.7 px into the cell on both axes for
    noise seeds 0–2, hence the 4 px margin). This is what ``placement="receptive_field"`` is
    for."""
    x = torch.rand(1, 3, 1120, 64, generator=torch.Generator().manual_seed(0))
    outputs = []
    handle = resnet18.layer4.register_forward_hook(lambda m, a, out: outputs.append(out))
    leaf = x.clone().requires_grad_(True)
    try:
        resnet18(leaf)
    finally:
        handle.remove()
    cell = outputs[0].shape[2] // 2
    (gradient,) = torch.autograd.grad(outputs[0][:, :, cell].sum(), leaf)
    profile = gradient.abs().sum(dim=(0, 1, 3)).double()
    centre_of_mass = float((profile * (torch.arange(1120.0, dtype=torch.float64) + 0.5)).sum()
                           / profile.sum())
    traced = float(receptive_field_grid(resnet18, resnet18.layer4, x)[0].centres(cell + 1)[cell])
    assert abs(centre_of_mass - traced) < 4, (centre_of_mass, traced)
    assert abs(centre_of_mass - (32 * cell + 16)) > 10  # stretching would be 15.5 px off
