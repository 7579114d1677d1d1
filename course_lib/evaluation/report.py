r"""The report card: which test says what about which method, and do the tests agree?

Every test of the benchmark becomes a :class:`Metric` here: where its scores are stored,
and whether a high or a low score is good. :func:`oriented` turns any metric into
"higher is better" (a low deletion area, a low similarity after randomization, a low
sensitivity are good, so their sign is flipped), which is what rankings and their
agreement (Kendall's :math:`\tau`, Tomsett et al. 2020) need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course_lib.evaluation.statistics import bootstrap_tau, kendall_tau, split_half_reliability


@dataclass(frozen=True)
class Metric:
    """One column of the report card."""

    label: str                 # short name in tables and figures
    test: str                  # the key in the results ...
    variant: str | None        # ... and the variant (None: the last cascade step)
    higher_is_better: bool
    family: str                # ground truth, sanity, faithfulness, robustness
    models: tuple[str, ...] = ("small_cnn", "lite0")


METRICS: tuple[Metric, ...] = (
    Metric("mask ROC-AUC", "roc_auc", "mask", True, "ground truth", ("small_cnn",)),
    Metric("mass inside", "mass", "absolute", True, "ground truth", ("small_cnn",)),
    Metric("pointing", "pointing", "tau=2", True, "ground truth", ("small_cnn",)),
    Metric("randomized ρ", "cascade", None, False, "sanity"),
    Metric("shuffled-label ρ", "data_randomization", "shuffled labels", False, "sanity",
           ("small_cnn",)),
    Metric("MoRF black", "morf", "black", False, "faithfulness"),
    Metric("MoRF blurred", "morf", "blurred", False, "faithfulness"),
    Metric("MoRF ROAD", "morf", "road", False, "faithfulness"),
    Metric("LeRF black", "lerf", "black", True, "faithfulness"),
    Metric("LeRF blurred", "lerf", "blurred", True, "faithfulness"),
    Metric("LeRF ROAD", "lerf", "road", True, "faithfulness"),
    Metric("infidelity", "infidelity", "relative", False, "robustness"),
    Metric("max-sensitivity", "max_sensitivity", "r=0.02", False, "robustness"),
    Metric("top-k kept", "fragility", "attack", True, "robustness"),
)


def metric(label: str) -> Metric:
    """The metric called ``label``."""
    for m in METRICS:
        if m.label == label:
            return m
    raise KeyError(f"no metric {label!r}; choose from {[m.label for m in METRICS]}")


def variant_of(results, m: Metric) -> str:
    """The stored variant of ``m``: for the randomization test, the last cascade step."""
    return results.variants(m.test)[-1] if m.variant is None else m.variant


def table(results, m: Metric, oriented: bool = False) -> np.ndarray:
    """Per-image scores ``(N, M)`` of ``m`` (sign flipped if ``oriented`` and lower is better)."""
    values = results.table(m.test, variant_of(results, m))
    return -values if oriented and not m.higher_is_better else values


def applicable(results, metrics: tuple[Metric, ...] = METRICS) -> list[Metric]:
    """The metrics that exist in this model's results."""
    found = []
    for m in metrics:
        if results.model not in m.models or not results.variants(m.test):
            continue
        if m.variant is not None and (m.test, m.variant) not in results.scores:
            continue
        found.append(m)
    return found


def common_methods(results, a: Metric, b: Metric, controls: bool = False) -> list[int]:
    """Indices of the methods both metrics score on every image (controls left out unless asked)."""
    ta, tb = table(results, a), table(results, b)
    n = min(len(ta), len(tb))
    keep = []
    for j, name in enumerate(results.methods):
        if not controls and name in ("random map", "colourfulness"):
            continue
        if np.isfinite(ta[:n, j]).all() and np.isfinite(tb[:n, j]).all():
            keep.append(j)
    return keep


def agreement(results, a: Metric, b: Metric, n_boot: int = 500, seed: int = 0
              ) -> tuple[float, float, float, int]:
    r"""Kendall :math:`\tau_b` between the method rankings of two metrics on the same images.

    Both oriented (higher = better); images: those both metrics scored (the first
    ``n`` of the benchmark). Returns ``(tau, low, high, number of methods)``.
    """
    keep = common_methods(results, a, b)
    ta, tb = table(results, a, oriented=True), table(results, b, oriented=True)
    n = min(len(ta), len(tb))
    interval = bootstrap_tau(ta[:n][:, keep], tb[:n][:, keep], n_boot=n_boot, seed=seed)
    return float(interval.mean[0]), float(interval.low[0]), float(interval.high[0]), len(keep)


def reliability(results, m: Metric, n_splits: int = 200, seed: int = 0) -> float:
    """Split-half reliability of ``m``'s ranking over the images (methods, not controls)."""
    keep = common_methods(results, m, m)
    return split_half_reliability(table(results, m, oriented=True)[:, keep], n_splits, seed)


def ranking(results, m: Metric, controls: bool = True) -> list[str]:
    """Method names from best to worst by the mean score (ties keep registry order)."""
    keep = common_methods(results, m, m, controls=controls)
    means = table(results, m, oriented=True)[:, keep].mean(axis=0)
    return [results.methods[keep[j]] for j in np.argsort(-means, kind="stable")]


def tau_of_means(results, a: Metric, b: Metric) -> float:
    """:math:`\tau_b` of the two metrics' mean scores (no interval)."""
    keep = common_methods(results, a, b)
    ta, tb = table(results, a, oriented=True), table(results, b, oriented=True)
    n = min(len(ta), len(tb))
    return kendall_tau(ta[:n][:, keep].mean(axis=0), tb[:n][:, keep].mean(axis=0))


def dot_plot(ax, summary: dict[str, tuple[float, float, float]], order: list[str] | None = None,
             reference: float | None = None, xlabel: str = "", title: str = "",
             colours: dict[str, str] | None = None) -> None:
    """Means with their 95 % intervals, one row per method (``summary``: name → (mean, low,
    high)); a dashed line at ``reference`` (chance, a null). Best first when ``order``."""
    names = order if order is not None else list(summary)
    names = [n for n in names if n in summary]
    y = np.arange(len(names))
    means = np.array([summary[n][0] for n in names])
    lows = np.array([summary[n][1] for n in names])
    highs = np.array([summary[n][2] for n in names])
    colour = [(colours or {}).get(n, "tab:blue") for n in names]
    for k in range(len(names)):        # one call per row: a list of colours is ambiguous
        ax.errorbar(means[k], y[k], xerr=[[means[k] - lows[k]], [highs[k] - means[k]]],
                    fmt="none", ecolor=colour[k], elinewidth=1.5, capsize=2)
    ax.scatter(means, y, c=colour, s=18, zorder=3)
    if reference is not None:
        ax.axvline(reference, color="k", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


def family_colours(methods: list[str]) -> dict[str, str]:
    """One colour per family of the registry (controls in grey), for every figure alike."""
    from course_lib.evaluation import registry

    palette = {"gradient": "tab:blue", "ReLU rule": "tab:purple", "CAM": "tab:red",
               "noise": "tab:green", "path": "tab:orange", "perturbation": "tab:brown",
               "relevance": "tab:olive",
               "control": "tab:gray"}
    colours = {}
    for name in methods:
        try:
            family = registry.get(name).family
        except KeyError:
            family = "other"
        colours[name] = palette.get(family, "tab:cyan")
    return colours
