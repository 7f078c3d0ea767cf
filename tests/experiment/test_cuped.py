"""CUPED: the pooled theta, exact agreement with adjusting the raw values, and the variance it removes."""

import numpy as np
import pytest

from marquee.errors import DataError, NotFittedError
from marquee.experiment import CUPED, AdjustedStats, MeanStats, adjust, pooled_theta, welch


def _arm(pre, post):
    return AdjustedStats(MeanStats.from_values(post), MeanStats.from_values(pre), (pre * post).sum(axis=-1))


def _correlated(rng, shape, rho, effect=0.0):
    pre = rng.normal(0, 1, shape)
    post = rho * pre + np.sqrt(1 - rho**2) * rng.normal(0, 1, shape) + effect
    return pre, post


def test_theta_is_the_pooled_regression_slope():
    rng = np.random.default_rng(0)
    pre, post = _correlated(rng, 5000, 0.6)
    model = CUPED().fit(pre, post)
    assert model.theta_ == pytest.approx(np.cov(pre, post)[0, 1] / pre.var(ddof=1))
    assert pooled_theta(_arm(pre[:2000], post[:2000]), _arm(pre[2000:], post[2000:])) == pytest.approx(model.theta_)


def test_aggregated_path_equals_welch_on_transformed_values():
    rng = np.random.default_rng(1)
    pre_a, post_a = _correlated(rng, 700, 0.7)
    pre_b, post_b = _correlated(rng, 900, 0.7, effect=0.1)
    a, b, reduction = adjust(_arm(pre_a, post_a), _arm(pre_b, post_b))
    model = CUPED().fit(np.concatenate([pre_a, pre_b]), np.concatenate([post_a, post_b]))
    direct = welch(MeanStats.from_values(model.transform(pre_a, post_a)), MeanStats.from_values(model.transform(pre_b, post_b)))
    via_stats = welch(a, b)
    for field in ("estimate", "se", "dof", "p_value"):
        assert getattr(via_stats, field) == pytest.approx(getattr(direct, field), rel=1e-9)
    plain = welch(MeanStats.from_values(post_a), MeanStats.from_values(post_b))
    assert reduction == pytest.approx(1 - via_stats.se**2 / plain.se**2)


def test_variance_reduction_at_correlation_0_7():
    """2,000 seeded experiments, pre/post correlation 0.7: theory says 0.7² = 49% less variance (51% is left)."""
    rng = np.random.default_rng(42)
    runs, n = 2000, 500
    pre_a, post_a = _correlated(rng, (runs, n), 0.7)
    pre_b, post_b = _correlated(rng, (runs, n), 0.7, effect=0.05)
    a, b, reported = adjust(_arm(pre_a, post_a), _arm(pre_b, post_b))
    cuped = np.asarray(b.mean) - np.asarray(a.mean)
    plain = post_b.mean(axis=1) - post_a.mean(axis=1)
    measured = 1 - cuped.var() / plain.var()
    assert measured >= 0.45
    assert np.mean(reported) == pytest.approx(0.49, abs=0.01)
    assert cuped.mean() == pytest.approx(0.05, abs=3 * cuped.std() / np.sqrt(runs))  # still unbiased
    # And the adjusted test keeps its size in A/A.
    fpr = np.mean(welch(a, adjust(_arm(pre_a, post_a), _arm(*_correlated(rng, (runs, n), 0.7)))[1]).p_value < 0.05)
    assert 0.03 <= fpr <= 0.07


def test_constant_covariate_means_no_adjustment():
    post = np.arange(10.0)
    a, b, reduction = adjust(_arm(np.ones(10), post), _arm(np.ones(10), post + 1))
    assert a.theta == 0.0 and reduction == 0.0


def test_errors():
    with pytest.raises(NotFittedError, match=r"call fit\(pre, post\) first"):
        CUPED().transform(np.ones(3), np.ones(3))
    with pytest.raises(DataError, match=r"equal length >= 2 .* got shapes \(3,\) and \(4,\)"):
        CUPED().fit(np.ones(3), np.ones(4))
