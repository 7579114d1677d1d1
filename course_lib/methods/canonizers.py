r"""Canonizers: rewrite a network into an equivalent one that a propagation rule is written for.

LRP's rules are defined for layers of the form :math:`z_k = \sum_j a_j w_{jk} + b_k` followed
by an activation. A BatchNorm layer in eval mode is not one of them, but it is a per-channel
affine map,

.. math:: \mathrm{BN}(u) = \gamma\,\frac{u - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta
          = s\,u + t, \qquad s = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}}, \quad t = \beta - s\,\mu,

so a convolution (or linear layer) followed by it is *one* layer with weights
:math:`w'_{k} = s_k w_k` and bias :math:`b'_k = s_k b_k + t_k` (Montavon et al. 2019, "Layer-wise
relevance propagation: an overview", §10.3; zennit calls such rewrites *canonizers*). The
function is the same up to rounding; a rule such as LRP-γ or z⁺, which looks at the signs of
the weights, then sees the weights that really act on the input.

* :func:`folded_parameters` — the folded weight and bias of one (layer, BatchNorm) pair;
* :func:`fold_batchnorm` — fold every BatchNorm that follows a convolution inside an
  ``nn.Sequential``, in place (used on private copies, e.g. by the fragility attack);
* :func:`batchnorm_pairs` — find the pairs by *watching* one forward pass, so BatchNorms called
  from a block's ``forward`` (torchvision's ResNet blocks) are found too; LRP folds them on the
  fly without touching the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

RULE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def foldable(batchnorm: nn.Module) -> bool:
    """An eval-mode BatchNorm with running statistics: a fixed per-channel affine map."""
    return (isinstance(batchnorm, BATCHNORMS) and batchnorm.track_running_stats
            and batchnorm.running_var is not None)


@torch.no_grad()
def folded_parameters(layer: nn.Module, batchnorm: nn.Module | None
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Weight and bias of ``batchnorm ∘ layer`` as one layer: :math:`(s\,w,\; s\,b + t)`.

    Without a BatchNorm, the layer's own parameters (detached). New tensors; the modules are
    not changed.
    """
    weight = layer.weight.detach()
    bias = None if layer.bias is None else layer.bias.detach()
    if batchnorm is None:
        return weight, bias
    scale = batchnorm.running_var.add(batchnorm.eps).rsqrt()
    if batchnorm.affine:
        scale = scale * batchnorm.weight
    shift = -batchnorm.running_mean * scale + (batchnorm.bias if batchnorm.affine else 0)
    folded_bias = shift if bias is None else bias * scale + shift
    return weight * scale.view(-1, *[1] * (weight.ndim - 1)), folded_bias.detach().clone()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    r"""Fold every eval-mode ``BatchNorm`` that directly follows a ``Conv2d`` inside an
    ``nn.Sequential`` into that convolution (in place; pass a copy).

    In eval mode BatchNorm is the per-channel affine map :math:`s\,u + t`, so the convolution
    can absorb it: the same function (up to rounding) with fewer operations. The BatchNorm is
    replaced by ``nn.Identity``.
    """
    for parent in list(model.modules()):
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = parent._modules[first], parent._modules[second]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                    and foldable(bn)):
                continue
            weight, bias = folded_parameters(conv, bn)
            with torch.no_grad():
                conv.weight.copy_(weight)
            conv.bias = nn.Parameter(bias, requires_grad=False)
            setattr(parent, second, nn.Identity())
    return model


@dataclass
class Trace:
    """What one watched forward pass revealed about a model's rule layers.

    ``order``: the names of the Linear/Conv layers in the order they were first called;
    ``batchnorm_of``: layer name → name of the BatchNorm that consumes its output directly;
    ``calls``: how often each watched module ran; ``first_input``: the tensor the first rule
    layer received (for the whole traced batch).
    """

    order: list[str]
    batchnorm_of: dict[str, str]
    unpaired: list[str]
    calls: dict[str, int]
    first_input: torch.Tensor | None


@torch.no_grad()
def batchnorm_pairs(model: nn.Module, example: torch.Tensor) -> Trace:
    """Run ``model(example)`` once, watching every Linear/Conv and BatchNorm module.

    A BatchNorm is paired with the layer whose output tensor *is* its input (the very same
    object, so nothing happened in between). Works however the forward pass is written:
    ``nn.Sequential`` or a block's own ``forward``. The watching hooks are removed afterwards,
    also after an exception.
    """
    names = {module: name for name, module in model.named_modules()}
    order: list[str] = []
    calls: dict[str, int] = {}
    produced: list[tuple[torch.Tensor, str]] = []  # kept alive: identity checks need the objects
    batchnorm_of: dict[str, str] = {}
    unpaired: list[str] = []
    first_input: list[torch.Tensor] = []

    def after_layer(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        if name not in order:
            order.append(name)
        if not first_input:
            first_input.append(inputs[0])
        produced.append((output, name))

    def after_batchnorm(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        name = names[module]
        calls[name] = calls.get(name, 0) + 1
        producer = next((layer for tensor, layer in produced if tensor is inputs[0]), None)
        if producer is None or (producer in batchnorm_of and batchnorm_of[producer] != name):
            unpaired.append(name)
        else:
            batchnorm_of[producer] = name

    handles = []
    try:
        for module, name in names.items():
            if isinstance(module, RULE_LAYERS):
                handles.append(module.register_forward_hook(after_layer))
            elif isinstance(module, BATCHNORMS):
                handles.append(module.register_forward_hook(after_batchnorm))
        model(example)
    finally:
        for handle in handles:
            handle.remove()
    return Trace(order, batchnorm_of, unpaired, calls, first_input[0] if first_input else None)
