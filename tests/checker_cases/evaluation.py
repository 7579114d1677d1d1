"""Checker cases for the exercises of notebooks 09 and 10: the solution a learner would
write, a typical mistake, and the words the explanation must contain."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.stats import rankdata

from course_lib import check


def _roc_auc(values, mask):
    ranks = rankdata(values.flatten().double().numpy())            # mid-ranks for ties
    positive = mask.flatten().numpy()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _roc_auc_ordinal(values, mask):                                  # ties get distinct ranks
    ranks = values.flatten().argsort(stable=True).argsort().double().numpy() + 1
    positive = mask.flatten().numpy()
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _bootstrap(scores, n_boot, seed):
    rows = np.random.default_rng(seed).integers(0, len(scores), (n_boot, len(scores)))
    means = scores[rows].mean(axis=1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def _bootstrap_methods(scores, n_boot, seed):                        # resamples the columns
    cols = np.random.default_rng(seed).integers(0, scores.shape[1], (n_boot, scores.shape[1]))
    means = scores.mean(axis=0)[cols]
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def _sanity_pass(after, unrelated, margin):
    difference = after - unrelated
    rows = np.random.default_rng(0).integers(0, len(difference), (2000, len(difference)))
    return np.percentile(difference[rows].mean(axis=1), 97.5) < margin


def _jacobi(image, removed, iterations, divide_by_valid=True):
    weights = {(dr, dc): (1 / 12 if dr and dc else 1 / 6)
               for dr, dc in itertools.product((-1, 0, 1), repeat=2) if dr or dc}
    out = image.copy()
    channels, height, width = image.shape
    for _ in range(iterations):
        total = np.zeros_like(out)
        weight = np.zeros((height, width))
        for (dr, dc), w in weights.items():
            shifted = np.zeros_like(out)
            valid = np.zeros((height, width))
            rows = slice(max(0, -dr), height - max(0, dr))
            cols = slice(max(0, -dc), width - max(0, dc))
            source_rows = slice(max(0, dr), height - max(0, -dr))
            source_cols = slice(max(0, dc), width - max(0, -dc))
            shifted[:, rows, cols] = out[:, source_rows, source_cols]
            valid[rows, cols] = 1
            total += w * shifted
            weight += w * valid
        average = total / (weight if divide_by_valid else 1.0)
        out = np.where(removed[None], average, image)
    return out


def _kendall(a, b, tie_correction=True):
    i, j = np.triu_indices(len(a), 1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    if not tie_correction:
        return (sa * sb).mean()
    return (sa * sb).sum() / np.sqrt((sa != 0).sum() * (sb != 0).sum())


def _split_half(scores, n_splits, seed, disjoint=True):
    generator = np.random.default_rng(seed)
    taus = []
    for _ in range(n_splits):
        order = generator.permutation(len(scores))
        first = scores[order[: len(scores) // 2]].mean(axis=0)
        second = scores[order[len(scores) // 2:]].mean(axis=0) if disjoint else \
            scores.mean(axis=0)
        taus.append(_kendall(first, second))
    return float(np.mean(taus))


CASES = {
    "roc_auc_ranks": (lambda: check.roc_auc_ranks(_roc_auc),
                      lambda: check.roc_auc_ranks(_roc_auc_ordinal), "mean rank"),
    "bootstrap_interval": (lambda: check.bootstrap_interval(_bootstrap),
                           lambda: check.bootstrap_interval(_bootstrap_methods), "resample the images"),
    "sanity_pass": (lambda: check.sanity_pass(_sanity_pass),
                    lambda: check.sanity_pass(lambda a, u, m: (a - u).mean() < m),
                    "upper end of the interval"),
    "fails_only_on_lite0": (
        lambda: check.fails_only_on_lite0(_expected_fails_only_on_lite0()),
        lambda: check.fails_only_on_lite0({"vanilla gradient"} ^ _expected_fails_only_on_lite0()),
        "not quite"),
    "impute_by_averaging": (lambda: check.impute_by_averaging(_jacobi),
                            lambda: check.impute_by_averaging(
                                lambda i, r, n: _jacobi(i, r, n, divide_by_valid=False)),
                            "at the border"),
    "kendall_tau_b": (lambda: check.kendall_tau_b(_kendall),
                      lambda: check.kendall_tau_b(lambda a, b: _kendall(a, b, False)), "τ_a"),
    "split_half": (lambda: check.split_half(_split_half),
                   lambda: check.split_half(lambda s, n, seed: _split_half(s, n, seed, False)),
                   "disjoint"),
    "most_disagreeing": (lambda: check.most_disagreeing(_expected_most_disagreeing()),
                         lambda: check.most_disagreeing(("MoRF black", "MoRF black")),
                         "another pair"),
}


# The two answers that depend on the shipped results are read off the results files here,
# by a few lines independent of the checkers (numpy only).

def _load(model):
    from course_lib.evaluation.benchmark import RESULTS_DIR

    return np.load(RESULTS_DIR / f"benchmark_{model}.npz")


def _passes(data, j):
    cascade = sorted((k for k in data.files if k.startswith("score|cascade|")),
                     key=list(data.files).index)[-1]
    difference = data[cascade][:, j].astype(float) - data["score|null_images|next image"][:, j]
    rows = np.random.default_rng(0).integers(0, len(difference), (2000, len(difference)))
    return np.percentile(difference[rows].mean(axis=1), 97.5) < 0.1


def _expected_fails_only_on_lite0():
    small, lite = _load("small_cnn"), _load("lite0")
    names = [str(n) for n in small["methods"]]
    return {name for j, name in enumerate(names) if _passes(small, j) and not _passes(lite, j)}


def _expected_most_disagreeing():
    from course_lib.evaluation import report
    from course_lib.evaluation.benchmark import load_results

    results = load_results("lite0")
    metrics = report.applicable(results)
    best, pair = None, None
    for k, a in enumerate(metrics):
        for b in metrics[k + 1:]:
            keep = [j for j, n in enumerate(results.methods)
                    if n not in ("random map", "colourfulness")
                    and np.isfinite(report.table(results, a)[:, j]).all()
                    and np.isfinite(report.table(results, b)[:, j]).all()]
            ta = report.table(results, a, oriented=True)[:, keep].mean(axis=0)
            tb = report.table(results, b, oriented=True)[:, keep].mean(axis=0)
            tau = _kendall(ta, tb)
            if best is None or tau < best:
                best, pair = tau, (a.label, b.label)
    return pair
