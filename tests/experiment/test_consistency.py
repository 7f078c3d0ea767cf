"""One quantity, one test; intervals that agree with the adjusted decision; the minimum detectable effect."""

import itertools

import numpy as np
import pytest
from scipy import stats

from marquee.errors import ConfigError
from marquee.experiment import (
    Decision,
    ExperimentConfig,
    MeanStats,
    adjust_p_values,
    aggregate,
    always_valid_p_value,
    analyze,
    confidence_sequence,
    decide,
    fieller_interval,
    read_totals,
    sample_ratio_test,
    simulate,
    welch,
)
from marquee.experiment.analysis import Comparison, corrected_alpha, minimum_detectable_effect
from marquee.experiment.simulate import demo_config
from marquee.metrics.intervals import Interval


def test_cuped_metric_reports_its_plain_twin_untested(small_tables):
    exposures, events = small_tables
    plan = demo_config(variants=("control", "a", "b"), sequential=False)
    r = analyze(ExperimentConfig.from_dict(plan), exposures=exposures, events=events)
    plain_plan = plan | {"metrics": [m | {"cuped": False} for m in plan["metrics"]]}
    p = analyze(ExperimentConfig.from_dict(plain_plan), exposures=exposures, events=events)
    for c in r.fixed + r.sequential:
        if c.metric in ("watch_minutes", "sessions"):
            twin = p.comparison(c.metric, c.variant, c.method)
            assert c.plain.p_value == pytest.approx(twin.p_value, rel=1e-12) and c.plain.relative.low == pytest.approx(twin.relative.low, rel=1e-12)
            assert np.isnan(c.plain.p_adjusted) and c.plain.tests == 0 and c.plain.theta is None
        else:
            assert c.plain is None
    # The family: 4 success metrics x 2 treatments, the plain twins not among them.
    family = [c for c in r.fixed if c.metric != "rebuffer_rate"]
    assert {c.tests for c in family} == {8}
    assert [c.p_adjusted for c in family] == pytest.approx(adjust_p_values([c.p_value for c in family], "holm"), rel=1e-12)


def test_one_quantity_twice_is_a_plan_error():
    plan = demo_config()
    twin = {"name": "watch_minutes_cuped", "events": ["play"], "aggregate": "sum", "cuped": True}
    with pytest.raises(ConfigError, match=r"metrics 'watch_minutes' and 'watch_minutes_cuped' measure the same quantity \(sum of 'play'\); analyse it once"):
        ExperimentConfig.from_dict(plan | {"metrics": plan["metrics"] + [twin]})
    ratio = {"name": "rate2", "numerator": "rebuffers", "denominator": "plays"}
    with pytest.raises(ConfigError, match=r"'rebuffer_rate' and 'rate2' measure the same quantity"):
        ExperimentConfig.from_dict(plan | {"metrics": plan["metrics"] + [ratio]})
    # Another aggregate of the same events is another quantity.
    ExperimentConfig.from_dict(plan | {"metrics": plan["metrics"] + [{"name": "played", "events": ["play"], "aggregate": "any"}]})


def test_corrected_alpha():
    p = np.array([0.001, 0.02, 0.04, 0.3])
    holm = adjust_p_values(p, "holm")
    assert corrected_alpha(0.05, p[0], holm[0]) == pytest.approx(0.05 / 4)  # Holm's first step is Bonferroni's
    assert corrected_alpha(0.05, 0.02, 0.02) == 0.05 and corrected_alpha(0.05, 0.0, 0.0) == 0.05
    assert corrected_alpha(0.05, float("nan"), float("nan")) == 0.05


def test_sequence_at_another_level_agrees_with_the_p_value():
    rng = np.random.default_rng(3)
    est, se, n = rng.normal(0, 1, 5000), rng.uniform(0.2, 0.6, 5000), rng.integers(100, 20000, 5000).astype(float)
    p = always_valid_p_value(est, se, n, alpha=0.05, tuning=5000)
    for level in (0.05, 0.0125, 0.003):
        lo, hi = confidence_sequence(est, se, n, alpha=level, tuning=5000, tuned_alpha=0.05)
        assert np.array_equal((lo > 0) | (hi < 0), p < level)
    assert confidence_sequence(1.0, 0.5, 1000, alpha=0.05, tuning=5000, tuned_alpha=0.05) == confidence_sequence(1.0, 0.5, 1000)


def test_fieller_is_the_inversion_of_welch():
    rng = np.random.default_rng(8)
    for _ in range(200):
        a = MeanStats.from_values(rng.gamma(2, 5, 300))
        b = MeanStats.from_values(rng.gamma(2, 5 * rng.uniform(0.9, 1.15), 300))
        w = welch(a, b)
        lo, hi = fieller_interval(a, b, 0.05)
        assert (lo > 0 or hi < 0) == (w.p_value < 0.05)
        t = stats.t.ppf(0.975, w.dof)
        assert fieller_interval(a, b, critical=t) == pytest.approx((lo, hi), rel=1e-12)


@pytest.mark.parametrize("sequential", [False, True])
def test_decision_intervals_exclude_zero_exactly_when_adjusted_p_is_below_alpha(sequential):
    """Every tested comparison, every correction, both relative methods: the intervals the decision reads agree with it."""
    checked = significant = 0
    for seed in range(4):
        exposures, events = simulate(1500, variants=("control", "a", "b"), lift={"a": 0.08, "b": 0.2}, harm={"b": 0.3}, days=8, seed=100 + seed)
        totals = aggregate(ExperimentConfig.from_dict(demo_config(variants=("control", "a", "b"))), exposures=exposures, events=events)
        for correction, relative in itertools.product(("holm", "bh", "none"), ("delta", "fieller")):
            plan = demo_config(variants=("control", "a", "b"), sequential=sequential) | {"correction": correction, "relative_interval": relative}
            r = read_totals(ExperimentConfig.from_dict(plan | {"guardrails": []}), totals)
            for c in r.comparisons:
                for iv in (c.absolute_adjusted, c.relative_adjusted):
                    assert ((iv.low > 0) or (iv.high < 0)) == (c.p_adjusted < 0.05), (c.metric, c.variant, c.p_value, c.p_adjusted, iv)
                    checked += 1
                significant += c.p_adjusted < 0.05
                assert iv.level == pytest.approx(1 - corrected_alpha(0.05, c.p_value, c.p_adjusted))
    assert checked == 4 * 6 * 10 * 2 and 20 < significant < checked / 2 - 20


def test_the_headline_interval_agrees_with_the_adjusted_decision():
    """The issue's case: a 95% interval excluding 0 beside an adjusted p = 0.088 now shows the 99% interval, which does not."""
    exposures, events = simulate(2000, lift={"treatment": 0.06}, days=10, seed=3)
    r = analyze(ExperimentConfig.from_dict(demo_config(sequential=False) | {"guardrails": []}), exposures=exposures, events=events)
    c = r.comparison("watch_minutes", "treatment")
    assert c.p_value < 0.05 < c.p_adjusted and c.relative.low > 0  # per test, "significant"
    assert c.relative_adjusted.low < 0 < c.relative_adjusted.high and c.relative_adjusted.level == pytest.approx(0.99)
    assert r.decision.decision is Decision.NO_DETECTABLE_EFFECT
    iv = c.relative_adjusted
    assert f"treatment +9.14% [{iv.low:+.2%}, {iv.high:+.2%}] (99% interval, corrected for 5 tests), adjusted p = 0.088" in r.decision.reason
    assert f"minimum detectable effect ±{c.mde:.2%} (80% power at alpha 0.01, 0.05 over 5 tests)" in r.decision.reason


def test_minimum_detectable_effect_has_the_power_it_claims():
    """2,000 seeded experiments whose true difference is the MDE: Welch rejects about 80% of the time."""
    rng = np.random.default_rng(21)
    n, sigma, alpha = 400, 1.0, 0.01
    se = sigma * np.sqrt(2 / n)
    mde = minimum_detectable_effect(se, 2 * n - 2, alpha)
    assert mde == pytest.approx((stats.t.ppf(1 - alpha / 2, 2 * n - 2) + stats.t.ppf(0.8, 2 * n - 2)) * se)
    a, b = rng.normal(0, sigma, (2000, n)), rng.normal(mde, sigma, (2000, n))
    power = np.mean(welch(MeanStats.from_values(a), MeanStats.from_values(b)).p_value < alpha)
    assert 0.77 <= power <= 0.83


def test_fixed_horizon_without_a_result_is_no_detectable_effect(small_tables):
    exposures, events = simulate(3000, days=10, seed=9)  # no effect at all
    plan = demo_config(sequential=False) | {"guardrails": []}
    r = analyze(ExperimentConfig.from_dict(plan), exposures=exposures, events=events)
    c = r.comparison("watch_minutes", "treatment")
    assert r.decision.decision is Decision.NO_DETECTABLE_EFFECT and r.decision.variant is None
    assert c.mde == pytest.approx(float(minimum_detectable_effect(c.se, c.dof, 0.05 / c.tests)) / c.control_mean)
    assert 0.02 < c.mde < 0.2 and f"minimum detectable effect ±{c.mde:.2%}" in r.decision.reason
    # The same data looked at sequentially: the confidence sequence may look again.
    s = analyze(ExperimentConfig.from_dict(plan | {"sequential": True}), exposures=exposures, events=events)
    assert s.decision.decision is Decision.KEEP_RUNNING and s.comparison("watch_minutes", "treatment").mde is None


def test_headline_labels_a_corrected_interval():
    srm = sample_ratio_test({"c": 1000, "a": 1000}, {"c": 1, "a": 1})
    per_test, corrected = Interval(0.1, 0.01, 0.19), Interval(0.1, -0.01, 0.21, 0.975)
    c = Comparison("m", "a", "c", "fixed", 1000, 1000, 1.0, 1.1, Interval(0.1, 0.01, 0.19), per_test, 0.03, 0.06,
                   relative_adjusted=corrected, tests=2, mde=0.12)  # fmt: skip
    v = decide(srm, [c], [], alpha=0.05)
    assert v.decision is Decision.NO_DETECTABLE_EFFECT
    assert v.reason.startswith("no variant is significantly better or worse on m (best: a +10.00% [-1.00%, +21.00%] (97.5% interval, corrected for 2 tests), adjusted p = 0.06)")
    assert "minimum detectable effect ±12.00% (80% power at alpha 0.025, 0.05 over 2 tests)" in v.reason
