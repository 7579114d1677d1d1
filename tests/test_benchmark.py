"""The benchmark command (course_lib.evaluation.benchmark) and its shipped results.

- the estimate of the full run stays within the 30-minute budget on two idle cores;
- a tiny run writes results that load back, with every score where it belongs;
- the shipped results are reproduced: a few images, methods and tests are recomputed and
  compared with the committed files (a float tolerance: thread counts change the last
  digits);
- the summary CSV holds the means of the per-image scores.
"""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from course_lib.evaluation import benchmark, report
from course_lib.evaluation.benchmark import Config, load_results, run_model, save

SHIPPED = benchmark.RESULTS_DIR / "benchmark_small_cnn.npz"
# the shipped settings, on three images and four methods (so that it reproduces them)
TINY = Config(n_ground_truth=3, n_images=3, chunk=2, bootstrap=100,
              methods=("vanilla gradient", "Grad-CAM", "occlusion", "random map"))


def test_the_full_run_fits_the_budget():
    seconds = benchmark.estimate()
    assert sum(seconds.values()) < 30 * 60, seconds


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    scores, extra = run_model("small_cnn", TINY, progress=False)
    folder = tmp_path_factory.mktemp("results")
    save("small_cnn", scores, extra, folder)
    return load_results("small_cnn", folder)


def test_a_tiny_run_has_every_test(tiny):
    assert tiny.methods == list(TINY.methods)
    for test in ("pointing", "mass", "roc_auc", "cascade", "independent", "null_random",
                 "null_images", "data_randomization", "morf", "lerf", "infidelity",
                 "max_sensitivity", "fragility"):
        assert tiny.variants(test), test
    assert tiny.table("roc_auc", "mask").shape == (3, 4)
    assert tiny.variants("cascade") == list(benchmark.SMALL_CNN_CASCADE)
    # the top-k attack applies to methods with a differentiable map only
    fragility = tiny.table("fragility", "attack")
    assert np.isfinite(fragility[:, 0]).all() and np.isnan(fragility[:, 2]).all()
    # the controls do not depend on the model: the randomization test cannot move them
    assert np.allclose(tiny.column("cascade", "conv1", "random map"), 1.0)
    # every similarity is a correlation, every area a probability integral
    for variant in tiny.variants("cascade"):
        assert (np.abs(tiny.table("cascade", variant)) <= 1 + 1e-9).all()
    assert ((tiny.table("morf", "road") >= 0) & (tiny.table("morf", "road") <= 1)).all()


def test_summary_means_are_the_means_of_the_scores(tiny, tmp_path):
    path = tmp_path / "summary.csv"
    benchmark.write_summary([tiny], path, n_boot=100)
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    row = next(r for r in rows if r["test"] == "mass" and r["method"] == "Grad-CAM")
    assert float(row["mean"]) == pytest.approx(tiny.column("mass", "absolute", "Grad-CAM").mean(),
                                               rel=1e-5)
    assert float(row["low"]) <= float(row["mean"]) <= float(row["high"])


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped results yet")
def test_shipped_results_are_reproduced(tiny):
    shipped = load_results("small_cnn")
    for key, values in tiny.scores.items():
        if key[0] in ("null_images",):      # pairs each image with the next one of the run
            continue
        columns = [shipped.methods.index(name) for name in tiny.methods]
        expected = shipped.scores[key][:len(values)][:, columns]
        np.testing.assert_allclose(values, expected, rtol=1e-3, atol=2e-3, err_msg=str(key))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped results yet")
def test_shipped_results_cover_every_registered_method():
    from course_lib.evaluation import registry

    for model in benchmark.MODELS:
        results = load_results(model)
        assert results.methods == registry.method_names(), \
            f"{model}: rerun `make evaluate` after registering a method"
        for m in report.applicable(results):
            assert report.table(results, m).shape[1] == len(results.methods)


def test_estimate_counts_every_part():
    total = benchmark.estimate(dataclasses.replace(Config()))
    parts = [benchmark.estimate(Config(), parts=(p,)) for p in benchmark.PARTS]
    for model in benchmark.MODELS:
        assert total[model] == pytest.approx(sum(p[model] for p in parts))
