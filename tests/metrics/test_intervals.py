"""Bootstrap intervals and paired comparisons."""

import numpy as np
import pytest

from marquee.metrics import bootstrap_coverage, bootstrap_mean, paired_comparison


def test_bootstrap_interval_brackets_mean_and_is_seeded():
    values = np.random.default_rng(0).normal(0.3, 0.1, 500)
    a = bootstrap_mean(values, seed=1)
    b = bootstrap_mean(values, seed=1)
    assert a == b
    assert a.low < values.mean() < a.high
    # Standard error 0.1/sqrt(500) = 0.0045: a 95% interval is about ±0.0088 wide.
    assert 0.006 < (a.high - a.low) / 2 < 0.012


def test_bootstrap_covers_truth_at_stated_rate():
    rng = np.random.default_rng(7)
    # Coverage over 300 replications of a 95% interval; a binomial margin of ±4 points.
    hits = 0
    for s in range(300):
        x = rng.exponential(1.0, 200)
        iv = bootstrap_mean(x, n_bootstrap=400, seed=s)
        hits += iv.low <= 1.0 <= iv.high
    assert 0.90 <= hits / 300 <= 0.99


def test_coverage_interval_contains_estimate():
    rng = np.random.default_rng(3)
    topk = rng.integers(0, 300, size=(400, 10))
    iv = bootstrap_coverage(topk, 300, 10, n_bootstrap=200, seed=0)
    assert iv.low <= iv.estimate <= iv.high


def test_paired_comparison_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(5)
    base = rng.random(900)
    better = paired_comparison(base + 0.05 + rng.normal(0, 0.05, 900), base, seed=0)
    assert better.significant and better.difference.low > 0 and better.p_value_t < 1e-6
    null = paired_comparison(base + rng.normal(0, 0.05, 900), base, seed=0)
    assert null.p_value_t > 0.001
    same = paired_comparison(base, base)
    assert same.p_value_t == 1.0 and not same.significant


def test_paired_comparison_needs_equal_shapes():
    with pytest.raises(ValueError, match="equal shapes"):
        paired_comparison(np.zeros(3), np.zeros(4))
