"""Checker cases for the exercises of notebook 08 (LIME, SHAP and RISE): the solution a
learner would write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import torch

from course_lib import check


def _orders(values, n_orders, generator, sign=1.0):
    n_players = values.shape[0].bit_length() - 1
    phi = torch.zeros(n_players, dtype=torch.float64)
    for _ in range(n_orders):
        coalition = 0
        for player in torch.randperm(n_players, generator=generator).tolist():
            phi[player] += sign * (values[coalition | 1 << player] - values[coalition])
            coalition |= 1 << player
    return phi / n_orders


def _paired(n, n_players, generator, complement=True):
    sizes = torch.arange(1, n_players, dtype=torch.float64)
    drawn = 1 + torch.multinomial((n_players - 1) / (sizes * (n_players - sizes)), n // 2,
                                  replacement=True, generator=generator)
    ranks = torch.rand(n // 2, n_players, generator=generator).argsort(1).argsort(1)
    first = ranks < drawn[:, None]
    return torch.cat([first, ~first if complement else first])


def _one_pixel(masks, row, col, p, normalise=True):
    total = (masks[:, row, col, None, None] * masks).sum(dim=0) / len(masks)
    return total / p if normalise else total


# name: (call with the right answer, call with a typical mistake, words the explanation must contain)
CASES = {
    "shapley_by_orders": (lambda: check.shapley_by_orders(_orders),
                          lambda: check.shapley_by_orders(lambda *a: _orders(*a, sign=-1.0)),
                          "sign is flipped"),
    "paired_coalitions": (lambda: check.paired_coalitions(_paired),
                          lambda: check.paired_coalitions(
                              lambda *a: _paired(*a, complement=False)), "complement"),
    "lime_width_toward_occlusion": (lambda: check.lime_width_toward_occlusion(0.05),
                                    lambda: check.lime_width_toward_occlusion(100.0), "Banzhaf"),
    "one_pixel_rise": (lambda: check.one_pixel_rise(_one_pixel),
                       lambda: check.one_pixel_rise(lambda *a: _one_pixel(*a, normalise=False)),
                       "1/p"),
}
