"""Discrete-time hazards: person-periods, the life table, a known logistic hazard recovered, drifting effects,
BoostedHazard, and save/load as checked artifacts."""

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_rossi
from scipy.special import expit

from marquee.errors import ArtifactError, ConfigError, DataError, NotFittedError
from marquee.metrics import harrell_c
from marquee.retention import BoostedHazard, DiscreteHazard, KaplanMeier, SurvivalTable
from marquee.retention.hazard import person_periods

PLAN_EFFECT = {"basic": 0.0, "plus": -0.4, "max": -0.8}
MONTHS = 24


def baseline(t: np.ndarray) -> np.ndarray:
    """True ``a(t)``: high in the first months, flat later."""
    return -2.6 + 1.2 * np.exp(-(t - 1) / 3.0)


def simulate(n: int, seed: int, *, drift: float = 0.0, extra: int = 6) -> tuple[SurvivalTable, np.ndarray]:
    """Members with a known hazard ``logit h_t = a(t) + 0.7 x1 + 4.8 (x2 - 1/2)^2 - 0.6 + plan + drift x1 (log t -
    mean log t)``, signed up uniformly over ``MONTHS`` months and observed until now (right-censored).

    Returns:
        the history and the true hazards (n, MONTHS + extra) per 1-based month.
    """
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.random(n)
    plan = rng.choice(list(PLAN_EFFECT), n)
    g = 0.7 * x1 + 4.8 * (x2 - 0.5) ** 2 - 0.6 + np.array([PLAN_EFFECT[p] for p in plan])
    t = np.arange(1, MONTHS + extra + 1, dtype=np.float64)
    lt = np.log(t) - np.log(t).mean()
    hazard = expit(baseline(t)[None, :] + g[:, None] + drift * x1[:, None] * lt[None, :])
    leaves = rng.random(hazard.shape) < hazard
    first = np.where(leaves.any(axis=1), leaves.argmax(axis=1) + 1, hazard.shape[1] + 1)
    tenure = rng.integers(1, MONTHS + 1, n)
    event = (first <= tenure).astype(np.int8)
    duration = np.where(event == 1, first, tenure)
    table = pa.table({"x1": x1, "x2": x2, "plan": plan, "duration": duration, "event": event})
    return SurvivalTable.from_arrow(table, source="<simulated>"), hazard


def true_survival(hazard: np.ndarray, months: np.ndarray) -> np.ndarray:
    """(n, m) S(t) = prod_{u <= t} (1 - h_u) at whole months."""
    log_s = np.concatenate([np.zeros((hazard.shape[0], 1)), np.cumsum(np.log1p(-hazard), axis=1)], axis=1)
    return np.exp(log_s[:, np.asarray(months, np.int64)])


def true_churn(hazard: np.ndarray, start: np.ndarray, horizon: int) -> np.ndarray:
    """(n,) 1 - S(s + h) / S(s) for each member's whole-month start ``s``."""
    log_s = np.concatenate([np.zeros((hazard.shape[0], 1)), np.cumsum(np.log1p(-hazard), axis=1)], axis=1)
    rows, s = np.arange(hazard.shape[0]), np.asarray(start, np.int64)
    return -np.expm1(log_s[rows, s + horizon] - log_s[rows, s])


@pytest.fixture(scope="module")
def simulated():
    return simulate(2000, 0)


@pytest.fixture(scope="module")
def held_out():
    return simulate(2000, 1)


@pytest.fixture(scope="module")
def fitted(simulated):
    return DiscreteHazard().fit(simulated[0])


def one_thread():
    """BoostedHazard fits on scikit-learn's OpenMP pool; on a shared 2-core machine an oversubscribed pool spin-waits
    (~1000x slower), so the tests run it on one thread (see test_boosted_fits_on_one_openmp_thread)."""
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime so the limit sees it)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


# ---- person-periods ------------------------------------------------------------------------------


def test_person_periods_by_hand():
    duration = np.array([0.0, 1.0, 2.5, 3.0, 7.0])
    event = np.array([1, 1, 0, 1, 1])
    at_risk, events = person_periods(duration, event, 4)
    np.testing.assert_array_equal(
        at_risk, [[1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 4]]
    )  # the member observed 7 periods pools periods 4..7 into the last column
    np.testing.assert_array_equal(
        events, [[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    )  # a departure at duration 0 left within the first period
    one_column = person_periods(duration, event, 1)
    np.testing.assert_array_equal(one_column[0][:, 0], [1, 1, 3, 3, 7])
    np.testing.assert_array_equal(one_column[1][:, 0], [1, 1, 0, 1, 1])


@pytest.mark.parametrize("n_periods", [1, 3, 12, 30])
def test_person_periods_conserve_periods_and_events(simulated, n_periods):
    data = simulated[0]
    at_risk, events = person_periods(data.duration, data.event, n_periods)
    assert at_risk.shape == events.shape == (len(data), n_periods)
    assert at_risk.sum() == np.ceil(data.duration).sum()
    assert events.sum() == data.event[data.duration > 0].sum()
    assert np.all(events <= np.minimum(at_risk, 1))  # an event only where the member is at risk, at most one
    left = np.flatnonzero(data.event == 1)
    expected = np.minimum(np.ceil(data.duration[left]), n_periods).astype(int) - 1
    np.testing.assert_array_equal(events[left].argmax(axis=1), expected)


@pytest.mark.parametrize("tail_events", [1, 30, 100, 400])
def test_the_tail_pools_at_least_tail_events_departures(simulated, tail_events):
    data = simulated[0]
    model = DiscreteHazard(tail_events=tail_events, knots=0).fit(data)
    t = model.n_periods_
    ceil = np.ceil(data.duration[data.event == 1])
    assert (ceil >= t).sum() >= tail_events  # the pooled tail holds enough departures...
    assert (ceil >= t + 1).sum() < tail_events  # ...and starts as late as it can
    assert model.max_time_ == t and model.coef_.size == t + model.design(data).shape[1]


def test_max_periods_is_taken_as_given(simulated):
    model = DiscreteHazard(max_periods=5).fit(simulated[0])
    assert model.n_periods_ == 5 and model.hazards(model.design(simulated[0])).shape == (len(simulated[0]), 5)


# ---- known answers -------------------------------------------------------------------------------


def test_without_covariates_it_is_the_life_table_and_so_kaplan_meier():
    rossi = load_rossi()
    table = pa.Table.from_pandas(rossi, preserve_index=False)
    data = SurvivalTable.from_arrow(table, duration="week", event="arrest", covariates=[])
    model = DiscreteHazard(smooth=0, ridge=0, tail_events=0, max_periods=None).fit(data)
    assert model.n_periods_ == rossi["week"].max()
    weeks = np.arange(0.0, 53.0)
    kmf = KaplanMeierFitter().fit(rossi["week"], rossi["arrest"])
    s = model.survival(data, weeks)
    np.testing.assert_allclose(s[0], kmf.survival_function_at_times(weeks).to_numpy(), rtol=0, atol=1e-3)
    np.testing.assert_array_equal(s, np.broadcast_to(s[0], s.shape))


def test_a_known_logistic_hazard_is_recovered(simulated, held_out, fitted):
    data, hazard = simulated
    months = np.arange(1, MONTHS + 1)
    err = np.abs(fitted.survival(data, months.astype(float)) - true_survival(hazard, months))
    km = KaplanMeier().fit(data)
    km_err = np.abs(km.survival(data, months.astype(float)) - true_survival(hazard, months))
    assert err.mean() < 0.03 and err[:, [5, 11, 23]].mean() < 0.03  # margins: ~0.017 observed with seed 0
    assert err.mean() < km_err.mean() / 5
    test, test_hazard = held_out
    c_model = harrell_c(test.duration, test.event, fitted.risk(test))
    c_km = harrell_c(test.duration, test.event, km.risk(test))
    c_truth = harrell_c(test.duration, test.event, -true_survival(test_hazard, months).sum(axis=1))
    assert c_km == pytest.approx(0.5)
    assert c_model > c_km + 0.15 and c_model > c_truth - 0.02  # ~0.707 vs the truth's ~0.71


def test_survival_curves_are_probabilities_that_never_rise(fitted, held_out):
    s = fitted.survival(held_out[0], np.arange(0.0, 40.0, 0.5))
    assert np.isfinite(s).all() and np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s, axis=1) <= 1e-15)
    np.testing.assert_array_equal(s[:, 0], 1.0)


def test_an_effect_drifting_with_log_tenure_is_recovered_with_varying():
    data, hazard = simulate(3000, 2, drift=0.8)
    months = np.arange(1, MONTHS + 1)
    truth = true_survival(hazard, months)
    errors, loglik = {}, {}
    test = simulate(3000, 3, drift=0.8)[0]
    for varying in (0, 1):
        model = DiscreteHazard(varying=varying).fit(data)
        errors[varying] = np.abs(model.survival(data, months.astype(float)) - truth).mean()
        # held-out log-likelihood of the person-periods under the model's hazards
        h = model.hazards(model.design(test))
        at_risk, events = person_periods(test.duration, test.event, model.n_periods_)
        loglik[varying] = float((events * np.log(h) + (at_risk - events) * np.log1p(-h)).sum())
    assert errors[1] < 0.6 * errors[0] and errors[1] < 0.03  # ~0.018 vs ~0.070 observed with seed 2
    assert loglik[1] > loglik[0] + 10
    drifting = DiscreteHazard(varying=1).fit(data)
    assert drifting.coef_.size == drifting.n_periods_ + 2 * drifting.design(data).shape[1]  # [a, beta, gamma]


def test_churn_probability_is_one_minus_the_survival_ratio(fitted, simulated):
    data = simulated[0].take(np.arange(300))
    for start, horizon in ((0.0, 3.0), (4.0, 1.0), (6.5, 3.0), (20.0, 6.0), (30.0, 2.0)):
        s = fitted.survival(data, np.array([start, start + horizon]))
        np.testing.assert_allclose(fitted.churn_probability(data, horizon, start=start), 1 - s[:, 1] / s[:, 0],
                                   rtol=0, atol=1e-12)  # fmt: skip
    p = fitted.churn_probability(data, 3)  # from each member's tenure
    for i in range(0, 300, 37):
        d = data.duration[i]
        s = fitted.survival(data.take(np.array([i])), np.array([d, d + 3]))[0]
        assert p[i] == pytest.approx(1 - s[1] / s[0], abs=1e-12)
    per_member = fitted.churn_probability(data, 3, start=np.arange(300) % 10)
    assert per_member[7] == pytest.approx(fitted.churn_probability(data.take(np.array([7])), 3, start=7.0)[0])


def test_churn_probability_is_close_to_the_truth(fitted, simulated):
    data, hazard = simulated
    active = np.flatnonzero(data.event == 0)
    p = fitted.churn_probability(data.take(active), 3)
    truth = true_churn(hazard[active], data.duration[active], 3)
    assert np.abs(p - truth).mean() < 0.02


def test_integer_weights_equal_repeated_rows(simulated):
    data = simulated[0].take(np.arange(600))
    w = np.random.default_rng(5).integers(0, 3, len(data)).astype(float)
    config = {"knots": 0, "ridge": 0.0, "smooth": 0.0, "max_periods": 10}
    weighted = DiscreteHazard(**config).fit(data, weights=w)
    repeated = DiscreteHazard(**config).fit(data.take(np.repeat(np.arange(len(data)), w.astype(int))))
    times = np.arange(1.0, 15.0)
    np.testing.assert_allclose(weighted.survival(data, times), repeated.survival(data, times), rtol=0, atol=1e-4)


def test_not_fitted_and_bad_input(simulated):
    model = DiscreteHazard()
    with pytest.raises(NotFittedError, match=r"^DiscreteHazard is not fitted; call fit\(table\) first$"):
        model.survival(simulated[0], np.array([1.0]))
    with pytest.raises(NotFittedError, match=r"call fit\(table\) first"):
        model.churn_probability(simulated[0], 3)
    with pytest.raises(NotFittedError, match=r"call fit\(table\) first"):
        model.design(simulated[0])
    with pytest.raises(NotFittedError, match=r"call fit\(table\) first"):
        model.save("/nonexistent/never-written")
    with pytest.raises(NotFittedError, match=r"^BoostedHazard is not fitted"):
        BoostedHazard().hazards(simulated[0].table)
    empty = SurvivalTable.from_arrow(pa.table({"duration": [0, 0], "event": [1, 0], "x": [1.0, 2.0]}), source="t")
    with pytest.raises(DataError, match=r"^t: has no member observed for a period or more; nothing to fit"):
        DiscreteHazard().fit(empty)
    for bad, pattern in (({"knots": -1}, "DiscreteHazardConfig.knots must be an int >= 0"),
                         ({"varying": 1.5}, "DiscreteHazardConfig.varying must be an int >= 0"),
                         ({"ridge": -1.0}, "DiscreteHazardConfig.ridge must be >= 0"),
                         ({"max_periods": 0}, "DiscreteHazardConfig.max_periods must be an int >= 1")):  # fmt: skip
        with pytest.raises(ConfigError, match=pattern):
            DiscreteHazard(**bad)


def test_scoring_refuses_missing_and_unseen_covariates(fitted, simulated):
    table = simulated[0].table
    with pytest.raises(DataError, match=r"^score, column 'x2': has no column 'x2'"):
        fitted.churn_probability(SurvivalTable.from_arrow(table.drop_columns(["x2"]), source="score"), 3)
    plans = table.column("plan").to_pylist()
    plans[9] = "family"
    bad = table.set_column(table.column_names.index("plan"), "plan", pa.array(plans))
    with pytest.raises(DataError, match=r"row 10, column 'plan': is 'family', a category the model never saw"):
        fitted.survival(bad, np.array([1.0]))


# ---- artifacts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("varying", [0, 2])
def test_save_load_round_trip_gives_identical_predictions(simulated, tmp_path, varying):
    data = simulated[0]
    model = DiscreteHazard(varying=varying, max_periods=8).fit(data)
    path = model.save(tmp_path / "model", metadata={"note": "round trip"})
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["class"] == "marquee.retention.DiscreteHazard" and manifest["note"] == "round trip"
    loaded, meta, arrays = DiscreteHazard.load(path)
    assert loaded.config == model.config and meta["n_periods"] == 8 and set(arrays) == {"coef", "hessian"}
    assert loaded.covariates_ == model.covariates_
    times = np.arange(0.0, 30.0, 0.5)
    np.testing.assert_array_equal(loaded.survival(data, times), model.survival(data, times))
    np.testing.assert_array_equal(loaded.churn_probability(data, 3), model.churn_probability(data, 3))
    np.testing.assert_array_equal(loaded.risk(data), model.risk(data))


def test_a_tampered_or_foreign_artifact_is_refused(fitted, tmp_path):
    from marquee.artifacts import write_artifact

    path = fitted.save(tmp_path / "model")
    arrays = path / "arrays.safetensors"
    raw = bytearray(arrays.read_bytes())
    raw[-1] ^= 0xFF
    arrays.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"arrays\.safetensors fails its checksum"):
        DiscreteHazard.load(path)
    write_artifact(tmp_path / "other", {"coef": np.zeros(3)}, {"class": "marquee.rank.EASE"})
    with pytest.raises(ArtifactError, match=r"holds a 'marquee.rank.EASE', not a DiscreteHazard churn model"):
        DiscreteHazard.load(tmp_path / "other")
    meta = json.loads((fitted.save(tmp_path / "again") / "manifest.json").read_text())
    meta = {k: v for k, v in meta.items() if k not in ("files", "format", "marquee_version")}
    write_artifact(tmp_path / "short", {"coef": fitted.coef_[:-1], "hessian": fitted.hessian_}, meta)
    with pytest.raises(ArtifactError, match=r"coefficient arrays do not match the manifest's basis"):
        DiscreteHazard.load(tmp_path / "short")
    with pytest.raises(ArtifactError, match=r"manifest\.json is missing"):
        DiscreteHazard.load(tmp_path / "nothing")


# ---- BoostedHazard -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boosted(simulated):
    with one_thread():
        return BoostedHazard(max_iter=100).fit(simulated[0])


def test_boosted_beats_kaplan_meier_on_held_out_members(boosted, simulated, held_out):
    test = held_out[0]
    with one_thread():
        c_boosted = harrell_c(test.duration, test.event, boosted.risk(test))
        s = boosted.survival(test, np.arange(0.0, 30.0))
    c_km = harrell_c(test.duration, test.event, KaplanMeier().fit(simulated[0]).risk(test))
    assert c_boosted > c_km + 0.1  # ~0.70 vs 0.5
    assert np.isfinite(s).all() and np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s, axis=1) <= 1e-15)
    assert boosted.n_periods_ == MONTHS


def test_boosted_needs_both_outcomes():
    table = pa.table({"duration": [1, 2, 3, 4], "event": [0, 0, 0, 0], "x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(DataError, match=r"^t: needs both members who left and members who stayed"):
        BoostedHazard().fit(SurvivalTable.from_arrow(table, source="t"))


def test_boosted_fits_on_one_openmp_thread(simulated, monkeypatch):
    """UpliftModel fits its boosters under threadpool_limits(1) (uplift._one_thread) because an oversubscribed OpenMP
    pool spin-waits on a shared machine: a 100-iteration BoostedHazard fit on these 2,000 members took ~50 s on
    this 2-core machine with the default pool and 0.06 s on one thread."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info

    if all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "openmp"):
        pytest.skip("the OpenMP pool already has one thread here")
    seen = []
    fit = HistGradientBoostingClassifier.fit

    def spy(self, *args, **kwargs):
        seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "openmp"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingClassifier, "fit", spy)
    data = simulated[0].take(np.arange(200))
    BoostedHazard(max_iter=2).fit(data)
    assert seen == [1]


def test_pandas_input_through_arrow_is_accepted():
    frame = pd.DataFrame({"duration": [1, 2, 3, 4, 5, 6], "event": [1, 0, 1, 0, 1, 0], "x": [1.0, 2, 3, 4, 5, 6]})
    data = SurvivalTable.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))
    assert DiscreteHazard(knots=0, tail_events=1).fit(data).coef_.size >= 2
