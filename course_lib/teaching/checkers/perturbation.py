"""Checkers for the exercises of notebook 08 · LIME, SHAP and RISE on superpixels."""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import permutations

import torch

from course_lib.methods.rise import rise_masks
from course_lib.teaching.checkers.common import Mismatch, as_tensor, call, compare, verdict


def _random_game(n_players: int, seed: int) -> torch.Tensor:
    """A game on every coalition (bit k = player k), values in [0, 1), v(∅) = 0.1."""
    values = torch.rand(2 ** n_players, generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
    values[0] = 0.1
    return values


def _exact_shapley(values: torch.Tensor, n_players: int) -> torch.Tensor:
    """Marginal contributions averaged over all M! orders (the definition)."""
    phi = torch.zeros(n_players, dtype=torch.float64)
    orders = list(permutations(range(n_players)))
    for order in orders:
        coalition = 0
        for player in order:
            phi[player] += values[coalition | 1 << player] - values[coalition]
            coalition |= 1 << player
    return phi / len(orders)


def shapley_by_orders(fn: Callable) -> bool:
    """08 · Exercise 1: ``fn(values, n_orders, generator)`` → Shapley estimate ``(M,)``.

    ``values`` is a game on all ``2^M`` coalitions (index ``b``: player ``k`` is bit ``k``);
    the estimate averages each player's marginal contribution over ``n_orders`` random
    orders of the players drawn with ``generator``. Every order's contributions add up to
    v(all) − v(none), so the estimate is efficient for any ``n_orders``.
    """
    def run() -> str:
        for n_players, seed in ((3, 0), (4, 1)):
            values = _random_game(n_players, seed)
            delta = float(values[-1] - values[0])
            for n_orders in (1, 7):
                got = as_tensor(call(fn, values.clone(), n_orders,
                                     torch.Generator().manual_seed(seed)), "your estimate")
                if got.shape != (n_players,):
                    raise Mismatch(f"expected one value per player, shape ({n_players},), got "
                                   f"{tuple(got.shape)}")
                total = float(got.double().sum())
                if not math.isclose(total, delta, abs_tol=1e-9):
                    hint = (" — the sign is flipped: a marginal contribution is "
                            "v(S ∪ {k}) − v(S)" if math.isclose(total, -delta, abs_tol=1e-9)
                            else "")
                    raise Mismatch(f"with {n_orders} order(s) on {n_players} players your values "
                                   f"sum to {total:.6g}, but each order's marginal "
                                   f"contributions add up to v(all) − v(none) = {delta:.6g}"
                                   + hint)
            got = as_tensor(call(fn, values.clone(), 4000, torch.Generator().manual_seed(9)),
                            "your estimate").double()
            exact = _exact_shapley(values, n_players)
            if (got - exact).abs().max() > 0.05:
                raise Mismatch(f"with 4000 orders on {n_players} players the estimate "
                               f"{[round(v, 3) for v in got.tolist()]} is far from the exact "
                               f"Shapley values {[round(v, 3) for v in exact.tolist()]}: draw a "
                               "new random order (torch.randperm) for every sample")
        return "efficient for any number of orders, and close to the exact values for many"
    return verdict("Shapley values by sampling orders", run)


def paired_coalitions(fn: Callable) -> bool:
    """08 · Exercise 2: ``fn(n, M, generator)`` → ``(n, M)`` 0/1 coalitions, ``n`` even: the first
    ``n/2`` drawn from the Shapley kernel (a size s ∈ 1…M−1 with probability ∝ (M − 1)/(s(M − s)),
    then s players uniformly), the last ``n/2`` their complements in the same order."""
    def run() -> str:
        n, n_players = 20000, 6
        got = as_tensor(call(fn, n, n_players, torch.Generator().manual_seed(0)),
                        "your coalitions")
        if got.shape != (n, n_players):
            raise Mismatch(f"expected shape ({n}, {n_players}), got {tuple(got.shape)}")
        if not ((got == 0) | (got == 1)).all():
            raise Mismatch("coalitions must hold only 0 and 1 (or False and True)")
        z = got.bool()
        first, second = z[:n // 2], z[n // 2:]
        if not torch.equal(second, ~first):
            same = bool(torch.equal(second, first))
            raise Mismatch("row i + n/2 must be the complement of row i (every player "
                           "switched)" + (": your second half repeats the first" if same else ""))
        sizes = first.sum(dim=1)
        if (sizes == 0).any() or (sizes == n_players).any():
            raise Mismatch("the empty and the full coalition are never drawn: sizes 1 … M − 1")
        kernel = torch.tensor([(n_players - 1) / (s * (n_players - s))
                               for s in range(1, n_players)], dtype=torch.float64)
        expected = kernel / kernel.sum()
        observed = torch.stack([(sizes == s).double().mean() for s in range(1, n_players)])
        tolerance = 5 * (expected * (1 - expected) / len(sizes)).sqrt()  # 5 binomial sd
        if ((observed - expected).abs() > tolerance).any():
            raise Mismatch("the sizes s = 1 … 5 of your first half occur with frequencies "
                           f"{[round(v, 3) for v in observed.tolist()]}; the Shapley kernel "
                           f"gives {[round(v, 3) for v in expected.tolist()]} "
                           "(∝ (M − 1)/(s (M − s)))")
        pairs = first[sizes == 2]
        codes = (pairs.long() * 2 ** torch.arange(n_players)).sum(dim=1)
        counts = torch.bincount(codes, minlength=2 ** n_players)[codes.unique()]
        share, sd = 1 / math.comb(n_players, 2), math.sqrt(1 / 15 * 14 / 15 / len(pairs))
        if len(counts) != math.comb(n_players, 2) \
                or ((counts / len(pairs) - share).abs() > 5 * sd).any():
            raise Mismatch("the coalitions of size 2 are not all equally likely: choose the s "
                           "players uniformly (e.g. the first s of torch.randperm)")
        return "kernel-distributed draws followed by their complements"
    return verdict("paired coalitions", run)


def lime_width_toward_occlusion(width: object) -> bool:
    """08 · Exercise 3: the kernel width among 0.05, 0.25, 1.0 and 100.0 for which LIME's
    coefficients come closest to occlusion (leave one superpixel out)."""
    def run() -> str:
        if width is None:
            raise Mismatch("closest_to_occlusion is still None: set it to one of the widths")
        if width not in (0.05, 0.25, 1.0, 100.0):
            raise Mismatch(f"choose one of the widths 0.05, 0.25, 1.0, 100.0, got {width!r}")
        if width != 0.05:
            raise Mismatch(f"not {width}: a wide kernel weighs every coalition alike, and LIME "
                           "then estimates the Banzhaf value (every coalition of the others); "
                           "the narrowest kernel leaves weight only on the photo and the "
                           "coalitions that lack one or two superpixels — occlusion's question")
        return ("0.05: only coalitions next to the photo keep weight, and a coalition that lacks "
                "one superpixel is exactly what occlusion measures")
    return verdict("LIME kernel width", run)


def one_pixel_rise(fn: Callable) -> bool:
    """08 · Exercise 4: ``fn(masks, row, col, p)`` → RISE's map ``(H, W)`` for a model whose score
    is the mask value at pixel ``(row, col)``: ``Σ_i M_i(row, col) M_i / (N p)``."""
    def run() -> str:
        for n, size, cells, p, row, col in ((50, 24, 3, 0.5, 12, 12), (80, 20, 4, 0.3, 3, 15)):
            masks = rise_masks(n, size, size, cells=cells, p=p, seed=1).float()
            expected = (masks[:, row, col, None, None] * masks).sum(dim=0) / (n * p)
            got = as_tensor(call(fn, masks.clone(), row, col, p), "your map")
            if got.shape == expected.shape and torch.allclose(got.double(),
                                                              (expected * p).double(),
                                                              rtol=1e-4, atol=1e-6):
                raise Mismatch(f"your map is p = {p} times too small: divide by N·p, the "
                               "expected mask value, not by N (the 1/p normalisation)")
            compare(got, expected, f"with {n} masks, p = {p}, pixel ({row}, {col}), your map")
        return "Σ M_i(row, col)·M_i / (N p): a blob around the pixel, about a cell wide"
    return verdict("one-pixel RISE", run)
