r"""Shapley values of superpixels: exactly by enumeration, or estimated by KernelSHAP.

The game: :math:`M` superpixels, a coalition :math:`S` keeps its superpixels and fills the
rest, :math:`v(S) = z_c(x_{[S]})`. The Shapley value of player :math:`k` (Shapley 1953)
averages its marginal contribution over all coalitions of the others:

.. math:: \phi_k = \sum_{S \subseteq [M] \setminus \{k\}}
          \frac{|S|!\,(M - |S| - 1)!}{M!}\,\big[v(S \cup \{k\}) - v(S)\big],
          \qquad \sum_k \phi_k = v([M]) - v(\varnothing) \ \text{(efficiency)}.

**Exact** (:func:`exact_shapley`): all :math:`2^M` coalitions, :math:`2^M` forward passes
per image. **KernelSHAP** (Lundberg & Lee 2017, arXiv:1705.07874): the Shapley values are
the solution of a weighted least-squares problem over coalitions :math:`z`,

.. math:: \min_\phi \sum_z \pi(z)\big(v(z) - v(\varnothing) - \phi^\top z\big)^2
          \ \text{subject to}\ \textstyle\sum_k \phi_k = v(\mathbf 1) - v(\varnothing),
          \qquad \pi(z) = \frac{M - 1}{\binom{M}{|z|}\,|z|\,(M - |z|)}.

KernelSHAP draws coalitions *from* :math:`\pi` (a size :math:`s \in \{1, \dots, M-1\}` with
probability :math:`\propto (M-1)/(s(M-s))`, then a uniform subset of that size), so each
draw gets weight 1, and enforces the constraint exactly by eliminating the last player,
as the ``shap`` package does: :math:`\phi_M = \Delta - \sum_{k<M}\phi_k`, a least-squares
problem in :math:`M-1` unknowns. Cost: ``n_samples`` forward passes per image, the full
and the empty coalition included.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checks import Target, check_batch_size, prepare
from course_lib.methods.coalitions import (MAX_EXACT_PLAYERS, Score, all_coalitions,
                                           check_coalitions, check_count, check_score,
                                           photo_scores, score_coalitions)
from course_lib.methods.superpixels import Fill, check_segments, make_fill, paint, superpixels
from course_lib.model_state import attribution_mode


def shapley_kernel(n_players: int, size: int) -> float:
    r"""The Shapley kernel :math:`\pi(z) = (M-1) / \big(\binom{M}{s}\, s\, (M-s)\big)` of one
    coalition of ``size`` :math:`s`; infinite for the empty and the full coalition."""
    if size in (0, n_players):
        return math.inf
    return (n_players - 1) / (math.comb(n_players, size) * size * (n_players - size))


def kernel_shap_coalitions(n_draws: int, n_players: int, seed: int = 0) -> torch.Tensor:
    """``n_draws`` coalitions ``(n_draws, M)`` bool drawn from the Shapley kernel: a size s
    with probability ∝ (M − 1)/(s (M − s)), then s players uniformly. CPU generator, ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    if n_players < 2 or n_draws == 0:
        return torch.zeros(0, n_players, dtype=torch.bool)
    sizes = torch.arange(1, n_players, dtype=torch.float64)
    size_probability = (n_players - 1) / (sizes * (n_players - sizes))
    drawn = 1 + torch.multinomial(size_probability, n_draws, replacement=True,
                                  generator=generator)
    keys = torch.rand(n_draws, n_players, generator=generator)
    rank = keys.argsort(dim=1).argsort(dim=1)  # a uniformly random order of the players
    return rank < drawn[:, None]


def efficient_regression(coalitions: torch.Tensor, values: torch.Tensor, full: torch.Tensor,
                         empty: torch.Tensor, weights: torch.Tensor | None = None
                         ) -> torch.Tensor:
    r"""KernelSHAP's estimate ``(N, M)`` from coalitions ``(K, M)`` and their values ``(N, K)``.

    Weighted least squares of :math:`v(z) - v(\varnothing)` on :math:`z` with
    :math:`\sum_k\phi_k = \Delta = v(\mathbf 1) - v(\varnothing)` enforced exactly by
    substituting :math:`\phi_M = \Delta - \sum_{k<M}\phi_k`:
    :math:`v(z) - v(\varnothing) - z_M\Delta = \sum_{k<M}\phi_k (z_k - z_M)`.
    ``weights`` default to 1 (coalitions drawn from the kernel). Float64, on the CPU.
    """
    z = coalitions.detach().cpu().double()
    y = values.detach().cpu().double().T  # (K, N)
    full = full.detach().cpu().double()
    empty = empty.detach().cpu().double()
    delta = full - empty
    n_players = z.shape[1]
    phi = torch.empty(n_players, len(delta), dtype=torch.float64)
    if n_players == 1 or len(z) == 0:
        phi[:] = delta / n_players  # nothing to regress on: share Δ (exact for M = 1)
        return phi.T
    root = torch.ones(len(z), dtype=z.dtype) if weights is None \
        else weights.detach().cpu().double().sqrt()
    design = root[:, None] * (z[:, :-1] - z[:, -1:])
    response = root[:, None] * (y - empty - z[:, -1:] * delta)
    phi[:-1] = torch.linalg.lstsq(design, response, driver="gelsd").solution
    phi[-1] = delta - phi[:-1].sum(dim=0)
    return phi.T


def _superpixel_setup(model: nn.Module, inputs: torch.Tensor, target: Target,
                      segments: torch.Tensor | None, n_segments: int, fill: Fill, score: str,
                      batch_size: int):
    model, x, classes = prepare(model, inputs, target)
    score = check_score(score)
    batch_size = check_batch_size(batch_size)
    if segments is None:
        segments = superpixels(x, n_segments)
    segments, n_players = check_segments(segments, x)
    return model, x, classes, segments, n_players, make_fill(x, fill, segments, n_players), \
        score, batch_size


def kernel_shap(model: nn.Module, inputs: torch.Tensor, target: Target,
                segments: torch.Tensor | None = None, n_samples: int | None = None,
                fill: Fill = 0.5, score: Score = "logit",
                coalitions: torch.Tensor | None = None, per_superpixel: bool = False,
                n_segments: int = 50, batch_size: int = 16, seed: int = 0,
                progress: bool = True) -> torch.Tensor:
    """KernelSHAP map ``(N, H, W)``: each pixel carries its superpixel's estimated φ_k.

    ``n_samples`` (default 1000): forward passes per image, the full and the empty
    coalition included; the other ``n_samples − 2`` are drawn from the Shapley kernel with
    ``seed`` alone (the same for every image; ``batch_size`` cannot change them).
    ``coalitions`` (0/1, ``(K, M)``, each of weight 1) replaces the draws; the full and the
    empty coalition are always added. The values sum exactly to f(x) − f(fill).
    ``per_superpixel=True`` returns φ ``(N, M)`` instead. ``fill``, ``segments``: as in
    :func:`course_lib.methods.lime.lime`.
    """
    model, x, classes, segments, n_players, fill_images, score, batch_size = \
        _superpixel_setup(model, inputs, target, segments, n_segments, fill, score, batch_size)
    if coalitions is None:
        n_samples = check_count(1000 if n_samples is None else n_samples, "n_samples", 2)
        coalitions = kernel_shap_coalitions(n_samples - 2, n_players, seed)
    elif n_samples is not None:
        raise ValueError("give either n_samples (random coalitions) or coalitions, not both")
    else:
        coalitions = check_coalitions(coalitions, n_players)
    empty = torch.zeros(1, n_players, dtype=torch.bool)
    evaluated = torch.cat([empty, coalitions])
    passes = len(x) * (1 + int((~evaluated.all(dim=1)).sum()))
    with attribution_mode(model), tqdm(total=passes, desc="KernelSHAP passes",
                                       disable=not progress, leave=False) as bar:
        full = photo_scores(model, x, classes, score)
        bar.update(len(x))
        values = score_coalitions(model, x, fill_images, segments, classes, evaluated, full,
                                  score, batch_size, bar)
    phi = efficient_regression(coalitions, values[:, 1:], full, values[:, 0])
    phi = phi.to(x.device, x.dtype)
    return (phi if per_superpixel else paint(phi, segments)).to(inputs.device)


def shapley_from_values(values: torch.Tensor) -> torch.Tensor:
    r"""Exact Shapley values ``(..., M)`` of a game given on every coalition, ``(..., 2^M)``
    in the order of :func:`~course_lib.methods.coalitions.all_coalitions` (bit k = player k)."""
    n_coalitions = values.shape[-1]
    n_players = n_coalitions.bit_length() - 1
    if n_coalitions != 2 ** n_players:
        raise ValueError(f"a game on M players has 2^M values; got {n_coalitions}")
    values = values.double()
    index = torch.arange(n_coalitions, device=values.device)
    sizes = torch.tensor([bin(b).count("1") for b in range(n_coalitions)], device=values.device)
    weight = torch.tensor([math.factorial(s) * math.factorial(n_players - s - 1)
                           / math.factorial(n_players) if s < n_players else 0.0
                           for s in range(n_players + 1)], dtype=torch.float64,
                          device=values.device)
    phi = []
    for k in range(n_players):
        without = index[(index >> k) & 1 == 0]  # coalitions S not containing k
        gain = values[..., without | (1 << k)] - values[..., without]
        phi.append(gain @ weight[sizes[without]])
    return torch.stack(phi, dim=-1)


def exact_shapley(model: nn.Module, inputs: torch.Tensor, target: Target,
                  segments: torch.Tensor | None = None, fill: Fill = 0.5,
                  score: Score = "logit", per_superpixel: bool = False, n_segments: int = 10,
                  batch_size: int = 16, progress: bool = True) -> torch.Tensor:
    """Exact Shapley values of the superpixels, painted ``(N, H, W)`` (or ``(N, M)`` with
    ``per_superpixel=True``), by evaluating all 2^M coalitions: 2^M forward passes per image
    (M ≤ 16). ``segments`` default: SLIC with ``n_segments`` (10: about 2^8–2^10 passes).
    """
    model, x, classes, segments, n_players, fill_images, score, batch_size = \
        _superpixel_setup(model, inputs, target, segments, n_segments, fill, score, batch_size)
    if n_players > MAX_EXACT_PLAYERS:
        raise ValueError(f"exact Shapley values of {n_players} superpixels need 2^{n_players} "
                         f"forward passes per image; use at most {MAX_EXACT_PLAYERS} "
                         "superpixels, or kernel_shap")
    coalitions = all_coalitions(n_players)
    with attribution_mode(model), tqdm(total=len(x) * len(coalitions), desc="Shapley passes",
                                       disable=not progress, leave=False) as bar:
        full = photo_scores(model, x, classes, score)
        bar.update(len(x))
        values = score_coalitions(model, x, fill_images, segments, classes, coalitions, full,
                                  score, batch_size, bar)
    phi = shapley_from_values(values).to(x.dtype)
    return (phi if per_superpixel else paint(phi, segments)).to(inputs.device)
