"""Turning attributions into 2-D maps, and comparing maps."""

from __future__ import annotations

from typing import Literal

import torch

Aggregation = Literal["max_abs", "sum", "abs_sum"]


def aggregate_channels(attribution: torch.Tensor, how: Aggregation = "max_abs") -> torch.Tensor:
    r"""Collapse the colour channels: ``(…, 3, H, W)`` → ``(…, H, W)``.

    * ``"max_abs"`` — :math:`\max_k |R_{k,h,w}|`, Simonyan et al.'s choice: unsigned.
    * ``"sum"`` — :math:`\sum_k R_{k,h,w}`, keeps the sign (for diverging maps).
    * ``"abs_sum"`` — :math:`\sum_k |R_{k,h,w}|`.
    """
    if attribution.ndim < 3 or attribution.shape[-3] != 3:
        raise ValueError("expected an attribution shaped (..., 3, H, W), got "
                         f"{tuple(attribution.shape)}")
    if how == "max_abs":
        return attribution.abs().amax(dim=-3)
    if how == "sum":
        return attribution.sum(dim=-3)
    if how == "abs_sum":
        return attribution.abs().sum(dim=-3)
    raise ValueError(f"unknown aggregation {how!r}; choose 'max_abs', 'sum' or 'abs_sum'")


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation of two maps of equal shape (1 = same ordering of pixels)."""
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    from scipy.stats import spearmanr  # here, not at the top: SciPy's statistics cost ~60 MB

    rho = spearmanr(a.detach().flatten().cpu().numpy(), b.detach().flatten().cpu().numpy())
    return float(rho.statistic)
