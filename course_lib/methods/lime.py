r"""LIME on superpixels: a weighted linear model fitted to random coalitions.

Ribeiro, Singh & Guestrin 2016 ("Why should I trust you?", arXiv:1602.04938), with the
choices of the ``lime`` package's image explainer. Draw coalitions
:math:`z \in \{0, 1\}^M` (each superpixel on with probability 1/2; the first is the photo
itself, all ones), score them, :math:`y = v(z) = z_c(x_{[z]})`, and weight each by its
closeness to the photo:

.. math::

    d(z) = 1 - \frac{\langle z, \mathbf 1\rangle}{\lVert z\rVert\,\lVert \mathbf 1\rVert}
         = 1 - \sqrt{|z| / M}, \qquad
    \pi(z) = \exp\!\Big(-\frac{d(z)^2}{2 \sigma^2}\Big) = \sqrt{\exp(-d(z)^2/\sigma^2)},

the cosine distance between the coalition and the all-ones vector (1 for the empty
coalition) and ``lime``'s kernel with width :math:`\sigma` = ``kernel_width`` = 0.25.
The explanation is the weighted ridge regression (intercept not penalised)

.. math:: \min_{\beta_0, \beta}\; \sum_s \pi(z_s)\big(y_s - \beta_0 - \beta^\top z_s\big)^2
          + \alpha \lVert\beta\rVert^2,

with :math:`\alpha` = ``alpha`` = 1 (scikit-learn's ``Ridge``, ``lime``'s default). Its
coefficients :math:`\beta_k` are painted on their superpixels. Cost: ``n_samples``
forward passes per image (the first is the photo).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, prepare
from course_lib.methods.coalitions import (Score, check_coalitions, check_count, check_score,
                                           photo_scores, score_coalitions)
from course_lib.methods.superpixels import Fill, check_segments, make_fill, paint, superpixels
from course_lib.model_state import attribution_mode


def lime_coalitions(n_samples: int, n_players: int, seed: int = 0) -> torch.Tensor:
    """LIME's coalitions ``(n_samples, M)`` bool: the photo (all ones), then each superpixel
    on with probability 1/2. Drawn in one go from a CPU generator seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    coalitions = torch.rand(n_samples, n_players, generator=generator) < 0.5
    coalitions[0] = True
    return coalitions


def lime_kernel(coalitions: torch.Tensor, kernel_width: float = 0.25) -> torch.Tensor:
    r"""Weights :math:`\pi(z) = \exp(-d(z)^2 / 2\sigma^2)`, :math:`d` the cosine distance
    between each coalition ``(K, M)`` and the all-ones coalition; ``(K,)`` float64."""
    z = coalitions.double()
    distance = 1 - torch.sqrt(z.sum(dim=1) / z.shape[1])  # = 1 for the empty coalition
    return torch.exp(-distance.pow(2) / (2 * kernel_width ** 2))


def weighted_ridge(coalitions: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                   alpha: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Coefficients ``(N, M)`` and intercepts ``(N,)`` of the weighted ridge regression of
    ``values`` ``(N, K)`` on ``coalitions`` ``(K, M)``, as scikit-learn's
    ``Ridge(alpha).fit(z, y, sample_weight=weights)``: centre by the weighted means,
    then least squares on :math:`[\sqrt{\pi}\,Z_c;\ \sqrt{\alpha} I]` (float64, on the CPU).
    """
    z = coalitions.detach().cpu().double()
    y = values.detach().cpu().double().T  # (K, N)
    w = weights.detach().cpu().double()
    z_mean = (w[:, None] * z).sum(0) / w.sum()
    y_mean = (w[:, None] * y).sum(0) / w.sum()
    root = w.sqrt()[:, None]
    design = torch.cat([root * (z - z_mean), math.sqrt(alpha) * torch.eye(z.shape[1],
                                                                          dtype=z.dtype)])
    response = torch.cat([root * (y - y_mean), torch.zeros(z.shape[1], y.shape[1],
                                                          dtype=y.dtype)])
    beta = torch.linalg.lstsq(design, response, driver="gelsd").solution  # (M, N)
    return beta.T, y_mean - z_mean @ beta


def check_lime_settings(kernel_width: object, alpha: object) -> None:
    for name, value, minimum in (("kernel_width", kernel_width, None), ("alpha", alpha, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
    if kernel_width <= 0:
        raise ValueError(f"kernel_width must be positive, got {kernel_width}")
    if alpha < 0:
        raise ValueError(f"alpha (the ridge penalty) must be ≥ 0, got {alpha}")


def lime(model: nn.Module, inputs: torch.Tensor, target: Target,
         segments: torch.Tensor | None = None, n_samples: int | None = None,
         kernel_width: float = 0.25, alpha: float = 1.0, fill: Fill = 0.5,
         score: Score = "logit", coalitions: torch.Tensor | None = None,
         per_superpixel: bool = False, n_segments: int = 50, batch_size: int = 16,
         seed: int = 0, progress: bool = True) -> torch.Tensor:
    """LIME map ``(N, H, W)``: each pixel carries its superpixel's coefficient β_k.

    ``segments``: labels ``(H, W)`` or ``(N, H, W)`` (default: SLIC with ``n_segments``);
    ``n_samples``: coalitions per image, the photo included (default 1000), drawn from
    ``seed`` alone, so every image of the batch uses the same ones and ``batch_size`` (images
    per forward pass) cannot change them. ``coalitions`` (0/1, ``(K, M)``) replaces the
    random draws, e.g. to reproduce another library's. ``fill``: a gray level, an image, a
    batch or ``"mean"``. ``per_superpixel=True`` returns the coefficients ``(N, M)`` instead.
    """
    model, x, classes = prepare(model, inputs, target)
    check_lime_settings(kernel_width, alpha)
    score = check_score(score)
    batch_size = check_batch_size(batch_size)
    if segments is None:
        segments = superpixels(x, n_segments)
    segments, n_players = check_segments(segments, x)
    if coalitions is None:
        n_samples = check_count(1000 if n_samples is None else n_samples, "n_samples")
        coalitions = lime_coalitions(n_samples, n_players, seed)
    elif n_samples is not None:
        raise ValueError("give either n_samples (random coalitions) or coalitions, not both")
    coalitions = check_coalitions(coalitions, n_players)
    fill_images = make_fill(x, fill, segments, n_players)
    passes = len(x) * (1 + int((~coalitions.all(dim=1)).sum()))
    with attribution_mode(model), tqdm(total=passes, desc="LIME passes", disable=not progress,
                                       leave=False) as bar:
        full = photo_scores(model, x, classes, score)
        bar.update(len(x))
        values = score_coalitions(model, x, fill_images, segments, classes, coalitions, full,
                                  score, batch_size, bar)
    beta, _ = weighted_ridge(coalitions, values, lime_kernel(coalitions, kernel_width), alpha)
    beta = beta.to(x.device, x.dtype)
    return (beta if per_superpixel else paint(beta, segments)).to(inputs.device)
