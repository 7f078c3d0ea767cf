"""Survival metrics: agreement with scikit-survival (the reference), known answers, intervals, errors."""

import numpy as np
import pytest

from marquee.errors import ConfigError, DataError
from marquee.metrics import (
    CalibrationTable,
    Interval,
    brier_scores,
    calibration_table,
    concordance_interval,
    harrell_c,
    integrated_brier_interval,
    integrated_brier_score,
    uno_c,
)
from marquee.metrics.survival import _prefix_counts

TOL = 1e-10


def _data(seed: int, n: int, *, discrete: bool, censoring: float, risk_ties: bool):
    """Train and test rows with covariate-driven exponential times; test times within the training range."""
    rng = np.random.default_rng(seed)

    def rows(m):
        x = rng.normal(size=m)
        t = rng.exponential(10 * np.exp(-0.7 * x))
        c = rng.exponential(10 * (1 - censoring) / max(censoring, 1e-3), m)
        time = np.minimum(t, c)
        if discrete:
            time = np.ceil(time)
        return x, time, t <= c

    _, train_time, train_event = rows(2 * n)
    train_event[np.argmax(train_time)] = True  # G > 0 up to the last training time
    x, time, event = rows(n)
    keep = time <= train_time.max()
    x, time, event = x[keep], time[keep], event[keep]
    risk = np.round(x + rng.normal(0, 0.5, x.size), 1 if risk_ties else 12)
    times = np.unique(np.quantile(time, [0.1, 0.25, 0.4, 0.55, 0.7, 0.85]))
    surv = np.exp(-np.exp(0.7 * x)[:, None] * times[None, :] / 10)
    return train_time, train_event, time, event, risk, times, surv


CASES = [
    {"seed": 0, "n": 300, "discrete": False, "censoring": 0.3, "risk_ties": False},
    {"seed": 1, "n": 300, "discrete": True, "censoring": 0.3, "risk_ties": True},
    {"seed": 2, "n": 500, "discrete": True, "censoring": 0.8, "risk_ties": True},
    {"seed": 3, "n": 200, "discrete": False, "censoring": 0.8, "risk_ties": False},
    {"seed": 4, "n": 400, "discrete": True, "censoring": 0.5, "risk_ties": False},
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c['seed']}")
def test_matches_scikit_survival_on_random_data(case):
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    from sksurv.util import Surv

    train_time, train_event, time, event, risk, times, surv = _data(**case)
    y_train, y_test = Surv.from_arrays(train_event, train_time), Surv.from_arrays(event, time)

    ref = sksurv_metrics.concordance_index_censored(event, time, risk)[0]
    assert abs(harrell_c(time, event.astype(int), risk) - ref) < TOL
    for tau in (None, float(np.quantile(time, 0.5)), float(np.quantile(time, 0.9))):
        ref = sksurv_metrics.concordance_index_ipcw(y_train, y_test, risk, tau=tau)[0]
        assert abs(uno_c(train_time, train_event, time, event, risk, tau=tau) - ref) < TOL
    _, ref = sksurv_metrics.brier_score(y_train, y_test, surv, times)
    np.testing.assert_allclose(brier_scores(train_time, train_event, time, event, surv, times), ref, rtol=0, atol=TOL)
    ref = sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times)
    assert abs(integrated_brier_score(train_time, train_event, time, event, surv, times) - ref) < TOL


def test_matches_scikit_survival_on_rossi():
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi
    from sksurv.util import Surv

    rossi = load_rossi()  # 432 released prisoners, weeks to re-arrest (1-52), 74% censored
    order = np.random.default_rng(0).permutation(len(rossi))
    train, test = rossi.iloc[order[:216]], rossi.iloc[order[216:]]
    cox = CoxPHFitter().fit(train, "week", "arrest")
    risk = cox.predict_partial_hazard(test).to_numpy()
    times = np.array([5.0, 10, 20, 30, 40, 50])
    surv = cox.predict_survival_function(test, times=times).to_numpy().T
    tt, te = train["week"].to_numpy(float), train["arrest"].to_numpy(bool)
    t, e = test["week"].to_numpy(float), test["arrest"].to_numpy(bool)
    y_train, y_test = Surv.from_arrays(te, tt), Surv.from_arrays(e, t)

    c = harrell_c(t, e, risk)
    assert abs(c - sksurv_metrics.concordance_index_censored(e, t, risk)[0]) < TOL
    assert 0.55 < c < 0.8
    assert (
        abs(uno_c(tt, te, t, e, risk, tau=50) - sksurv_metrics.concordance_index_ipcw(y_train, y_test, risk, tau=50)[0])
        < TOL
    )
    # Everyone still free at week 52 is censored there, so G(52) = 0: both libraries refuse an event at 52.
    with pytest.raises(DataError, match=r"G estimated on the training data is 0 at event times 52\.0"):
        uno_c(tt, te, t, e, risk)
    _, ref = sksurv_metrics.brier_score(y_train, y_test, surv, times)
    np.testing.assert_allclose(brier_scores(tt, te, t, e, surv, times), ref, rtol=0, atol=TOL)
    ref = sksurv_metrics.integrated_brier_score(y_train, y_test, surv, times)
    assert abs(integrated_brier_score(tt, te, t, e, surv, times) - ref) < TOL


def test_concordance_known_answers():
    time = np.arange(1.0, 21.0)
    event = np.ones(20, int)
    event[::3] = 0
    train_time, train_event = np.arange(1.0, 31.0), np.r_[np.zeros(29, int), 1]
    for risk, expected in ((-time, 1.0), (time, 0.0), (np.full(20, 3.0), 0.5)):
        assert harrell_c(time, event, risk) == expected
        assert uno_c(train_time, train_event, time, event, risk) == expected
        assert uno_c(train_time, train_event, time, event, risk, tau=10.5) == expected


def test_ties_follow_the_reference_pair_rules():
    # Event at 2 vs censored at 2: comparable; two events at 2: not; risks within 1e-8: tied (1/2).
    time = np.array([2.0, 2.0, 2.0, 5.0])
    event = np.array([1, 1, 0, 0])
    risk = np.array([1.0, 1.0, 1.0 + 5e-9, 2.0])
    # Comparable pairs: (0,2) tied, (0,3) discordant, (1,2) tied, (1,3) discordant; (0,1) are not comparable.
    assert harrell_c(time, event, risk) == 0.25
    assert harrell_c(time, event, np.array([1.0, 1.0, 1.0, 0.0])) == 0.75  # two ties (1/2) + two concordant


def test_prefix_counts_match_brute_force():
    rng = np.random.default_rng(5)
    ranks = rng.integers(0, 40, 1000)
    prefix = rng.integers(0, 1001, 300)
    below = rng.integers(0, 42, 300)
    expected = [(ranks[:p] < b).sum() for p, b in zip(prefix, below, strict=True)]
    np.testing.assert_array_equal(_prefix_counts(ranks, prefix, below), expected)


def test_true_survival_has_lower_brier_than_a_wrong_model():
    rng = np.random.default_rng(11)
    n = 4000
    x = rng.normal(size=n)
    rate = 0.1 * np.exp(x)
    t = rng.exponential(1 / rate)
    c = rng.exponential(15.0, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    train_time, train_event = time[: n // 2], event[: n // 2]
    time, event, rate = time[n // 2 :], event[n // 2 :], rate[n // 2 :]
    times = np.linspace(1.0, np.quantile(time, 0.8), 10)
    true = np.exp(-rate[:, None] * times)
    wrong = np.exp(-0.1 * np.exp(-np.log(rate / 0.1))[:, None] * times)  # covariate effect reversed
    marginal = np.exp(-np.full_like(rate, rate.mean())[:, None] * times)  # no covariates
    bs_true = brier_scores(train_time, train_event, time, event, true, times)
    assert (bs_true < brier_scores(train_time, train_event, time, event, wrong, times)).all()
    ibs_true = integrated_brier_score(train_time, train_event, time, event, true, times)
    assert ibs_true < integrated_brier_score(train_time, train_event, time, event, marginal, times)
    assert 0 < ibs_true < 0.25


def _simulated(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.exponential(10 * np.exp(-x))
    c = rng.exponential(20.0, n)
    return np.minimum(t, c), (t <= c).astype(int), x + rng.normal(0, 1, n)


def test_intervals_contain_the_estimate_and_narrow_with_n():
    train_time, train_event, _ = _simulated(3000, 0)
    widths = {}
    for n in (300, 3000):
        time, event, risk = _simulated(n, n)
        harrell = concordance_interval(time, event, risk, n_bootstrap=100, seed=1)
        assert isinstance(harrell, Interval)
        assert harrell.estimate == harrell_c(time, event, risk)
        assert harrell.low < harrell.estimate < harrell.high
        uno = concordance_interval(
            time, event, risk, train_time=train_time, train_event=train_event, tau=20.0, n_bootstrap=100, seed=1
        )
        assert uno.estimate == uno_c(train_time, train_event, time, event, risk, tau=20.0)
        assert uno.low < uno.estimate < uno.high
        times = np.linspace(1.0, 15.0, 8)
        surv = np.exp(-np.exp(risk)[:, None] * times / 10)
        ibs = integrated_brier_interval(train_time, train_event, time, event, surv, times, n_bootstrap=100, seed=1)
        assert ibs.estimate == integrated_brier_score(train_time, train_event, time, event, surv, times)
        assert ibs.low < ibs.estimate < ibs.high
        widths[n] = [iv.high - iv.low for iv in (harrell, uno, ibs)]
    # Width scales as 1/sqrt(n): 10x the rows gives about 0.32x the width.
    assert all(big < 0.6 * small for small, big in zip(widths[300], widths[3000], strict=True))
    time, event, risk = _simulated(300, 300)
    assert concordance_interval(time, event, risk, n_bootstrap=50, seed=7) == concordance_interval(
        time, event, risk, n_bootstrap=50, seed=7
    )


def test_calibration_table_matches_lifelines_kaplan_meier():
    from lifelines import KaplanMeierFitter

    time, event, risk = _simulated(2000, 3)
    horizon = 8.0
    probability = 1 - np.exp(-np.exp(risk) * horizon / 10)
    table = calibration_table(probability, time, event, horizon, bins=5)
    assert isinstance(table, CalibrationTable)
    assert table.count.tolist() == [400] * 5
    assert (np.diff(table.predicted) > 0).all()
    assert np.diff(table.observed).min() > 0  # an informative score: observed risk rises with the bin
    rows = np.array_split(np.argsort(probability, kind="stable"), 5)
    for b, idx in enumerate(rows):
        kmf = KaplanMeierFitter().fit(time[idx], event[idx])
        s = kmf.survival_function_at_times(horizon).iloc[0]
        lower, upper = kmf.confidence_interval_.loc[:horizon].iloc[-1]
        assert abs(table.observed[b] - (1 - s)) < TOL
        assert abs(table.low[b] - (1 - upper)) < TOL and abs(table.high[b] - (1 - lower)) < TOL
        assert table.low[b] <= table.observed[b] <= table.high[b]
        assert abs(table.predicted[b] - probability[idx].mean()) < TOL
    assert table.to_dict()["count"] == [400] * 5
    # No event by the horizon in a bin: observed 0 with the degenerate interval [0, 0], as lifelines.
    flat = calibration_table([0.1, 0.2], [5.0, 6.0], [0, 1], 2.0, bins=1)
    assert (flat.observed[0], flat.low[0], flat.high[0]) == (0.0, 0.0, 0.0)


def test_scale_200k_rows():
    # No timing assertion: the O(n^2) reference would take minutes here; ours runs in about a second.
    rng = np.random.default_rng(0)
    n = 200_000
    x = rng.normal(size=n)
    t = rng.exponential(np.exp(-x))
    c = rng.exponential(2.0, n)
    time, event = np.round(np.minimum(t, c), 3), (t <= c).astype(int)
    assert 0.6 < harrell_c(time, event, x) < 0.9
    assert 0.6 < uno_c(time, event, time, event, x, tau=float(np.quantile(time, 0.9))) < 0.9


BAD = [
    (lambda: harrell_c([1, 2, 3], [1, 0], [1, 2, 3]), DataError, r"time has 3 rows but event has 2"),
    (
        lambda: harrell_c([1, -2, 3], [1, 0, 1], [1, 2, 3]),
        DataError,
        r"row 2, column 'time': durations must be finite and >= 0",
    ),
    (lambda: harrell_c([1, np.nan, 3], [1, 0, 1], [1, 2, 3]), DataError, r"row 2, column 'time'"),
    (
        lambda: harrell_c([1, 2, 3], [1, 2, 1], [1, 2, 3]),
        DataError,
        r"row 2, column 'event': event flags must be 0 .* recode",
    ),
    (lambda: harrell_c([1, 2, 3], [1, 0, 1], [1, 2]), DataError, r"risk must have shape \(3,\)"),
    (lambda: harrell_c([1, 2, 3], [1, 0, 1], [1, np.inf, 3]), DataError, r"row 2, column 'risk': risk must be finite"),
    (lambda: harrell_c([1, 2, 3], [0, 0, 0], [1, 2, 3]), DataError, r"no comparable pairs"),
    (lambda: harrell_c([1, 2, 3], [1, 0, 1], [1, 2, 3], tied_tol=-1), ConfigError, r"tied_tol must be a number >= 0"),
    (lambda: uno_c([1, 2], [1, 1], [1, 3], [1, 1], [1, 2]), DataError, r"past the last training duration 2\.0"),
    (lambda: uno_c([1, 2], [1, 1], [1, 2], [1, 0], [1, 2], tau=-1), ConfigError, r"tau must be a finite number > 0"),
    (
        lambda: brier_scores([1, 5], [0, 1], [1, 2, 4], [1, 0, 1], np.full((3, 2), 0.5), [3, 2]),
        ConfigError,
        r"times must be finite and strictly increasing",
    ),
    (
        lambda: brier_scores([1, 5], [0, 1], [1, 2, 4], [1, 0, 1], np.full((3, 2), 0.5), [2, 4]),
        ConfigError,
        r"times must lie within the evaluation follow-up \[1\.0, 4\.0\)",
    ),
    (
        lambda: brier_scores([1, 5], [0, 1], [1, 2, 4], [1, 0, 1], np.full((3, 3), 0.5), [2, 3]),
        DataError,
        r"survival must have shape \(n_rows, n_times\) = \(3, 2\)",
    ),
    (
        lambda: brier_scores([1, 5], [0, 1], [1, 2, 4], [1, 0, 1], np.full((3, 2), 1.5), [2, 3]),
        DataError,
        r"survival probabilities must be finite and in \[0, 1\]",
    ),
    (
        lambda: integrated_brier_score([1, 5], [0, 1], [1, 2, 4], [1, 0, 1], np.full((3, 1), 0.5), [2]),
        ConfigError,
        r"times needs at least two time points",
    ),
    (
        lambda: concordance_interval([1, 2, 3], [1, 0, 1], [1, 2, 3], train_time=[1, 2]),
        ConfigError,
        r"pass both train_time and train_event",
    ),
    (lambda: concordance_interval([1, 2, 3], [1, 0, 1], [1, 2, 3], tau=2.0), ConfigError, r"tau truncates Uno's C"),
    (
        lambda: concordance_interval([1, 2, 3], [1, 0, 1], [1, 2, 3], level=1.5),
        ConfigError,
        r"level must be in \(0, 1\)",
    ),
    (
        lambda: concordance_interval([1, 2, 3], [1, 0, 1], [1, 2, 3], n_bootstrap=1),
        ConfigError,
        r"n_bootstrap must be an int >= 2",
    ),
    (
        lambda: calibration_table([0.1, 0.2], [1, 2], [1, 0], 1.5, bins=3),
        ConfigError,
        r"bins must be an int between 1 and",
    ),
    (lambda: calibration_table([0.1, 0.2], [1, 2], [1, 0], 0.0), ConfigError, r"horizon must be a finite number > 0"),
    (
        lambda: calibration_table([0.1, 1.2], [1, 2], [1, 0], 1.5, bins=1),
        DataError,
        r"probabilities must be in \[0, 1\]",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD, ids=[m for _, _, m in BAD])
def test_bad_input_raises_with_a_fix(call, error, message):
    with pytest.raises(error, match=message):
        call()
