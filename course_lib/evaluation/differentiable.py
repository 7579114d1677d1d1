r"""Attribution maps that stay differentiable with respect to the input, for the top-k attack.

Ghorbani et al.'s attack (:mod:`course_lib.evaluation.fragility`) needs
:math:`\nabla_x` of a *map*, so the map itself must be built with
``create_graph=True``. The course's methods detach their results (a learner's map
should not drag a graph around); the functions here recompute the same maps with the
graph kept, for the methods whose map is a smooth function of the input once the
ReLUs are smoothed: the vanilla gradient, gradient × input, Grad-CAM, Grad-CAM++,
SmoothGrad, SmoothGrad², VarGrad and Integrated Gradients. (DeconvNet, guided
backprop and Guided Grad-CAM replace the ReLU's backward rule; their map has no
useful derivative. Occlusion is a table of forward passes.)

Every function here returns a 2-D map ``(N, H, W)`` collapsed the way the benchmark
collapses maps (``max_abs`` over colour channels), with arguments already checked,
inputs requiring grad, and the model in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401 (interpolate)
from torch import nn

from course_lib.methods.cam import captured_output


def input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial z_c / \partial x` with the graph kept (``x`` requires grad)."""
    score = model(x).gather(1, target[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, x, create_graph=True)
    return gradient


def gradient_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Vanilla gradient, ``max_k |∂z/∂x_k|``."""
    return input_gradient(model, x, target).abs().amax(dim=1)


def gradient_x_input_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor
                         ) -> torch.Tensor:
    """Gradient × input, ``max_k |x_k ∂z/∂x_k|``."""
    return (x * input_gradient(model, x, target)).abs().amax(dim=1)


def noise_draws(x: torch.Tensor, noise_level: float, n_samples: int, seed: int) -> torch.Tensor:
    """``(n_samples, N, 3, H, W)`` Gaussian noise, σ = noise_level · (max − min) per image, seeded."""
    flat = x.detach().flatten(1)
    sigma = noise_level * (flat.amax(dim=1) - flat.amin(dim=1))
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randn((n_samples, *x.shape), generator=generator, dtype=x.dtype)
    return draws.to(x.device) * sigma[None, :, None, None, None]


def smoothgrad_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                   statistic: str = "smoothgrad", noise_level: float = 0.15,
                   n_samples: int = 4, seed: int = 0) -> torch.Tensor:
    """SmoothGrad / SmoothGrad² / VarGrad over ``n_samples`` noisy copies, ``max_abs``."""
    draws = noise_draws(x, noise_level, n_samples, seed)
    noisy = (x[None] + draws).flatten(0, 1)
    gradients = input_gradient(model, noisy, target.repeat(n_samples)).view(n_samples, *x.shape)
    mean, mean_sq = gradients.mean(dim=0), gradients.pow(2).mean(dim=0)
    values = {"smoothgrad": mean, "smoothgrad_sq": mean_sq,
              "vargrad": mean_sq - mean.pow(2)}[statistic]
    return values.abs().amax(dim=1)


def integrated_gradients_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                             steps: int = 4) -> torch.Tensor:
    """Integrated Gradients from a black baseline, ``steps`` Gauss–Legendre nodes, ``max_abs``."""
    import numpy as np

    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)
    w = torch.tensor(weights / 2, dtype=x.dtype, device=x.device)
    path = (alphas[:, None, None, None, None] * x[None]).flatten(0, 1)
    gradients = input_gradient(model, path, target.repeat(steps)).view(steps, *x.shape)
    return (x * (w[:, None, None, None, None] * gradients).sum(dim=0)).abs().amax(dim=1)


def plus_plus_weights(activation: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ channel weights, as :func:`course_lib.methods.cam.grad_cam_plus_plus_weights`
    but with ``clamp`` for the ReLU: it runs inside the ReLU swap, which refuses ``F.relu``."""
    g2 = gradient.pow(2)
    denominator = 2 * g2 + activation.sum(dim=(2, 3), keepdim=True) * gradient.pow(3)
    a = torch.where(denominator != 0, g2 / torch.where(denominator != 0, denominator, 1), 0)
    return (a * gradient.clamp(min=0)).sum(dim=(2, 3))


def cam_map(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layer: str,
            plus_plus: bool = False) -> torch.Tensor:
    """Grad-CAM (or Grad-CAM++) at ``layer`` (a name), upsampled bilinearly, graph kept."""
    with captured_output(model.get_submodule(layer)) as outputs:
        logits = model(x)
    (activation,) = outputs
    score = logits.gather(1, target[:, None]).sum()
    (gradient,) = torch.autograd.grad(score, activation, create_graph=True)
    alpha = plus_plus_weights(activation, gradient) if plus_plus else \
        gradient.mean(dim=(2, 3))
    # clamp, not F.relu: this runs inside the ReLU swap, which refuses functional ReLUs
    cam = (alpha[:, :, None, None] * activation).sum(dim=1).clamp(min=0)
    return F.interpolate(cam[:, None], size=x.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0]
