"""Bootstrap intervals, rankings and their agreement (course_lib.evaluation.statistics).

Expected values come from scipy (Kendall's tau), from closed forms (the spread of a
mean), or from a few lines written here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from course_lib.evaluation.statistics import (bootstrap_mean, bootstrap_tau, kendall_tau,
                                              paired_difference, ranks,
                                              split_half_reliability)


def test_bootstrap_interval_has_the_width_of_the_standard_error():
    # 400 images, values with standard deviation 1: the 95 % interval of the mean is
    # about ±1.96/sqrt(400) = ±0.098. Over seeds 0–9 the measured half-width lay in
    # [0.089, 0.105]; the margin below covers that spread.
    values = np.random.default_rng(1).normal(3.0, 1.0, size=400)
    mean, low, high = bootstrap_mean(values, n_boot=2000, seed=0)
    assert mean[0] == pytest.approx(values.mean())
    half = (high[0] - low[0]) / 2
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert 1.75 * se < half < 2.2 * se
    assert low[0] < values.mean() < high[0]


def test_bootstrap_resamples_images_not_methods():
    # Two methods, identical scores on every image but varying across images: resampling
    # the images gives both a real interval, and the same one (the same rows for both).
    column = np.linspace(0, 1, 50)
    interval = bootstrap_mean(np.stack([column, column], axis=1), n_boot=500, seed=3)
    assert interval.high[0] - interval.low[0] > 0.1
    assert interval.low[0] == interval.low[1] and interval.high[0] == interval.high[1]


def test_bootstrap_is_seeded():
    values = np.random.default_rng(0).random((30, 3))
    a, b = bootstrap_mean(values, seed=5), bootstrap_mean(values, seed=5)
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)


@pytest.mark.parametrize("seed", range(5))
def test_kendall_tau_matches_scipy(seed):
    generator = np.random.default_rng(seed)
    a = generator.integers(0, 5, size=9).astype(float)   # ties on purpose
    b = a + generator.normal(0, 2, size=9)
    assert kendall_tau(a, b) == pytest.approx(kendalltau(a, b).statistic, abs=1e-12)


def test_kendall_tau_uses_orders_only():
    a = np.array([0.1, 0.5, 0.2, 0.9, 0.3])
    b = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert kendall_tau(a, b) == kendall_tau(np.exp(10 * a), b ** 3)
    assert kendall_tau(a, a) == 1.0 and kendall_tau(a, -a) == -1.0


def test_ranks_are_one_for_the_best_and_share_ties():
    assert ranks([0.2, 0.9, 0.5]).tolist() == [3.0, 1.0, 2.0]
    assert ranks([0.2, 0.9, 0.5], higher_is_better=False).tolist() == [1.0, 3.0, 2.0]
    assert ranks([1.0, 1.0, 0.0]).tolist() == [1.5, 1.5, 3.0]


def test_split_half_of_a_perfectly_consistent_metric_is_one():
    # every image ranks the four methods the same way (different offsets per image)
    offsets = np.random.default_rng(0).normal(size=(40, 1))
    scores = offsets + np.array([[0.0, 1.0, 2.0, 3.0]])
    assert split_half_reliability(scores, n_splits=50) == 1.0


def test_split_half_of_pure_noise_is_zero_on_average():
    # independent noise per image and method: for one data set the splits share its
    # overall means, so one value can be far from 0 (0.36 for seed 1); averaged over
    # data sets it is 0. Over 20 data sets the mean lay within ±0.1 for seeds 0–4.
    values = [split_half_reliability(np.random.default_rng(s).normal(size=(60, 6)), 100)
              for s in range(20)]
    assert abs(np.mean(values)) < 0.15


def test_bootstrap_tau_interval_contains_the_point_value():
    generator = np.random.default_rng(0)
    a = generator.normal(size=(30, 5)) + np.arange(5)
    b = generator.normal(size=(30, 5)) + np.arange(5)
    interval = bootstrap_tau(a, b, n_boot=200)
    assert interval.low[0] <= interval.mean[0] <= interval.high[0]
    assert interval.mean[0] == pytest.approx(kendall_tau(a.mean(0), b.mean(0)))


def test_paired_difference_is_the_mean_difference():
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.5, 2.0, 2.0, 3.5])
    assert paired_difference(a, b).mean[0] == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.full((3, 2), np.nan), np.zeros((2, 2, 2))])
def test_bad_scores_are_refused(bad):
    with pytest.raises(ValueError):
        bootstrap_mean(bad)
