r"""Integrated Gradients: attribution along a straight path from a reference image.

Sundararajan, Taly & Yan 2017 ("Axiomatic attribution for deep networks",
arXiv:1703.01365). With a baseline :math:`x'` and :math:`\gamma(\alpha) = x' + \alpha (x - x')`:

.. math::

    \mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial z_c}{\partial x_i}
    \big(\gamma(\alpha)\big)\, d\alpha
    \approx (x_i - x'_i) \sum_{k=1}^{m} w_k\, \frac{\partial z_c}{\partial x_i}\big(\gamma(\alpha_k)\big)

and, by the fundamental theorem of calculus along the path, **completeness**:
:math:`\sum_i \mathrm{IG}_i(x) = z_c(x) - z_c(x')`, up to the quadrature error.

Quadrature rules with ``steps`` = :math:`m` gradient evaluations:
``left``/``right``/``midpoint`` Riemann sums (:math:`w_k = 1/m`), ``trapezoid``
(:math:`m` points from 0 to 1, ends weighted half) and ``gausslegendre``
(Captum's default).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, check_inputs, prepare
from course_lib.data.images import gaussian_blur
from course_lib.methods.gradients import class_score_gradient
from course_lib.model_state import attribution_mode

QuadratureRule = Literal["left", "right", "midpoint", "trapezoid", "gausslegendre"]
RULES: tuple[str, ...] = ("left", "right", "midpoint", "trapezoid", "gausslegendre")
BaselineKind = Literal["black", "blurred", "noise"]


def quadrature(rule: QuadratureRule, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Points :math:`\alpha_k \in [0, 1]` and weights :math:`w_k` (summing to 1) of a rule."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    minimum = 2 if rule == "trapezoid" else 1
    if steps < minimum:
        raise ValueError(f"the {rule} rule needs steps >= {minimum}, got {steps}")
    m = steps
    if rule == "left":
        alphas = np.arange(m) / m
    elif rule == "right":
        alphas = np.arange(1, m + 1) / m
    elif rule == "midpoint":
        alphas = (np.arange(m) + 0.5) / m
    elif rule == "trapezoid":
        alphas = np.linspace(0, 1, m)
        weights = np.full(m, 1 / (m - 1))
        weights[[0, -1]] /= 2
        return torch.tensor(alphas), torch.tensor(weights)
    elif rule == "gausslegendre":
        nodes, node_weights = np.polynomial.legendre.leggauss(m)  # on [-1, 1]
        return torch.tensor((nodes + 1) / 2), torch.tensor(node_weights / 2)
    else:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")
    return torch.tensor(alphas), torch.full((m,), 1 / m, dtype=torch.float64)


def make_baseline(inputs: torch.Tensor, kind: BaselineKind = "black", blur_sigma: float = 10.0,
                  seed: int = 0) -> torch.Tensor:
    """A reference image for each input: ``"black"`` (zeros, "no signal"), ``"blurred"``
    (same colours, no edges or texture: Gaussian blur with ``blur_sigma`` pixels) or
    ``"noise"`` (uniform random pixels, seeded)."""
    inputs = check_inputs(inputs)
    if kind == "black":
        return torch.zeros_like(inputs)
    if kind == "blurred":
        return gaussian_blur(inputs, blur_sigma)
    if kind == "noise":
        generator = torch.Generator(inputs.device).manual_seed(seed)
        return torch.rand(inputs.shape, generator=generator, device=inputs.device,
                          dtype=inputs.dtype)
    raise ValueError(f"unknown baseline {kind!r}; choose 'black', 'blurred' or 'noise'")


def check_baseline(baseline: object, x: torch.Tensor) -> torch.Tensor:
    """A baseline kind or tensor → a baseline shaped like ``x`` (one per image), or a clear error."""
    if isinstance(baseline, str):
        return make_baseline(x, baseline)
    if not isinstance(baseline, torch.Tensor):
        raise TypeError("baseline must be 'black', 'blurred', 'noise' or a tensor, got "
                        f"{type(baseline).__name__}")
    if baseline.shape != x.shape[1:] and baseline.shape != x.shape:
        raise ValueError(f"baseline has shape {tuple(baseline.shape)}; it must match the "
                         f"inputs {tuple(x.shape)} or one image {tuple(x.shape[1:])}")
    if not baseline.is_floating_point() or not torch.isfinite(baseline).all():
        raise ValueError("baseline must be a finite floating-point tensor")
    return baseline.to(x.device, x.dtype).expand_as(x)


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target: Target,
                         baseline: BaselineKind | torch.Tensor = "black", steps: int = 50,
                         rule: QuadratureRule = "gausslegendre", batch_size: int = 4,
                         progress: bool = True) -> torch.Tensor:
    """Integrated Gradients, ``(N, 3, H, W)``.

    ``baseline`` is a kind for :func:`make_baseline` or a tensor; ``batch_size``
    is the number of path images per forward/backward pass (the memory knob).
    """
    model, x, classes = prepare(model, inputs, target)
    reference = check_baseline(baseline, x)
    alphas, weights = quadrature(rule, steps)
    per_pass = max(1, check_batch_size(batch_size) // len(x))
    total = torch.zeros_like(x)
    difference = x - reference
    with attribution_mode(model), tqdm(total=steps, desc="IG steps", disable=not progress,
                                       leave=False) as bar:
        for alpha, weight in zip(alphas.split(per_pass), weights.split(per_pass)):
            k = len(alpha)
            a = alpha.to(x.device, x.dtype)[:, None, None, None, None]
            path = (reference[None] + a * difference[None]).flatten(0, 1)  # alpha-major
            gradient = class_score_gradient(model, path, classes.repeat(k))
            w = weight.to(x.device, x.dtype)[:, None, None, None, None]
            total += (w * gradient.view(k, *x.shape)).sum(dim=0)
            bar.update(k)
    return (difference * total).to(inputs.device)


@torch.no_grad()
def completeness_gap(model: nn.Module, inputs: torch.Tensor, attribution: torch.Tensor,
                     target: Target, baseline: BaselineKind | torch.Tensor = "black"
                     ) -> torch.Tensor:
    r""":math:`\sum_i R_i - (z_c(x) - z_c(x'))` per image, ``(N,)``: zero for a complete method."""
    model, x, classes = prepare(model, inputs, target)
    reference = check_baseline(baseline, x)
    with attribution_mode(model):
        scores = model(torch.cat([x, reference])).gather(
            1, classes.repeat(2)[:, None])[:, 0]
    n = len(x)
    return attribution.to(x.device).flatten(1).sum(dim=1) - (scores[:n] - scores[n:])
