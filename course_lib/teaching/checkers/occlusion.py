"""Checkers for the exercises of notebook 09 · occlusion."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from itertools import permutations

import torch

from course_lib.methods.occlusion import occlusion as _occlusion
from course_lib.methods.occlusion import patch_positions
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    call,
    compare,
    tiny_images,
    tiny_linear,
    verdict,
)


def occlusion_passes(fn: Callable) -> bool:
    """07 · Exercise 1: ``fn(size, patch, stride)`` → forward passes of occlusion on a square
    image, the unoccluded reference included."""
    def run() -> str:
        for size, patch, stride in ((224, 32, 16), (448, 32, 16), (224, 32, 8), (224, 48, 32)):
            expected = len(patch_positions(size, patch, stride)) ** 2 + 1
            got = call(fn, size, patch, stride)
            if got == expected:
                continue
            positions = len(patch_positions(size, patch, stride))
            hints = {expected - 1: "add the one unoccluded reference pass",
                     ((size - patch) // stride + 1) ** 2 + 1:
                         "a window that sticks out of the border is cropped, not dropped: "
                         "use ceil((H − p)/s) + 1 positions per side"}
            raise Mismatch(f"size {size}, patch {patch}, stride {stride}: expected "
                           f"{positions}² + 1 = {expected}, got {got}"
                           + (f" — {hints[got]}" if got in hints else ""))
        return "(⌈(H − p)/s⌉ + 1)² + 1 forward passes"
    return verdict("occlusion passes", run)


def occlusion(fn: Callable) -> bool:
    """07 · Exercise 3: ``fn(model, image, target, patch, stride, fill)`` → map ``(H, W)``.

    ``image`` is one image ``(3, H, W)``, ``target`` an int, ``fill`` a gray level or a fill
    image ``(3, H, W)``; compared with ``course.occlusion`` on a tiny CNN and a linear model.
    """
    def run() -> str:
        fill_image = tiny_images(1, 32, seed=5)[0]
        cases = [("a tiny CNN, gray fill, patch 8, stride 4", TinyNet(),
                  tiny_images(1, 32)[0], 1, 8, 4, 0.5),
                 ("a tiny CNN, a fill image, patch 12, stride 8 (cropped windows)", TinyNet(),
                  tiny_images(1, 32, seed=2)[0], 3, 12, 8, fill_image),
                 ("a linear model, black fill, patch 2, stride 1", tiny_linear((3, 4, 4)),
                  tiny_images(1, 4, seed=1)[0], 2, 2, 1, 0.0)]
        for description, model, image, target, patch, stride, fill in cases:
            expected = _occlusion(model, image[None], target, patch=patch, stride=stride,
                                  fill=fill, progress=False)[0]
            got = call(fn, model, image.clone(), target, patch, stride, fill)
            if isinstance(got, torch.Tensor) and got.isnan().any():
                raise Mismatch(f"on {description}, your map has NaN at "
                               f"{int(got.isnan().sum())} pixels that no window covers: a "
                               "window that sticks out of the border is cropped, not dropped "
                               "(ceil((H − p)/s) + 1 positions per side)")
            compare(got, expected, f"on {description}, your map")
        return "matches course.occlusion, including windows cropped at the border"
    return verdict("occlusion", run)


def shapley_values(fn: Callable) -> bool:
    """07 · Exercise 4: ``fn(v, players)`` → ``{player: Shapley value}`` for a game ``v``.

    ``v`` takes a collection of players (a coalition) and returns a number.
    """
    def exact(v: Callable[[Iterable[str]], float], players: tuple[str, ...]) -> dict[str, float]:
        orders = list(permutations(players))
        return {k: sum(v(order[:order.index(k) + 1]) - v(order[:order.index(k)])
                       for order in orders) / len(orders) for k in players}

    def redundant(coalition: Iterable[str]) -> float:
        s = set(coalition)
        return float("a" in s or "b" in s) + 0.5 * ("c" in s)

    def interacting(coalition: Iterable[str]) -> float:
        s = set(coalition)
        return 1.0 * ("a" in s) + 2.0 * ("b" in s and "c" in s) - 0.5 * ("d" in s and "a" in s)

    def run() -> str:
        for name, v, players in (("the redundant pair", redundant, ("a", "b", "c")),
                                 ("a four-part game with interactions", interacting,
                                  ("a", "b", "c", "d"))):
            got = call(fn, v, players)
            if not isinstance(got, dict) or set(got) != set(players):
                raise Mismatch(f"expected a dict with one value per player {players}, got "
                               f"{got!r}")
            expected = exact(v, players)
            wrong = {k: (got[k], expected[k]) for k in players
                     if not math.isclose(float(got[k]), expected[k], abs_tol=1e-9)}
            if wrong:
                total = sum(float(x) for x in got.values())
                efficiency = v(players) - v(())
                raise Mismatch(f"for {name}: " + ", ".join(
                    f"{k}: got {g:.4g}, expected {e:.4g}" for k, (g, e) in wrong.items())
                    + f". Your values sum to {total:.4g}; Shapley values sum to "
                    f"v(all) − v(none) = {efficiency:.4g}")
        return "marginal contributions averaged over every order (they sum to v(all) − v(none))"
    return verdict("Shapley values", run)
