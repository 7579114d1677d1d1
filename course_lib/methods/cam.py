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

All three methods take ``layer``, an ``nn.Module`` inside ``model`` or its name
(``"head"``, ``"net.layer4"``). The activation is captured with a forward hook
that is always removed again.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.methods.gradients import DEFAULT_BATCH_SIZE, guided_backprop
from course_lib.model_state import attribution_mode

Layer = nn.Module | str


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


def activations_and_gradients(model: nn.Module, x: torch.Tensor, classes: torch.Tensor,
                              layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The layer's feature maps :math:`A` and :math:`\partial z_c / \partial A`, one pass."""
    with captured_output(layer) as outputs:
        logits = model(x.requires_grad_(True))
    if len(outputs) != 1:
        raise ValueError(f"the layer ran {len(outputs)} times in one forward pass; choose a "
                         "layer that runs exactly once")
    check_target_range(classes, logits.shape[1])
    (activation,) = outputs
    (gradient,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), activation)
    return activation.detach(), gradient


def _cam(model: object, inputs: object, target: Target, layer: Layer, upsample: bool,
         batch_size: int, weights_from: str) -> torch.Tensor:
    model, x, classes = prepare(model, inputs, target)
    layer = resolve_layer(model, layer)
    batch_size = check_batch_size(batch_size)
    maps = []
    with attribution_mode(model):
        for x_chunk, c_chunk in zip(x.split(batch_size), classes.split(batch_size)):
            activation, gradient = activations_and_gradients(model, x_chunk.clone(), c_chunk,
                                                             layer)
            if weights_from == "mean_gradient":
                alpha = gradient.mean(dim=(2, 3))
            else:
                alpha = grad_cam_plus_plus_weights(activation, gradient)
            maps.append(F.relu((alpha[:, :, None, None] * activation).sum(dim=1)))
    cam = torch.cat(maps)
    if upsample:
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                            align_corners=False)[:, 0]
    zero = (cam.flatten(1).amax(dim=1) == 0).nonzero().flatten().tolist()
    if zero:
        warnings.warn(f"the class activation map of image(s) {zero} is zero everywhere: no "
                      "channel of this layer pushes the class score up. Returning zeros.",
                      stacklevel=3)
    return cam.to(inputs.device)


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: Layer,
             upsample: bool = True, batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Grad-CAM (Selvaraju et al. 2017): :math:`\mathrm{ReLU}(\sum_k \alpha_k^c A^k)`.

    Returns ``(N, H, W)`` at the image's size (bilinear upsampling), or
    ``(N, h, w)`` at the layer's size with ``upsample=False``.
    """
    return _cam(model, inputs, target, layer, upsample, batch_size, "mean_gradient")


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
                       upsample: bool = True,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Grad-CAM++ (Chattopadhay et al. 2018): Grad-CAM with pixel-weighted channel weights.

    Weighs each location's positive gradient so that several instances of a class
    all count, instead of the plain spatial mean. Returns ``(N, H, W)``.
    """
    return _cam(model, inputs, target, layer, upsample, batch_size, "plus_plus")


def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: Layer,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Guided Grad-CAM (Selvaraju et al. 2017): guided backprop × upsampled Grad-CAM.

    .. math:: R^c = R^c_{\text{guided}} \odot \mathrm{up}(L^c)

    Fine detail from guided backprop, class discrimination from Grad-CAM.
    Returns ``(N, 3, H, W)`` like the inputs.
    """
    cam = grad_cam(model, inputs, target, layer, upsample=True, batch_size=batch_size)
    return guided_backprop(model, inputs, target, batch_size=batch_size) * cam[:, None]
