"""Classical comparisons: parity with scipy/statsmodels, delta-method identities, interval coverage."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from marquee.errors import ConfigError
from marquee.experiment import MeanStats, RatioStats, adjust_p_values, compare, fieller_interval, relative_lift, welch


@pytest.fixture
def arms():
    rng = np.random.default_rng(7)
    return rng.gamma(2.0, 5.0, 800), rng.gamma(2.0, 5.4, 1100)


def test_welch_matches_scipy_and_statsmodels(arms):
    a, b = arms
    w = welch(MeanStats.from_values(a), MeanStats.from_values(b))
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert w.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert w.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert w.dof == pytest.approx(ref.df, rel=1e-9)
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(alpha=0.05, usevar="unequal")
    assert w.interval(0.05) == pytest.approx((lo, hi), rel=1e-9)


def test_compare_reports_welch_and_relative_lift(arms):
    a, b = arms
    c = compare(MeanStats.from_values(a), MeanStats.from_values(b), metric="m", variant="b", alpha=0.1)
    assert c.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    assert c.absolute.estimate == pytest.approx(b.mean() - a.mean())
    assert c.relative.estimate == pytest.approx(b.mean() / a.mean() - 1)
    assert c.relative.level == c.absolute.level == 0.9
    assert (c.n_control, c.n_variant) == (800, 1100)


def test_vectorised_over_many_experiments_equals_one_by_one():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (5, 40)), rng.normal(0.2, 2, (5, 60))
    w = welch(MeanStats.from_values(a), MeanStats.from_values(b))
    for i in range(5):
        assert w.p_value[i] == pytest.approx(stats.ttest_ind(b[i], a[i], equal_var=False).pvalue, rel=1e-9)


def test_ratio_variance_is_the_variance_of_the_linearised_values():
    rng = np.random.default_rng(3)
    den = rng.poisson(4, 2000) + 1.0
    num = den * rng.gamma(3, 10, 2000) + rng.normal(0, 5, 2000)
    r = RatioStats(MeanStats.from_values(num), MeanStats.from_values(den), float(num @ den))
    ratio = num.sum() / den.sum()
    linear = (num - ratio * den) / den.mean()
    assert r.mean == pytest.approx(ratio)
    assert r.variance == pytest.approx(linear.var(ddof=1), rel=1e-9)


def test_relative_lift_delta_method_formula(arms):
    a, b = arms
    est, se = relative_lift(MeanStats.from_values(a), MeanStats.from_values(b))
    ma, mb = a.mean(), b.mean()
    assert est == pytest.approx(mb / ma - 1)
    var = b.var(ddof=1) / (ma**2 * b.size) + mb**2 * a.var(ddof=1) / (ma**4 * a.size)
    assert se == pytest.approx(np.sqrt(var))


def test_fieller_bounds_solve_its_equation(arms):
    a, b = arms
    sa, sb = MeanStats.from_values(a), MeanStats.from_values(b)
    lo, hi = fieller_interval(sa, sb, 0.05)
    t = stats.t.ppf(0.975, welch(sa, sb).dof)
    for rho in (lo + 1, hi + 1):
        z = (b.mean() - rho * a.mean()) / np.sqrt(b.var(ddof=1) / b.size + rho**2 * a.var(ddof=1) / a.size)
        assert abs(z) == pytest.approx(t, rel=1e-9)
    assert fieller_interval(MeanStats.from_values(np.array([-1.0, 1.0, 0.5])), sb) == (float("-inf"), float("inf"))


def test_relative_intervals_cover_at_the_stated_rate():
    """2,000 seeded experiments with a true lift of +10%: both relative intervals cover it ~95% of the time."""
    rng = np.random.default_rng(11)
    runs, n = 2000, 300
    a = rng.exponential(1.0, (runs, n))
    b = rng.exponential(1.1, (runs, n))
    sa, sb = MeanStats.from_values(a), MeanStats.from_values(b)
    est, se = relative_lift(sa, sb)
    t = stats.t.ppf(0.975, welch(sa, sb).dof)
    delta = np.mean(np.abs(est - 0.1) <= t * se)
    fieller = np.mean([lo <= 0.1 <= hi for lo, hi in (
        fieller_interval(MeanStats(n, sa.total[i], sa.total_sq[i]), MeanStats(n, sb.total[i], sb.total_sq[i])) for i in range(runs))])  # fmt: skip
    assert 0.93 <= delta <= 0.97
    assert 0.93 <= fieller <= 0.97


def test_fixed_horizon_false_positive_rate_at_alpha():
    """A/A: 4,000 seeded experiments with skewed data; Welch rejects at the stated 5%."""
    rng = np.random.default_rng(2024)
    a = rng.lognormal(0, 1, (4000, 400))
    b = rng.lognormal(0, 1, (4000, 400))
    fpr = np.mean(welch(MeanStats.from_values(a), MeanStats.from_values(b)).p_value < 0.05)
    assert 0.03 <= fpr <= 0.07


def test_ratio_metric_false_positive_rate_at_alpha():
    rng = np.random.default_rng(5)
    runs, n = 2000, 300

    def arm():
        den = rng.poisson(3, (runs, n)) + 1.0
        num = den * rng.gamma(2, 10, (runs, n))
        return RatioStats(MeanStats.from_values(num), MeanStats.from_values(den), (num * den).sum(axis=1))

    fpr = np.mean(welch(arm(), arm()).p_value < 0.05)
    assert 0.03 <= fpr <= 0.07


@pytest.mark.parametrize("method,reference", [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_match_statsmodels(method, reference):
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(0, 0.05, 6), rng.uniform(0, 1, 20), [0.01, 0.01]])  # ties too
    assert adjust_p_values(p, method) == pytest.approx(multipletests(p, method=reference)[1], rel=1e-12)


def test_adjusted_p_values_skip_nans_and_none_is_identity():
    p = np.array([0.01, np.nan, 0.04])
    out = adjust_p_values(p, "holm")
    assert np.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.04])
    assert adjust_p_values(p, "none")[[0, 2]] == pytest.approx([0.01, 0.04])
    with pytest.raises(ConfigError, match=r"correction must be 'holm', 'bh' or 'none', got 'bonf'"):
        adjust_p_values(p, "bonf")


def test_degenerate_arms_do_not_warn():
    same = MeanStats.from_values(np.ones(10))
    assert welch(same, same).p_value == 1.0
    assert welch(same, MeanStats.from_values(np.full(10, 2.0))).p_value == 0.0
    with pytest.raises(ConfigError, match=r"alpha must be in \(0, 1\), got 1.5"):
        compare(same, same, metric="m", variant="v", alpha=1.5)
