"""Cheap models with known coalition values, for the LIME, KernelSHAP and Shapley tests.

Each model reads the mean intensity of each region of a fixed segmentation and returns
two class scores, so a "forward pass" costs microseconds and the game is written out here,
independent of course_lib.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn


class RegionModel(nn.Module):
    """Class 1 scores ``g(m)``, class 0 ``−g(m)``, where ``m`` are the regions' mean values
    (over pixels and channels) and ``g`` a fixed function of them."""

    def __init__(self, segments: torch.Tensor, n_regions: int, g) -> None:
        super().__init__()
        onehot = nn.functional.one_hot(segments.flatten(), n_regions).double()
        self.register_buffer("onehot", onehot)
        self.register_buffer("counts", onehot.sum(0))
        self.g = g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = (x.double().mean(1).flatten(1) @ self.onehot) / self.counts
        score = self.g(means)
        return torch.stack([-score, score], dim=1).float()


def interacting(n_regions: int, seed: int = 0):
    """Linear effects plus a pairwise product, a maximum and a three-way product."""
    weights = torch.randn(n_regions, generator=torch.Generator().manual_seed(seed),
                          dtype=torch.float64)

    def g(m: torch.Tensor) -> torch.Tensor:
        return (m @ weights + 3 * m[:, 0] * m[:, 1] + 2 * torch.maximum(m[:, 2], m[:, 3])
                - 2 * m[:, 1] * m[:, 4] * m[:, 5])
    return g


def game_values(model: nn.Module, image: torch.Tensor, fill: torch.Tensor,
                segments: torch.Tensor, target: int, n_players: int) -> dict[tuple, float]:
    """v(S) for every coalition S (a sorted tuple), one masked image at a time."""
    values = {}
    for size in range(n_players + 1):
        for coalition in itertools.combinations(range(n_players), size):
            keep = torch.zeros(n_players, dtype=torch.bool)
            keep[list(coalition)] = True
            masked = torch.where(keep[segments][None], image, fill)
            with torch.no_grad():
                values[coalition] = float(model(masked[None])[0, target])
    return values


def shapley(values: dict[tuple, float], n_players: int) -> torch.Tensor:
    """Shapley values from the definition: weighted marginal contributions."""
    phi = torch.zeros(n_players, dtype=torch.float64)
    for k in range(n_players):
        for coalition, value in values.items():
            if k not in coalition:
                s = len(coalition)
                weight = math.factorial(s) * math.factorial(n_players - s - 1) \
                    / math.factorial(n_players)
                phi[k] += weight * (values[tuple(sorted(coalition + (k,)))] - value)
    return phi
