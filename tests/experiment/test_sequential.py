"""Confidence sequences: valid under daily peeking where the naive t-test is not; not vacuous either."""

import numpy as np
import pytest
from scipy import stats

from marquee.errors import ConfigError
from marquee.experiment import MeanStats, always_valid_p_value, confidence_sequence, welch
from marquee.experiment.sequential import mixture_rho


def _daily_looks(rng, runs, days, per_day, effect=0.0):
    """Cumulative per-arm statistics after each day: members arrive daily, values ~ skewed."""
    arms = []
    for shift in (0.0, effect):
        x = rng.gamma(2.0, 0.5, (runs, days, per_day)) + shift
        n = np.broadcast_to(per_day * np.arange(1, days + 1, dtype=float), (runs, days))
        arms.append(MeanStats(n, np.cumsum(x.sum(axis=2), axis=1), np.cumsum((x**2).sum(axis=2), axis=1)))
    return arms


def test_daily_peeking_keeps_the_false_positive_rate():
    """A/A, 2,000 seeded experiments, 28 daily looks: the sequence errs <= 5%, the naive t-test far more."""
    rng = np.random.default_rng(20240601)
    a, b = _daily_looks(rng, 2000, 28, 100)
    w = welch(a, b)
    lo, hi = confidence_sequence(w.estimate, w.se, a.n + b.n, alpha=0.05, tuning=5000)
    sequential = np.mean(((lo > 0) | (hi < 0)).any(axis=1))
    naive = np.mean((w.p_value < 0.05).any(axis=1))
    assert sequential <= 0.05
    assert naive >= 0.15  # peeking 28 times at a fixed-horizon test inflates its 5% several times over
    assert 0.03 <= np.mean(w.p_value[:, -1] < 0.05) <= 0.07  # one look at the end is fine


def test_sequence_has_power():
    rng = np.random.default_rng(3)
    a, b = _daily_looks(rng, 500, 28, 100, effect=0.1)  # +10% on a mean of 1: z = 5.3 at the last look
    w = welch(a, b)
    lo, _ = confidence_sequence(w.estimate, w.se, a.n + b.n)
    assert np.mean((lo > 0).any(axis=1)) >= 0.8


def test_p_value_rejects_exactly_when_the_sequence_excludes_zero():
    rng = np.random.default_rng(0)
    est, se, n = rng.normal(0, 1, 5000), rng.uniform(0.1, 1, 5000), rng.integers(10, 100_000, 5000)
    lo, hi = confidence_sequence(est, se, n, alpha=0.1, tuning=2000)
    p = always_valid_p_value(est, se, n, alpha=0.1, tuning=2000)
    assert np.array_equal(p < 0.1, (lo > 0) | (hi < 0))


def test_sequence_is_wider_than_the_fixed_interval_and_tightest_near_tuning():
    z = stats.norm.ppf(0.975)
    n = np.array([1000.0, 5000.0, 50_000.0])
    se = 1 / np.sqrt(n)
    lo, hi = confidence_sequence(0.0, se, n, tuning=5000)
    ratio = (hi - lo) / (2 * z * se)
    assert (ratio > 1).all()
    assert ratio[1] < ratio[0] and ratio[1] < ratio[2]


def test_known_values():
    # rho for alpha 0.05, N* = 5000: sqrt((-2 log .05 + log(-2 log .05 + 1)) / 5000)
    assert mixture_rho(0.05, 5000) == pytest.approx(np.sqrt((5.991464547 + np.log(6.991464547)) / 5000), rel=1e-9)
    lo, hi = confidence_sequence(1.0, 0.1, 10_000, alpha=0.05, tuning=5000)
    r2 = mixture_rho(0.05, 5000) ** 2
    half = np.sqrt(0.01 * 10_000) * np.sqrt(2 * (10_000 * r2 + 1) * np.log(np.sqrt(10_000 * r2 + 1) / 0.05) / (10_000**2 * r2))
    assert (lo, hi) == pytest.approx((1 - half, 1 + half), rel=1e-12)


def test_bad_tuning_says_what_it_is():
    with pytest.raises(ConfigError, match=r"members at which the sequence is tightest\) must be > 0, got 0"):
        confidence_sequence(0.0, 1.0, 10, tuning=0)
