r"""Gradient-based attribution: vanilla gradient, gradient × input, DeconvNet, guided backprop.

All four share one signature::

    method(model, inputs, target) -> attribution

``inputs`` is a float tensor ``(N, 3, H, W)`` of images in [0, 1], ``target`` one
ImageNet class index per image (or one ``int`` for all), and the attribution has
the shape of ``inputs``, on the same device. Each needs one forward and one
backward pass per chunk of ``batch_size`` images: the images do not interact in
eval mode, so the gradient of :math:`\sum_i z_{c_i}(x_i)` with respect to
:math:`x_i` is :math:`\nabla z_{c_i}(x_i)`. A backward pass keeps every
activation of the chunk in memory (about 110 MB per 224 × 224 image for
EfficientNet-Lite0), hence the small default; raise it on a GPU. The model is
run in eval mode with frozen parameters and is left exactly as it was found
(:mod:`course_lib.model_state`).
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from course_lib.checks import Target, check_batch_size, check_target_range, prepare
from course_lib.model_state import attribution_mode
from course_lib.methods.relu_rules import Rule, relu_backward_rule


def class_score_gradient(model: nn.Module, inputs: torch.Tensor,
                         target: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial z_c / \partial x` for already-checked arguments on one device.

    Backpropagates the *logit* :math:`z_c` (not the softmax probability, which
    also depends on every other class's score).
    """
    x = inputs.detach().clone().requires_grad_(True)
    logits = model(x)
    check_target_range(target, logits.shape[1])
    score = logits.gather(1, target[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, x)
    return gradient


DEFAULT_BATCH_SIZE = 2


def _attribute(model: object, inputs: object, target: Target, batch_size: int,
               rule: Rule | None = None) -> torch.Tensor:
    model, x, classes = prepare(model, inputs, target)
    batch_size = check_batch_size(batch_size)
    with attribution_mode(model), (relu_backward_rule(model, rule) if rule else nullcontext()):
        gradient = torch.cat([class_score_gradient(model, x_chunk, c_chunk) for x_chunk, c_chunk
                              in zip(x.split(batch_size), classes.split(batch_size))])
    return gradient.to(inputs.device)


def vanilla_gradient(model: nn.Module, inputs: torch.Tensor, target: Target,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Vanilla gradient (Simonyan, Vedaldi & Zisserman 2013, arXiv:1312.6034).

    .. math:: R^c = \left.\frac{\partial z_c}{\partial I}\right|_{I = I_0}

    the weight vector :math:`w` of the first-order Taylor expansion
    :math:`z_c(I) \approx w^\top I + b`. Signed; Simonyan et al. display
    :math:`\max_{\text{channel}} |R^c|` (:func:`course_lib.aggregate_channels`).
    """
    return _attribute(model, inputs, target, batch_size)


def gradient_x_input(model: nn.Module, inputs: torch.Tensor, target: Target,
                     batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Gradient × input (Shrikumar et al. 2016, arXiv:1605.01713).

    .. math:: R^c_i = I_i \cdot \frac{\partial z_c}{\partial I_i}

    each pixel's share in the linear approximation :math:`w^\top I`.
    """
    return _attribute(model, inputs, target, batch_size) * inputs


def deconvnet(model: nn.Module, inputs: torch.Tensor, target: Target,
              batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""DeconvNet (Zeiler & Fergus 2014, arXiv:1311.2901).

    Backpropagates :math:`z_c` with every ReLU passing :math:`R_n = \max(R_{n+1}, 0)`:
    the sign of the *backward* signal decides, the forward activation is ignored.
    Needs ReLU *modules* (``nn.ReLU`` or ``nn.ReLU6``).
    """
    return _attribute(model, inputs, target, batch_size, rule="deconvnet")


def guided_backprop(model: nn.Module, inputs: torch.Tensor, target: Target,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    r"""Guided backpropagation (Springenberg et al. 2014, arXiv:1412.6806).

    Every ReLU passes :math:`R_n = \mathbb{I}(X_n > 0)\,\max(R_{n+1}, 0)`: only
    where the forward activation was on *and* the backward signal is positive.
    Needs ReLU *modules* (``nn.ReLU`` or ``nn.ReLU6``).
    """
    return _attribute(model, inputs, target, batch_size, rule="guided")
