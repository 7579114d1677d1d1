"""Checkers for the exercises of notebooks 09 · which map is right? and 10 · can we trust
the metrics?"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from course_lib.evaluation.imputation import linear_imputation
from course_lib.evaluation.sanity_checks import randomization_verdict
from course_lib.evaluation.statistics import kendall_tau, split_half_reliability
from course_lib.teaching.checkers.common import Mismatch, call, verdict


def _pairwise_auc(values: torch.Tensor, mask: torch.Tensor) -> float:
    positive, negative = values[mask].double(), values[~mask].double()
    return float((positive[:, None] > negative[None, :]).double().mean()
                 + 0.5 * (positive[:, None] == negative[None, :]).double().mean())


def roc_auc_ranks(fn: Callable) -> bool:
    """09 · Exercise 1: ``fn(values, mask)`` → the ROC-AUC of one map ``(H, W)`` against its
    mask, from mid-ranks (Mann–Whitney); ties count one half."""
    def run() -> str:
        generator = torch.Generator().manual_seed(0)
        mask = torch.zeros(6, 7, dtype=torch.bool)
        mask[1:3, 2:6] = True
        cases = [("a perfect map", mask.float()), ("an inverted map", (~mask).float()),
                 ("a constant map", torch.full((6, 7), 0.3)),
                 ("a map with many ties", torch.randint(0, 3, (6, 7), generator=generator)
                  .float() + mask.float()),
                 ("a map without ties", torch.rand(6, 7, generator=generator))]
        for description, values in cases:
            got = call(fn, values.clone(), mask.clone())
            expected = _pairwise_auc(values, mask)
            try:
                got = float(got)
            except (TypeError, ValueError):
                raise Mismatch(f"on {description}: expected a number, got {got!r}") from None
            if not math.isclose(got, expected, abs_tol=1e-6):
                hint = (" — tied values must share their mean rank (scipy.stats.rankdata's "
                        "default), not get consecutive ranks" if description in
                        ("a constant map", "a map with many ties") else
                        " — AUC = (sum of the mask's ranks − |M|(|M|+1)/2) / (|M| · (HW − |M|))")
                if math.isclose(got, 1 - expected, abs_tol=1e-6) and expected != 0.5:
                    hint = " — it is 1 − the answer: rank the values so that the largest " \
                           "gets the highest rank"
                raise Mismatch(f"on {description}: got {got:.4f}, expected {expected:.4f}{hint}")
        return "equals P(evidence pixel > background pixel) + ½ P(tie) on every case"
    return verdict("ROC-AUC from ranks", run)


def bootstrap_interval(fn: Callable) -> bool:
    """09 · Exercise 2: ``fn(scores, n_boot, seed)`` → ``(low, high)``, the 95 % percentile
    bootstrap interval of each column's mean, resampling the images (rows) of ``scores``
    ``(N images, M methods)``."""
    def run() -> str:
        generator = np.random.default_rng(1)
        column = generator.normal(0.0, 1.0, size=200)
        se = column.std(ddof=1) / math.sqrt(len(column))
        for scores in (column[:, None], np.stack([column, column, column + 5], axis=1)):
            got = call(fn, scores.copy(), 1000, 0)
            try:
                low, high = (np.asarray(v, dtype=float).reshape(-1) for v in got)
            except (TypeError, ValueError):
                raise Mismatch("expected a pair (low, high) of arrays with one entry per "
                               f"method, got {type(got).__name__}") from None
            m = scores.shape[1]
            if low.shape != (m,) or high.shape != (m,):
                raise Mismatch(f"expected one interval per method ({m}), got shapes "
                               f"{low.shape}, {high.shape}")
            width = high - low
            if np.isclose(width[0], 0):
                raise Mismatch("a method's interval has zero width: resample the images (rows "
                               "of scores), not the methods (columns)")
            if not 3.0 * se < width[0] < 4.8 * se:
                raise Mismatch(f"the interval of a mean over 200 images with standard deviation "
                               f"1 should be about 2 × 1.96 × {se:.3f} = {3.92 * se:.3f} wide; "
                               f"yours is {width[0]:.3f} (95 %: the 2.5th and 97.5th "
                               "percentiles of the means of the resampled images)")
            if not low[0] < column.mean() < high[0]:
                raise Mismatch("the interval does not contain the mean: compute the mean of "
                               "the resampled rows, column by column")
        if not (np.isclose(low[0], low[1]) and np.isclose(high[0], high[1])):
            raise Mismatch("two identical methods got different intervals: draw one set of "
                           "image indices per bootstrap sample and use it for every method")
        if not np.isclose(low[2] - low[0], 5.0):
            raise Mismatch("the intervals do not follow the means: compute the mean of the "
                           "resampled rows, column by column")
        return "the images are resampled, the same ones for every method"
    return verdict("bootstrap interval", run)


def sanity_pass(fn: Callable) -> bool:
    """09 · Exercise 3: ``fn(after, unrelated, margin)`` → ``True`` when the 95 % bootstrap
    interval of the mean paired difference ``after − unrelated`` lies below ``margin``."""
    def run() -> str:
        generator = np.random.default_rng(0)
        unrelated = generator.normal(0.1, 0.05, size=60)
        cases = [("a control (ρ = 1 after randomization)", np.ones(60)),
                 ("a map that forgets everything", unrelated + generator.normal(0, 0.05, 60)),
                 ("a map that keeps a clear trace", unrelated + 0.3),
                 ("a small but uncertain trace (mean difference 0.07)",
                  unrelated + 0.07 + generator.normal(0, 0.2, 60))]
        for description, after in cases:
            expected = randomization_verdict(after, unrelated, 0.1).passed
            got = call(fn, after.copy(), unrelated.copy(), 0.1)
            if bool(got) != expected:
                hint = ""
                if description.startswith("a small"):
                    hint = (" — its mean difference is below 0.1, but the 95 % interval reaches "
                            "above it: decide on the upper end of the interval, not the mean")
                raise Mismatch(f"for {description}: got {bool(got)}, expected {expected}{hint}")
        return "passes exactly when the interval of the paired difference lies below the margin"
    return verdict("sanity pass criterion", run)


def fails_only_on_lite0(answer: object) -> bool:
    """09 · Exercise 4: the set of method names that pass the full-randomization test on the
    small CNN but fail it on EfficientNet-Lite0 (from the shipped benchmark results)."""
    def run() -> str:
        from course_lib.evaluation.benchmark import load_results

        passed = {}
        for model in ("small_cnn", "lite0"):
            results = load_results(model)
            after = results.table("cascade", results.variants("cascade")[-1])
            unrelated = results.table("null_images", "next image")
            passed[model] = {name for j, name in enumerate(results.methods)
                             if randomization_verdict(after[:, j], unrelated[:, j]).passed}
        expected = passed["small_cnn"] - passed["lite0"]
        if answer is None:
            raise Mismatch("the answer is still None: set it to a set of method names")
        if isinstance(answer, str) or not hasattr(answer, "__iter__"):
            raise Mismatch(f"expected a set of method names, got {answer!r}")
        got = set(answer)
        if got != expected:
            missing, extra = sorted(expected - got), sorted(got - expected)
            raise Mismatch("not quite: " + "; ".join(
                part for part in (f"missing {missing}" if missing else "",
                                  f"should not be there {extra}" if extra else "") if part)
                + " (pass = randomization_verdict(...).passed on each model)")
        return f"{sorted(expected)}"
    return verdict("fails only on Lite0", run)


def impute_by_averaging(fn: Callable) -> bool:
    """10 · Exercise 1: ``fn(image, removed, iterations)`` → the image ``(C, H, W)`` with the
    removed pixels ``(H, W)`` replaced by repeated weighted neighbour averages (Jacobi),
    which converge to ROAD's linear imputation."""
    def run() -> str:
        generator = np.random.default_rng(3)
        image = generator.random((3, 7, 8))
        removed = generator.random((7, 8)) < 0.4
        removed[0, :] = True       # a whole border row: the border weights matter
        expected = linear_imputation(image, removed)
        got = call(fn, image.copy(), removed.copy(), 3000)
        got = np.asarray(got, dtype=float)
        if got.shape != image.shape:
            raise Mismatch(f"expected an image of shape {image.shape}, got {got.shape}")
        if not np.allclose(got[:, ~removed], image[:, ~removed]):
            raise Mismatch("kept pixels changed: only the removed pixels may be replaced")
        error = np.abs(got - expected).max()
        if error > 1e-4:
            where = np.unravel_index(np.abs(got - expected).argmax(), got.shape)
            border = where[1] in (0, image.shape[1] - 1) or where[2] in (0, image.shape[2] - 1)
            hint = (" — at the border, divide by the sum of the weights of the neighbours that "
                    "exist, not by 1" if border else
                    " — each step: every removed pixel becomes Σ w·neighbour / Σ w (w = 1/6 "
                    "direct, 1/12 diagonal), using the previous step's values")
            raise Mismatch(f"differs from ROAD's solution by up to {error:.2g} (at channel, "
                           f"row, column {tuple(int(i) for i in where)}){hint}")
        return "converges to ROAD's linear imputation"
    return verdict("imputation by averaging", run)


def kendall_tau_b(fn: Callable) -> bool:
    """10 · Exercise 2: ``fn(a, b)`` → Kendall's τ_b of two score vectors (ties corrected)."""
    def run() -> str:
        generator = np.random.default_rng(4)
        cases = [("two rankings without ties", generator.permutation(8).astype(float),
                  generator.permutation(8).astype(float)),
                 ("rankings with ties", np.array([1, 1, 2, 3, 3, 3, 4, 5.0]),
                  np.array([2, 1, 1, 3, 4, 4, 5, 5.0])),
                 ("a ranking and its reverse", np.arange(6.0), -np.arange(6.0))]
        for description, a, b in cases:
            expected = kendall_tau(a, b)
            got = float(call(fn, a.copy(), b.copy()))
            if not math.isclose(got, expected, abs_tol=1e-9):
                i, j = np.triu_indices(len(a), 1)
                tau_a = float((np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])).mean())
                hint = (" — that is τ_a: divide by sqrt((n0 − n1)(n0 − n2)), the pairs not tied "
                        "in each ranking" if math.isclose(got, tau_a, abs_tol=1e-9) else "")
                raise Mismatch(f"for {description}: got {got:.4f}, expected {expected:.4f}{hint}")
            transformed = float(call(fn, np.exp(a), b ** 3 if (b >= 0).all() else b))
            if not math.isclose(transformed, kendall_tau(np.exp(a), b ** 3 if (b >= 0).all()
                                                          else b), abs_tol=1e-9):
                raise Mismatch("τ must depend on the orders only: a monotone transformation of "
                               "the scores changed your value (compare signs of differences)")
        return "τ_b with the tie correction, invariant to monotone transformations"
    return verdict("Kendall's tau_b", run)


def split_half(fn: Callable) -> bool:
    """10 · Exercise 3: ``fn(scores, n_splits, seed)`` → the mean τ between the method rankings
    of two disjoint random halves of the images (rows)."""
    def run() -> str:
        offsets = np.random.default_rng(0).normal(size=(40, 1))
        consistent = offsets + np.arange(5.0)[None]
        got = float(call(fn, consistent, 50, 0))
        if not math.isclose(got, 1.0, abs_tol=1e-9):
            raise Mismatch(f"a metric that ranks every image the same way should score 1, got "
                           f"{got:.3f}")
        noise = np.random.default_rng(1).normal(size=(60, 6)) + np.linspace(0, 0.3, 6)
        expected = split_half_reliability(noise, 500, 0)
        got = float(call(fn, noise, 500, 1))
        if abs(got - expected) > 0.06:
            raise Mismatch(f"on noisy scores (60 images, 6 methods) the mean over 500 splits "
                           f"should be about {expected:.2f}, got {got:.2f} — the two halves "
                           "must be disjoint (a permutation of the rows, split in two), and "
                           "each half's ranking uses the mean over its own images")
        return "1 for a consistent metric, the expected value on noisy scores"
    return verdict("split-half reliability", run)


def most_disagreeing(answer: object) -> bool:
    """10 · Exercise 4: the pair of report-card metrics whose method rankings agree least on
    EfficientNet-Lite0 (lowest Kendall τ of the mean scores), as a tuple of two labels."""
    def run() -> str:
        from course_lib.evaluation import report
        from course_lib.evaluation.benchmark import load_results

        results = load_results("lite0")
        metrics = report.applicable(results)
        pairs = {(a.label, b.label): report.tau_of_means(results, a, b)
                 for k, a in enumerate(metrics) for b in metrics[k + 1:]}
        lowest = min(pairs.values())
        expected = {frozenset(pair) for pair, tau in pairs.items() if tau == lowest}
        if answer is None:
            raise Mismatch("the answer is still None: set it to a pair of metric labels")
        if isinstance(answer, str) or len(tuple(answer)) != 2:
            raise Mismatch(f"expected a pair of two metric labels, got {answer!r}")
        if frozenset(answer) not in expected:
            unknown = [label for label in answer if label not in
                       {m.label for m in metrics}]
            if unknown:
                raise Mismatch(f"unknown metric label(s) {unknown}; use the labels of "
                               "report.applicable(results)")
            tau = pairs.get(tuple(answer), pairs.get(tuple(reversed(tuple(answer)))))
            if tau is None:
                raise Mismatch(f"{tuple(answer)} is not a pair of two different tests; another "
                               f"pair agrees least (τ = {lowest:.2f})")
            raise Mismatch(f"those two have τ = {tau:.2f}; another pair agrees less "
                           f"(τ = {lowest:.2f})")
        return f"τ = {lowest:.2f}"
    return verdict("most disagreeing pair", run)
