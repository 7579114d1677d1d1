r"""Class activation maps: Grad-CAM, Grad-CAM++ and Guided Grad-CAM.

Grad-CAM (Selvaraju et al. 2017, arXiv:1610.02391) explains class :math:`c` at a
convolutional layer with feature maps :math:`A^k` (``k`` = channel):

.. math::

    \alpha_k^c = \frac{1}{Z}\sum_{i,j} \frac{\partial z_c}{\partial A^k_{ij}}, \qquad
    L^c = \mathrm{ReLU}\Big(\sum_k \alpha_k^c A^k\Big)

The map has the layer's resolution (7 × 7 for EfficientNet-Lite0's ``head``) and
is upsampled bilinearly to the image. Maps are returned **unnormalised**, so
magnitudes can be compared across images, classes and layers; a map that is zero
everywhere stays zero (with a warning), never NaN.

**Where the cells go on the image** (``placement``). ``"stretch"``, the default,
spreads the ``h × w`` grid evenly over the image: cell ``j`` sits at the centre of
the ``j``-th ``H/h``-pixel patch, ``F.interpolate(..., "bilinear",
align_corners=False)``, exactly as Captum's ``LayerAttribution.interpolate(...,
"bilinear")`` and pytorch-grad-cam (``cv2.resize``) do. ``"receptive_field"`` puts
cell ``j`` at the centre of its *theoretical receptive field*, traced by
:func:`receptive_field_grid` from the strides, paddings and kernel sizes of the
convolutions and pools the forward pass ran before ``layer``: ``32j + 0.5`` px for
ResNet-18 at 224 × 224 (symmetric padding), ``32j + 31.5`` px for
EfficientNet-Lite0 (TensorFlow "same" padding puts the odd pixel of every stride-2
layer at the bottom/right). Stretch is the default because the theoretical centre
says where a cell *can* look, not where it *does*: EfficientNet-Lite0's stride-2
kernels learned to lean up-left, and the measured centre of the gradient mass of a
head cell lies about 17 px into its 32-pixel patch (notebook 03), next to the
stretched position (16), not at the geometric one (31.5). Use ``"receptive_field"``
for networks whose weights do not compensate their padding (random weights, for
example), after measuring it as notebook 03 does.

All three methods take ``layer``, an ``nn.Module`` inside ``model`` or its name
(``"head"``, ``"net.layer4"``). The activation is captured with a forward hook
that is always removed again.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import (
    Target,
    check_batch_size,
    check_inputs,
    check_model,
    check_target_range,
    model_device,
    prepare,
)
from course_lib.methods.gradients import DEFAULT_BATCH_SIZE, guided_backprop
from course_lib.model_state import attribution_mode

Layer = nn.Module | str
Placement = Literal["stretch", "receptive_field"]
PLACEMENTS: tuple[str, ...] = ("stretch", "receptive_field")


def resolve_layer(model: nn.Module, layer: Layer) -> nn.Module:
    """The module ``layer`` names inside ``model``, checking that it belongs to the model."""
    if isinstance(layer, str):
        try:
            return model.get_submodule(layer)
        except AttributeError as err:
            raise ValueError(f"model has no layer named {layer!r}") from err
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be an nn.Module or its name, got {type(layer).__name__}")
    if not any(module is layer for module in model.modules()):
        raise ValueError("layer is not a module of this model")
    return layer


def check_placement(placement: object) -> str:
    """``placement`` must be ``"stretch"`` or ``"receptive_field"``."""
    if not isinstance(placement, str):
        raise TypeError(f"placement must be one of {PLACEMENTS}, got {type(placement).__name__}")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    return placement


@contextmanager
def captured_output(layer: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record ``layer``'s output on every forward pass inside the block.

    The hook hands a *copy* downstream, so an in-place operation after the layer
    (``out += identity`` in a ResNet block) cannot overwrite the recorded tensor.
    """
    outputs: list[torch.Tensor] = []

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            raise ValueError(f"the layer must output a (N, K, h, w) feature map, got "
                             f"{type(output).__name__} {getattr(output, 'shape', '')}")
        outputs.append(output)
        return output.clone()

    handle = layer.register_forward_hook(record)
    try:
        yield outputs
    finally:
        handle.remove()


# ----------------------------------------------------------------------------- geometry

class AxisGrid(NamedTuple):
    """Where a layer's cells sit along one image axis, in pixels.

    Pixel ``p`` covers ``[p, p + 1)``; the receptive field of cell ``j`` is centred at
    ``first + stride * j``.
    """

    stride: float
    first: float

    def centres(self, n: int) -> torch.Tensor:
        return self.first + self.stride * torch.arange(n, dtype=torch.float64)


class _Global:
    """A branch that pooled the whole image (squeeze-and-excitation): no position."""


class _Broken(NamedTuple):
    reason: str


_GLOBAL = _Global()
# autograd nodes that rearrange positions in a way no receptive-field grid describes
_LAYOUT_CHANGING = ("View", "Reshape", "Permute", "Transpose", "Select", "Index", "Upsample",
                    "Unfold", "Im2Col", "Col2Im", "PixelShuffle", "PixelUnshuffle",
                    "GridSampler", "Flip", "Roll", "AsStrided", "Squeeze", "Stack", "Gather",
                    "Scatter", "Narrow", "Split", "Expand", "Repeat", "Fold", "Interpolate")
_GLOBAL_POOLS = ("AdaptiveAvgPool", "AdaptiveMaxPool")
_SPATIAL_DIMS = (2, 3, -1, -2)


def _saved(node: object, name: str, default: object = None) -> object:
    try:
        return getattr(node, name)
    except (AttributeError, RuntimeError):
        return default


def _window_centre(node: object, kind: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """(scale, shift) per axis of a sliding window: output j ↦ input index ``s·j − p + d(k−1)/2``."""
    if kind == "conv":
        kernel = tuple(_saved(node, "_saved_weight").shape[2:])
        dilation = tuple(_saved(node, "_saved_dilation"))
    else:
        kernel = tuple(_saved(node, "_saved_kernel_size"))
        dilation = tuple(_saved(node, "_saved_dilation", (1, 1)) or (1, 1))
    stride = tuple(_saved(node, "_saved_stride") or kernel)
    padding = tuple(_saved(node, "_saved_padding"))
    if len(kernel) == 1:
        kernel, stride, padding, dilation = (kernel * 2, stride * 2, padding * 2, dilation * 2)
    if len(dilation) == 1:
        dilation = dilation * 2
    return tuple((float(s), -float(p) + d * (k - 1) / 2)  # type: ignore[return-value]
                 for k, s, p, d in zip(kernel, stride, padding, dilation))


def _node_op(node: object) -> tuple[str, object]:
    """What an autograd node does to positions: ('window'|'shift'|'slice', …), 'global',
    'broken' or 'neutral' (pointwise, BatchNorm, additions, channel concatenation …)."""
    name = type(node).__name__
    if name.startswith("Convolution"):
        if _saved(node, "_saved_transposed", False):
            return "broken", "a transposed convolution"
        if len(_saved(node, "_saved_weight").shape) != 4:
            return "broken", f"a {len(_saved(node, '_saved_weight').shape) - 2}-D convolution"
        return "window", _window_centre(node, "conv")
    if name.startswith(("MaxPool2D", "AvgPool2D")):
        return "window", _window_centre(node, "pool")
    if name.startswith("ConstantPadNd"):
        pad = list(_saved(node, "_saved_pad")) + [0, 0, 0, 0]
        return "shift", (-float(pad[2]), -float(pad[0]))  # F.pad: (left, right, top, bottom)
    if name.startswith(("ReflectionPad2D", "ReplicationPad2D")):
        pad = list(_saved(node, "_saved_padding"))
        return "shift", (-float(pad[2]), -float(pad[0]))
    if name.startswith(_GLOBAL_POOLS):
        return "global", None
    if name.startswith(("Mean", "Sum", "Amax", "Amin", "Max", "Min", "Std", "Var")):
        dims = _saved(node, "_saved_dim")
        if dims is None:  # a reduction of everything
            return "global", None
        dims = [dims] if isinstance(dims, int) else list(dims)
        return ("global", None) if any(d in _SPATIAL_DIMS for d in dims) else ("neutral", None)
    if name.startswith("Slice"):
        dim = _saved(node, "_saved_dim")
        if dim in _SPATIAL_DIMS:
            axis = 0 if dim in (2, -2) else 1
            return "slice", (axis, float(_saved(node, "_saved_start") or 0),
                             float(_saved(node, "_saved_step") or 1))
        return "neutral", None
    if name.startswith("Cat"):
        dim = _saved(node, "_saved_dim")
        return ("broken", "a concatenation along a spatial axis") if dim in _SPATIAL_DIMS \
            else ("neutral", None)
    if name.startswith(_LAYOUT_CHANGING):
        return "layout", name
    return "neutral", None


def _combine(results: list[object]) -> object:
    """Merge the geometries of the inputs of one node (all branches must agree)."""
    results = [r for r in results if r is not None]
    broken = [r for r in results if isinstance(r, _Broken)]
    if broken:
        return broken[0]
    grids = [r for r in results if isinstance(r, tuple)]
    for grid in grids[1:]:
        if any(abs(a - b) > 1e-6 for a, b in zip(grid, grids[0])):
            return _Broken("two branches before the layer place the same cell at different "
                           f"positions ({grids[0]} vs {grid})")
    if grids:
        return grids[0]
    return _GLOBAL if results else None


def _apply(op: str, arg: object, child: object) -> object:
    """The geometry of a node's output from that of its (data) input."""
    if child is None or isinstance(child, (_Broken, _Global)):
        return child
    (ra, rb), (ca, cb) = child[:2], child[2:]
    if op == "window":
        (rs, rc), (cs, cc) = arg
        return (ra * rs, ra * rc + rb, ca * cs, ca * cc + cb)
    if op == "shift":
        dr, dc = arg
        return (ra, ra * dr + rb, ca, ca * dc + cb)
    if op == "slice":
        axis, start, step = arg
        if axis == 0:
            return (ra * step, ra * start + rb, ca, cb)
        return (ra, rb, ca * step, ca * start + cb)
    if op == "global":
        return _GLOBAL
    if op in ("layout", "broken"):
        return _Broken(f"{arg} between the input and the layer" if op == "broken" else
                       f"an operation that rearranges positions ({arg}) between the input "
                       "and the layer")
    return child


def trace_receptive_field_grid(output: torch.Tensor, inputs: torch.Tensor
                               ) -> tuple[AxisGrid, AxisGrid]:
    """Rows and columns grid of ``output`` (N, K, h, w) on ``inputs`` (N, C, H, W).

    Walks the autograd graph of the forward pass that computed ``output`` from the
    leaf tensor ``inputs`` and composes, along every path, the sliding windows of
    the convolutions and pools (``s·j − p + d(k−1)/2``) and the explicit paddings
    (``F.pad``). All paths must agree; branches that pooled the whole image
    (squeeze-and-excitation) are ignored. Raises ``ValueError`` for operations no grid
    describes (upsampling, reshapes, transposed convolutions).
    """
    root = output.grad_fn
    if root is None:
        raise ValueError("the layer's output has no autograd graph: run the forward pass "
                         "with inputs that require a gradient")
    memo: dict[object, object] = {}
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if node is None or (node in memo and not expanded):
            continue
        if type(node).__name__ == "AccumulateGrad":
            memo[node] = (1.0, 0.0, 1.0, 0.0) if node.variable is inputs else None
            continue
        op, arg = _node_op(node)
        children = [child for child, _ in node.next_functions]
        if op in ("window", "shift", "slice"):
            children = children[:1]  # the data input (the rest are weights and biases)
        if not expanded:
            stack.append((node, True))
            stack.extend((child, False) for child in children
                         if child is not None and child not in memo)
            continue
        memo[node] = _apply(op, arg, _combine([memo.get(child) for child in children]))
    result = memo.get(root)
    if isinstance(result, _Broken):
        raise ValueError(f"cannot place the layer's cells on the image: {result.reason}; "
                         "use placement='stretch'")
    if not isinstance(result, tuple):
        raise ValueError("the layer's output does not depend on the positions of the input "
                         "pixels; use placement='stretch'")
    row_scale, row_shift, col_scale, col_shift = result
    return (AxisGrid(row_scale, row_shift + 0.5), AxisGrid(col_scale, col_shift + 0.5))


def receptive_field_grid(model: nn.Module, layer: Layer, inputs: torch.Tensor
                         ) -> tuple[AxisGrid, AxisGrid]:
    """Where the receptive fields of ``layer``'s rows and columns are centred, in pixels.

    Runs ``model`` forwards once on the first image of ``inputs`` (only its size matters:
    TensorFlow "same" padding depends on it) and traces the windows before ``layer``
    (:func:`trace_receptive_field_grid`). For EfficientNet-Lite0's ``head`` at
    224 × 224: ``AxisGrid(stride=32, first=31.5)`` for both axes; for ResNet-18's
    ``layer4``: ``AxisGrid(32, 0.5)``.
    """
    model = check_model(model)
    inputs = check_inputs(inputs)
    layer = resolve_layer(model, layer)
    device = model_device(model, inputs.device)
    x = torch.zeros_like(inputs[:1], device=device).requires_grad_(True)
    with attribution_mode(model), torch.enable_grad(), captured_output(layer) as outputs:
        model(x)
    if len(outputs) != 1:
        raise ValueError(f"the layer ran {len(outputs)} times in one forward pass; choose a "
                         "layer that runs exactly once")
    return trace_receptive_field_grid(outputs[0], x)


def _interpolation_weights(centres: torch.Tensor, size: int) -> torch.Tensor:
    """(size, n): linear interpolation between increasing ``centres``, constant outside."""
    n = len(centres)
    if n == 1:
        return torch.ones(size, 1, dtype=torch.float64)
    pixels = torch.arange(size, dtype=torch.float64) + 0.5
    right = torch.searchsorted(centres, pixels).clamp(1, n - 1)
    left = right - 1
    t = ((pixels - centres[left]) / (centres[right] - centres[left])).clamp(0, 1)
    weights = torch.zeros(size, n, dtype=torch.float64)
    rows = torch.arange(size)
    weights[rows, left] = 1 - t
    weights[rows, right] += t
    return weights


def upsample_cam(cam: torch.Tensor, size: tuple[int, int],
                 grid: tuple[AxisGrid, AxisGrid] | None = None) -> torch.Tensor:
    """Upsample maps ``(N, h, w)`` to ``(N, H, W)`` bilinearly.

    ``grid=None`` stretches the grid over the image (``align_corners=False``); with a
    grid from :func:`receptive_field_grid` each value is placed at its cell's
    receptive-field centre, interpolated linearly between centres and held constant
    beyond the outermost ones (as ``align_corners=False`` does at the borders).
    """
    if grid is None:
        return F.interpolate(cam[:, None], size=tuple(size), mode="bilinear",
                             align_corners=False)[:, 0]
    rows = _interpolation_weights(grid[0].centres(cam.shape[-2]), size[0])
    cols = _interpolation_weights(grid[1].centres(cam.shape[-1]), size[1])
    rows, cols = rows.to(cam.device, cam.dtype), cols.to(cam.device, cam.dtype)
    return torch.einsum("Hh,nhw,Ww->nHW", rows, cam, cols)


# ----------------------------------------------------------------------------- the maps

def _activations_gradients_grid(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                                layer: nn.Module, want_grid: bool
                                ) -> tuple[torch.Tensor, torch.Tensor,
                                           tuple[AxisGrid, AxisGrid] | None]:
    x = x.requires_grad_(True)
    with captured_output(layer) as outputs:
        logits = model(x)
    if len(outputs) != 1:
        raise ValueError(f"the layer ran {len(outputs)} times in one forward pass; choose a "
                         "layer that runs exactly once")
    check_target_range(classes, logits.shape[1])
    (activation,) = outputs
    grid = trace_receptive_field_grid(activation, x) if want_grid else None
    (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activation)
    return activation.detach(), gradient, grid


def activations_and_gradients(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                              layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The layer's feature maps :math:`A` and :math:`\partial z_c / \partial A`, one pass."""
    activation, gradient, _ = _activations_gradients_grid(model, x, classes, layer, False)
    return activation, gradient


def _cam(model: object, inputs: object, target: Target, layer: Layer, upsample: bool,
         batch_size: int, weights_from: str, placement: object) -> torch.Tensor:
    model, x, classes = prepare(model, inputs, target)
    layer = resolve_layer(model, layer)
    batch_size = check_batch_size(batch_size)
    placement = check_placement(placement)
    want_grid = upsample and placement == "receptive_field"
    maps, grid = [], None
    with attribution_mode(model):
        for x_chunk, c_chunk in zip(x.split(batch_size), classes.split(batch_size)):
            activation, gradient, chunk_grid = _activations_gradients_grid(
                model, x_chunk.clone(), c_chunk, layer, want_grid and grid is None)
            grid = grid or chunk_grid
            if weights_from == "mean_gradient":
                alpha = gradient.mean(dim=(2, 3))
            else:
                alpha = grad_cam_plus_plus_weights(activation, gradient)
            maps.append(F.relu((alpha[:, :, None, None] * activation).sum(dim=1)))
    cam = torch.cat(maps)
    if upsample:
        cam = upsample_cam(cam, tuple(x.shape[-2:]), grid)
    zero = (cam.flatten(1).amax(dim=1) == 0).nonzero().flatten().tolist()
    if zero:
        warnings.warn(f"the class activation map of image(s) {zero} is zero everywhere: no "
                      "channel of this layer pushes the class score up. Returning zeros.",
                      stacklevel=3)
    return cam.to(inputs.device)


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: Layer,
             upsample: bool = True, batch_size: int = DEFAULT_BATCH_SIZE,
             placement: Placement = "stretch") -> torch.Tensor:
    r"""Grad-CAM (Selvaraju et al. 2017): :math:`\mathrm{ReLU}(\sum_k \alpha_k^c A^k)`.

    Returns ``(N, H, W)`` at the image's size (bilinear upsampling), or
    ``(N, h, w)`` at the layer's size with ``upsample=False``. ``placement`` says where
    the cells go on the image: ``"stretch"`` (default; the convention of Captum and
    pytorch-grad-cam) or ``"receptive_field"`` (each cell at the
    centre of its traced receptive field); see the module docstring for the choice.
    """
    return _cam(model, inputs, target, layer, upsample, batch_size, "mean_gradient",
                placement)


def grad_cam_plus_plus_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    r"""Grad-CAM++ channel weights (Chattopadhay et al. 2018, arXiv:1710.11063, eq. 19).

    With :math:`g = \partial z_c / \partial A^k_{ij}` and the exponential trick that
    turns second and third derivatives into powers of :math:`g`:

    .. math::

        a^{kc}_{ij} = \frac{g^2}{2 g^2 + \sum_{ab} A^k_{ab}\, g^3}, \qquad
        w^c_k = \sum_{ij} a^{kc}_{ij}\, \mathrm{ReLU}(g)

    (the paper's extra positive factor :math:`\exp(z_c)` only rescales the map
    and is left out, as in its reference implementations).
    """
    g2 = gradient.pow(2)
    denominator = 2 * g2 + activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)
    a = torch.where(denominator != 0, g2 / torch.where(denominator != 0, denominator, 1), 0)
    return (a * F.relu(gradient)).sum(dim=(2, 3))


def grad_cam_plus_plus(model: nn.Module, inputs: torch.Tensor, target: Target, layer: Layer,
                       upsample: bool = True, batch_size: int = DEFAULT_BATCH_SIZE,
                       placement: Placement = "stretch") -> torch.Tensor:
    r"""Grad-CAM++ (Chattopadhay et al. 2018): Grad-CAM with pixel-weighted channel weights.

    Weighs each location's positive gradient so that several instances of a class
    all count, instead of the plain spatial mean. Returns ``(N, H, W)``;
    ``placement`` as in :func:`grad_cam`.
    """
    return _cam(model, inputs, target, layer, upsample, batch_size, "plus_plus", placement)


def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: Layer,
                    batch_size: int = DEFAULT_BATCH_SIZE,
                    placement: Placement = "stretch") -> torch.Tensor:
    r"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop × upsampled Grad-CAM.

    .. math:: R^c = R^c_{\text{guided}} \odot \mathrm{up}(L^c)

    Fine detail from guided backprop, class discrimination from Grad-CAM.
    Returns ``(N, 3, H, W)`` like the inputs; ``placement`` as in :func:`grad_cam`.
    """
    cam = grad_cam(model, inputs, target, layer, upsample=True, batch_size=batch_size,
                   placement=placement)
    return guided_backprop(model, inputs, target, batch_size=batch_size) * cam[:, None]
