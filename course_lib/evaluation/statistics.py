r"""Statistics for comparing methods: bootstrap intervals, rankings, and their agreement.

Every score of the benchmark is a *mean over images*, so its uncertainty comes from
which images happened to be chosen. The **percentile bootstrap** (Efron 1979)
estimates it: draw :math:`B` samples of the :math:`N` images *with replacement*,
recompute the mean on each, and take the 2.5th and 97.5th percentiles of the
:math:`B` means as the 95 % interval. The resampled unit is the **image**: all
methods are resampled together (the same image indices for every method), so the
intervals of two methods are comparable and a paired difference keeps its pairing.

Rankings are compared with **Kendall's** :math:`\tau_b` (Kendall 1945): over all
pairs of methods, the share of pairs that two rankings order the same way minus the
share they order oppositely, with ties corrected for,

.. math:: \tau_b = \frac{n_c - n_d}{\sqrt{(n_0 - n_1)(n_0 - n_2)}}

where :math:`n_0 = m(m-1)/2` pairs, :math:`n_1, n_2` the pairs tied in each ranking.
It depends on the *orders* only, never on the values: 1 = the same ranking,
−1 = reversed. **Split-half reliability** (Tomsett et al. 2020, AAAI,
arXiv:1912.01451) asks whether a metric's ranking is stable across images: split the
images at random into two halves, rank the methods on each half, and average
:math:`\tau_b` between the two rankings over many random splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAP = 2000


def _as_matrix(values: object) -> np.ndarray:
    """Scores as a float array ``(N images, M methods)``; a 1-D array is one method."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"scores must be (N images,) or (N images, M methods), got shape "
                         f"{array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("scores contain NaN or infinite values")
    return array


def bootstrap_indices(n: int, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``(n_boot, n)`` image indices drawn with replacement from a private, seeded generator."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


@dataclass
class Interval:
    """A mean and its percentile-bootstrap interval, one entry per method."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def __iter__(self):
        return iter((self.mean, self.low, self.high))


def bootstrap_mean(values: object, n_boot: int = DEFAULT_BOOTSTRAP, level: float = 0.95,
                   seed: int = 0) -> Interval:
    """Mean over images and its percentile-bootstrap interval, per method.

    ``values`` is ``(N images,)`` or ``(N images, M methods)``; the images (rows) are
    resampled, the same rows for every method. Returns arrays of length ``M``.
    """
    scores = _as_matrix(values)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rows = bootstrap_indices(len(scores), n_boot, seed)
    means = scores[rows].mean(axis=1)                        # (n_boot, M)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return Interval(scores.mean(axis=0), low, high)


def ranks(values: object, higher_is_better: bool = True) -> np.ndarray:
    """Rank of each entry (1 = best); ties share the mean of their ranks."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected one score per method (1-D), got shape {array.shape}")
    key = -array if higher_is_better else array
    order = np.argsort(key, kind="stable")
    result = np.empty(len(array))
    sorted_key = key[order]
    start = 0
    while start < len(array):
        stop = start
        while stop + 1 < len(array) and sorted_key[stop + 1] == sorted_key[start]:
            stop += 1
        result[order[start:stop + 1]] = (start + stop) / 2 + 1
        start = stop + 1
    return result


def kendall_tau(a: object, b: object) -> float:
    r"""Kendall's :math:`\tau_b` between two score vectors (of the same methods).

    Only the order within each vector matters (a monotone transformation of either
    leaves :math:`\tau` unchanged). Returns NaN when one vector is constant.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected two 1-D vectors of equal length, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError("Kendall's tau needs at least two methods")
    i, j = np.triu_indices(len(x), k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    concordance = float((sx * sy).sum())
    untied_x, untied_y = float((sx != 0).sum()), float((sy != 0).sum())
    if untied_x == 0 or untied_y == 0:
        return float("nan")
    return concordance / np.sqrt(untied_x * untied_y)


def bootstrap_tau(scores_a: object, scores_b: object, n_boot: int = 500, level: float = 0.95,
                  seed: int = 0) -> Interval:
    r"""Kendall's :math:`\tau_b` between the method rankings of two metrics, with an interval.

    ``scores_a`` and ``scores_b`` are ``(N images, M methods)`` on the *same* images,
    each oriented so that higher = better. Each bootstrap sample resamples the images,
    recomputes both metrics' means and the :math:`\tau` between them.
    """
    a, b = _as_matrix(scores_a), _as_matrix(scores_b)
    if a.shape != b.shape:
        raise ValueError(f"the two metrics must score the same images and methods: "
                         f"{a.shape} vs {b.shape}")
    rows = bootstrap_indices(len(a), n_boot, seed)
    taus = np.array([kendall_tau(a[r].mean(axis=0), b[r].mean(axis=0)) for r in rows])
    taus = taus[np.isfinite(taus)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(taus, [tail, 100 - tail]) if len(taus) else (np.nan, np.nan)
    point = kendall_tau(a.mean(axis=0), b.mean(axis=0))
    return Interval(np.array([point]), np.array([low]), np.array([high]))


def split_half_reliability(values: object, n_splits: int = 200, seed: int = 0) -> float:
    r"""Mean Kendall :math:`\tau_b` between the method rankings of two random halves of the images.

    ``values`` is ``(N images, M methods)`` (N ≥ 2). Each split puts ⌊N/2⌋ random images
    in one half and the rest in the other. Splits where one half ranks all methods
    equal are skipped.
    """
    scores = _as_matrix(values)
    if len(scores) < 2:
        raise ValueError("split-half reliability needs at least two images")
    generator = np.random.default_rng(seed)
    half = len(scores) // 2
    taus = []
    for _ in range(n_splits):
        order = generator.permutation(len(scores))
        tau = kendall_tau(scores[order[:half]].mean(axis=0), scores[order[half:]].mean(axis=0))
        if np.isfinite(tau):
            taus.append(tau)
    return float(np.mean(taus)) if taus else float("nan")


def paired_difference(values_a: object, values_b: object, n_boot: int = DEFAULT_BOOTSTRAP,
                      level: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``a − b`` over the same images, with its bootstrap interval (one number each)."""
    a, b = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two 1-D per-image vectors of equal length, got {a.shape} "
                         f"and {b.shape}")
    return bootstrap_mean(a - b, n_boot, level, seed)
