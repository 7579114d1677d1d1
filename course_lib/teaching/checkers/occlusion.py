"""Checkers for the exercises of notebook 07 · occlusion."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from itertools import permutations

import torch

from course_lib.methods.occlusion import patch_positions
from course_lib.teaching.checkers.common import (
    Mismatch,
    TinyNet,
    call,
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


def occlusion_interaction(fn: Callable) -> bool:
    """07 · Exercise 2: ``fn(model, image, target, windows, patch, fill)`` → the drop when all
    ``windows`` are filled at once minus the sum of their single drops (a float).

    ``image`` is one image ``(3, H, W)``, ``windows`` a list of (top, left) corners, ``fill``
    a gray level. Zero for a linear model and windows that do not overlap.
    """
    def score(model: torch.nn.Module, image: torch.Tensor, target: int) -> float:
        with torch.no_grad():
            return float(model(image[None])[0, target])

    def covered(image: torch.Tensor, windows, patch: int, fill: float) -> torch.Tensor:
        copy = image.clone()
        for top, left in windows:
            copy[:, top:top + patch, left:left + patch] = fill
        return copy

    def run() -> str:
        cases = [("a tiny CNN, three windows", TinyNet(), tiny_images(1, 32)[0], 1,
                  [(0, 0), (8, 16), (16, 8)], 8, 0.5),
                 ("a tiny CNN, two overlapping windows, black fill", TinyNet(seed=1),
                  tiny_images(1, 32, seed=3)[0], 4, [(4, 4), (8, 8)], 12, 0.0),
                 ("a linear model, windows that do not overlap", tiny_linear((3, 8, 8)),
                  tiny_images(1, 8, seed=1)[0], 2, [(0, 0), (4, 4)], 4, 0.5)]
        for description, model, image, target, windows, patch, fill in cases:
            full = score(model, image, target)
            joint = full - score(model, covered(image, windows, patch, fill), target)
            singles = sum(full - score(model, covered(image, [w], patch, fill), target)
                          for w in windows)
            expected = joint - singles
            got = call(fn, model, image.clone(), target, list(windows), patch, fill)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"expected a number, got {type(got).__name__}") from None
            if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
                continue
            hint = ""
            if math.isclose(got, -expected, rel_tol=1e-4, abs_tol=1e-5):
                hint = " — the sign is flipped: joint drop minus the sum of the single drops"
            elif math.isclose(got, joint, rel_tol=1e-4, abs_tol=1e-5):
                hint = " — that is the joint drop alone; subtract the sum of the single drops"
            raise Mismatch(f"on {description}: expected {expected:.5g}, got {got:.5g}{hint}")
        return "joint drop − Σ single drops (zero for a linear model on separate windows)"
    return verdict("occlusion interaction", run)


def linear_occlusion_drop(fn: Callable) -> bool:
    """07 · Exercise 3: ``fn(weight, image, fill, top, left, patch)`` → the occlusion drop of
    one patch for the linear score ``z = Σ w·x + b``: ``Σ_{i ∈ P} w_i (x_i − f_i)``.

    ``weight``, ``image`` and ``fill`` are ``(3, H, W)``; the patch may stick out over the
    border (it is cropped). Checked against the drop of a real linear layer.
    """
    def run() -> str:
        generator = torch.Generator().manual_seed(7)
        for top, left, patch, size in ((0, 0, 4, 8), (2, 3, 3, 8), (5, 6, 4, 8), (0, 0, 6, 6)):
            weight = torch.randn(3, size, size, generator=generator)
            image = torch.rand(3, size, size, generator=generator)
            fill = torch.rand(3, size, size, generator=generator)
            with torch.random.fork_rng(devices=[]):  # leave the learner's RNG alone
                layer = torch.nn.Linear(3 * size * size, 1)
            with torch.no_grad():
                layer.weight.copy_(weight.flatten()[None])
                filled = image.clone()
                filled[:, top:top + patch, left:left + patch] = \
                    fill[:, top:top + patch, left:left + patch]
                expected = float(layer(image.flatten()) - layer(filled.flatten()))
            got = call(fn, weight.clone(), image.clone(), fill.clone(), top, left, patch)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"expected a number, got {type(got).__name__}") from None
            if math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5):
                continue
            without_fill = float((weight * image)[:, top:top + patch, left:left + patch].sum())
            hint = ""
            if math.isclose(got, without_fill, rel_tol=1e-4, abs_tol=1e-5):
                hint = (" — that is Σ w·x over the patch: the patch is replaced by the fill, "
                        "so each pixel changes by x − f")
            elif math.isclose(got, -expected, rel_tol=1e-4, abs_tol=1e-5):
                hint = " — the sign is flipped: a drop is z(x) − z(x with the patch filled)"
            raise Mismatch(f"patch {patch} at (top, left) = ({top}, {left}) on a {size} × "
                           f"{size} image: expected {expected:.5g}, got {got:.5g}{hint}")
        return "Σ over the patch of w·(x − f), the occlusion drop of a linear model"
    return verdict("linear occlusion drop", run)


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
