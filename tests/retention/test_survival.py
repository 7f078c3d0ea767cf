"""KaplanMeier and CoxPH against lifelines on the Rossi recidivism data (duration ``week``, event ``arrest``)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.datasets import load_rossi

from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.retention import CoxPH, KaplanMeier, SurvivalTable


@pytest.fixture(scope="module")
def rossi_frame() -> pd.DataFrame:
    return load_rossi()


@pytest.fixture(scope="module")
def rossi(rossi_frame) -> SurvivalTable:
    return SurvivalTable.from_arrow(pa.Table.from_pandas(rossi_frame, preserve_index=False), duration="week",
                                    event="arrest", source="<rossi>")  # fmt: skip


@pytest.fixture(scope="module")
def cox(rossi):
    return CoxPH(penalizer=0.0).fit(rossi)


@pytest.fixture(scope="module")
def lifelines_cox(rossi_frame):
    return CoxPHFitter(penalizer=0.0).fit(rossi_frame, "week", "arrest")


def test_cox_survival_equals_lifelines(rossi, rossi_frame, cox, lifelines_cox):
    # lifelines interpolates its step baseline linearly between event times (np.interp), so the two agree exactly
    # at the baseline's own times and past the last one; in between the Breslow step function is the estimator.
    times = np.concatenate([lifelines_cox.baseline_cumulative_hazard_.index.to_numpy(np.float64), [60.0, 100.0]])
    ours = cox.survival(rossi, times)
    theirs = lifelines_cox.predict_survival_function(rossi_frame, times).to_numpy().T
    assert ours.shape == (len(rossi), times.size)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    np.testing.assert_allclose(cox.coef_, lifelines_cox.params_.to_numpy(), rtol=0, atol=1e-10)
    assert cox.names_ == tuple(lifelines_cox.params_.index)


def test_cox_is_a_step_function_between_event_times(rossi, cox):
    s = cox.survival(rossi.take(np.arange(5)), np.array([0.0, 0.5, 0.999, 1.0, 10.0, 10.5, 10.999]))
    np.testing.assert_array_equal(s[:, :3], 1.0)  # no event before week 1
    assert np.all(s[:, 3] < 1)
    np.testing.assert_array_equal(s[:, 5], s[:, 4])
    np.testing.assert_array_equal(s[:, 6], s[:, 4])


def test_cox_risk_is_the_linear_predictor(rossi, rossi_frame, cox, lifelines_cox):
    theirs = lifelines_cox.predict_log_partial_hazard(rossi_frame).to_numpy()
    np.testing.assert_allclose(cox.risk(rossi), theirs, rtol=0, atol=1e-10)


def test_cox_one_hot_text_covariates_match_lifelines_on_dummies(rossi_frame):
    frame = rossi_frame[["week", "arrest", "age", "prio"]].copy()
    frame["group"] = np.where(rossi_frame["fin"] == 1, "fin", np.where(rossi_frame["wexp"] == 1, "wexp", "none"))
    data = SurvivalTable.from_arrow(pa.Table.from_pandas(frame, preserve_index=False), duration="week", event="arrest")
    model = CoxPH(penalizer=0.0).fit(data)
    assert model.names_ == ("age", "prio", "group=none", "group=wexp")  # "fin" is the reference level
    dummies = frame.drop(columns="group").assign(
        none=(frame["group"] == "none").astype(float), wexp=(frame["group"] == "wexp").astype(float)
    )
    ref = CoxPHFitter(penalizer=0.0).fit(dummies, "week", "arrest")
    np.testing.assert_allclose(model.coef_, ref.params_.to_numpy(), rtol=0, atol=1e-8)


def test_kaplan_meier_equals_lifelines(rossi, rossi_frame):
    km = KaplanMeier().fit(rossi)
    kmf = KaplanMeierFitter().fit(rossi_frame["week"], rossi_frame["arrest"])
    times = np.array([0.0, 0.5, 1.0, 7.5, 20.0, 37.0, 51.99, 52.0, 80.0])
    s = km.survival(rossi, times)
    assert s.shape == (len(rossi), times.size)
    np.testing.assert_allclose(s, np.broadcast_to(kmf.survival_function_at_times(times).to_numpy(), s.shape),
                               rtol=0, atol=1e-12)  # fmt: skip
    np.testing.assert_array_equal(km.risk(rossi), km.risk(rossi)[0])  # no covariates: everyone is alike


def test_kaplan_meier_per_segment_equals_lifelines_on_each(rossi_frame):
    frame = rossi_frame.assign(aid=np.where(rossi_frame["fin"] == 1, "yes", "no"))
    data = SurvivalTable.from_arrow(pa.Table.from_pandas(frame, preserve_index=False), duration="week",
                                    event="arrest", source="<rossi>")  # fmt: skip
    km = KaplanMeier(segment="aid").fit(data)
    assert km.segments_ == ("no", "yes")
    times = np.arange(0.0, 55.0, 2.5)
    s = km.survival(data, times)
    for value in ("no", "yes"):
        rows = (frame["aid"] == value).to_numpy()
        kmf = KaplanMeierFitter().fit(frame["week"][rows], frame["arrest"][rows])
        np.testing.assert_allclose(s[rows], np.broadcast_to(kmf.survival_function_at_times(times).to_numpy(),
                                                            (rows.sum(), times.size)), rtol=0, atol=1e-12)  # fmt: skip
    with pytest.raises(ConfigError, match="KaplanMeier.segment 'age' must be a text column"):
        KaplanMeier(segment="age").fit(data)
    unseen = pa.table({"aid": ["yes", "maybe"]})
    with pytest.raises(DataError, match=r"row 2, column 'aid': is 'maybe', a category the model never saw"):
        km.survival(unseen, times)


@pytest.mark.parametrize("model", [KaplanMeier(), CoxPH()], ids=["km", "cox"])
def test_churn_probability_is_one_minus_the_survival_ratio(rossi, model):
    model.fit(rossi)
    part = rossi.take(np.arange(0, len(rossi), 7))
    for start, horizon in ((0.0, 4.0), (10.0, 3.0), (20.0, 12.5)):
        s = model.survival(part, np.array([start, start + horizon]))
        np.testing.assert_allclose(model.churn_probability(part, horizon, start=start), 1 - s[:, 1] / s[:, 0],
                                   rtol=0, atol=1e-12)  # fmt: skip
    # by default from each member's own tenure (the table's durations)
    p = model.churn_probability(part, 5.0)
    for i in range(0, len(part), 10):
        d = part.duration[i]
        s = model.survival(part.take(np.array([i])), np.array([d, d + 5.0]))[0]
        assert p[i] == pytest.approx(1 - s[1] / s[0], abs=1e-12)
    assert np.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("model", [KaplanMeier(), CoxPH()], ids=["km", "cox"])
def test_not_fitted(rossi, model):
    name = type(model).__name__
    for use in (lambda: model.survival(rossi, np.array([1.0])), lambda: model.churn_probability(rossi, 3),
                lambda: model.risk(rossi)):  # fmt: skip
        with pytest.raises(NotFittedError, match=rf"^{name} is not fitted; call fit\(table\) first$"):
            use()


def test_arguments_are_checked(rossi, cox):
    with pytest.raises(ConfigError, match=r"horizon must be > 0 periods, got 0"):
        cox.churn_probability(rossi, 0)
    with pytest.raises(ConfigError, match=r"start must be finite tenures >= 0"):
        cox.churn_probability(rossi, 3, start=-1.0)
    with pytest.raises(ConfigError, match=r"times must be a 1-D array of finite periods >= 0"):
        cox.survival(rossi, np.array([[1.0, 2.0]]))
    with pytest.raises(ConfigError, match=r"times must be a 1-D array"):
        cox.survival(rossi, np.array([-1.0]))
    no_covariates = SurvivalTable.from_arrow(rossi.table.select(["week", "arrest"]), duration="week", event="arrest")
    with pytest.raises(ConfigError, match=r"CoxPH.covariates must be at least one covariate"):
        CoxPH().fit(no_covariates)


def test_cox_scoring_names_the_table_row_and_column(rossi, cox):
    table = rossi.table.drop_columns(["prio"])
    with pytest.raises(DataError, match=r"^score\.csv, column 'prio': has no column 'prio'"):
        cox.survival(SurvivalTable.from_arrow(table, duration="week", event="arrest", source="score.csv"),
                     np.array([1.0]))  # fmt: skip
    ages = rossi.table.column("age").to_pylist()
    ages[4] = None
    table = rossi.table.set_column(rossi.table.column_names.index("age"), "age", pa.array(ages, pa.int64()))
    with pytest.raises(DataError, match=r"^<table>, row 5, column 'age': is missing"):
        cox.risk(table)
