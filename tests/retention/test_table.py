"""SurvivalTable and Covariates: bad input is refused once, in one line naming the table, the 1-based row and column."""

import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marquee.errors import DataError
from marquee.retention.table import Covariates, SurvivalTable, read_table


def members(**columns):
    base = {
        "duration": [3, 5, 0, 12, 7],
        "event": [1, 0, 0, 1, 0],
        "plan": ["ads", "standard", "premium", "ads", "standard"],
        "hours": [1.5, 4.0, 0.0, 10.0, 2.5],
    }
    base.update(columns)
    return pa.table(base)


def test_a_clean_table_is_wrapped_with_every_other_column_a_covariate():
    data = SurvivalTable.from_arrow(members(member_id=["a", "b", "c", "d", "e"]), exclude=["member_id"],
                                    source="m.csv")  # fmt: skip
    assert len(data) == 5
    assert data.duration.dtype == np.float64 and data.event.dtype == np.int8
    np.testing.assert_array_equal(data.duration, [3, 5, 0, 12, 7])
    np.testing.assert_array_equal(data.event, [1, 0, 0, 1, 0])
    assert data.covariates == ("plan", "hours")
    assert data.source == "m.csv"
    part = data.take(np.array([3, 3, 0]))
    np.testing.assert_array_equal(part.duration, [12, 12, 3])
    assert part.table.column("plan").to_pylist() == ["ads", "ads", "ads"]


def test_negative_duration_names_table_row_and_column():
    with pytest.raises(DataError, match=r"^m\.csv, row 3, column 'duration': is -2, a negative duration") as info:
        SurvivalTable.from_arrow(members(duration=[3, 5, -2, 12, -1]), source="m.csv")
    assert (info.value.source, info.value.row, info.value.column) == ("m.csv", 3, "duration")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("events", "pattern", "row"),
    [
        ([1, 0, 2, 1, 0], r"row 3, column 'event': is 2; an event flag is 1 \(left\) or 0", 3),
        ([1.0, 0.5, 0.0, 1.0, 0.0], r"row 2, column 'event': is 0\.5; an event flag", 2),
        (
            ["yes", "no", "no", "maybe", "yes"],
            r"row 4, column 'event': is 'maybe'; an event flag is 1/0, true/false",
            4,
        ),
        ([1, None, 0, 1, 0], r"row 2, column 'event': is missing; an event flag is 1 \(left\) or 0", 2),
    ],
)
def test_bad_event_flags(events, pattern, row):
    with pytest.raises(DataError, match=r"^<members>, " + pattern) as info:
        SurvivalTable.from_arrow(members(event=events), source="<members>")
    assert info.value.row == row and info.value.column == "event"


@pytest.mark.parametrize(
    ("durations", "pattern"),
    [
        ([3, 5, None, 12, 7], r"row 3, column 'duration': is missing; fill it or drop the row"),
        (["3", "5", "x", "12", "7"], r"row 3, column 'duration': is 'x', not a number"),
        ([3.0, float("inf"), 1.0, 12.0, 7.0], r"row 2, column 'duration': is not a finite number"),
    ],
)
def test_bad_durations(durations, pattern):
    with pytest.raises(DataError, match=r"^t, " + pattern):
        SurvivalTable.from_arrow(members(duration=durations), source="t")


@pytest.mark.parametrize(
    "flags",
    [
        ["Yes", "No", "no", "YES", "n"],
        ["true", "false", "False", "TRUE", "0"],
        [True, False, False, True, False],
        [1.0, 0.0, 0.0, 1.0, 0.0],
    ],
)
def test_yes_no_and_true_false_events_are_accepted(flags):
    data = SurvivalTable.from_arrow(members(event=flags))
    np.testing.assert_array_equal(data.event, [1, 0, 0, 1, 0])
    assert data.event.dtype == np.int8


def test_named_columns_must_exist():
    with pytest.raises(DataError, match=r"^t, column 'tenure': has no column 'tenure' \(columns: duration, event"):
        SurvivalTable.from_arrow(members(), duration="tenure", source="t")
    with pytest.raises(DataError, match=r"^t, column 'churned': has no column 'churned'"):
        SurvivalTable.from_arrow(members(), event="churned", source="t")
    with pytest.raises(DataError, match=r"^t, column 'age': has no column 'age'"):
        SurvivalTable.from_arrow(members(), covariates=["hours", "age"], source="t")


def test_covariates_learn_and_encode_numeric_and_one_hot():
    cov = Covariates.learn(members(), ["plan", "hours"])
    assert cov.columns == ("plan", "hours")
    assert cov.categories == (("ads", "premium", "standard"), None)
    assert cov.names == ("plan=premium", "plan=standard", "hours")
    np.testing.assert_array_equal(cov.numeric, [False, False, True])
    x = cov.encode(pa.table({"hours": [2.0, 0.5, 1.0], "plan": ["standard", "ads", "premium"], "extra": [1, 2, 3]}))
    np.testing.assert_array_equal(x, [[0, 1, 2.0], [0, 0, 0.5], [1, 0, 1.0]])
    assert Covariates.learn(members(), []).encode(members()).shape == (5, 0)


def test_covariates_round_trip_through_a_dict():
    import json

    cov = Covariates.learn(members(), ["plan", "hours"])
    back = Covariates.from_dict(json.loads(json.dumps(cov.to_dict())))
    assert back == cov
    np.testing.assert_array_equal(back.encode(members()), cov.encode(members()))


def test_learning_refuses_a_missing_value():
    with pytest.raises(DataError, match=r"^train, row 2, column 'plan': is missing; fill it or drop the row"):
        Covariates.learn(members(plan=["ads", None, "ads", "ads", "standard"]), ["plan"], source="train")
    with pytest.raises(DataError, match=r"^train, row 5, column 'hours': is missing"):
        Covariates.learn(members(hours=[1.0, 2.0, 3.0, 4.0, None]), ["hours"], source="train")


def test_scoring_refuses_a_covariate_column_that_is_absent():
    cov = Covariates.learn(members(), ["plan", "hours"])
    with pytest.raises(DataError, match=r"^score\.csv, column 'hours': has no column 'hours' \(columns: plan\)$"):
        cov.encode(pa.table({"plan": ["ads"]}), source="score.csv")


def test_scoring_refuses_a_missing_value():
    cov = Covariates.learn(members(), ["plan", "hours"])
    with pytest.raises(DataError, match=r"^score\.csv, row 2, column 'hours': is missing; fill it or drop the row"):
        cov.encode(pa.table({"plan": ["ads", "ads"], "hours": [1.0, None]}), source="score.csv")
    with pytest.raises(DataError, match=r"^score\.csv, row 1, column 'plan': is missing; fill it or drop the row"):
        cov.encode(pa.table({"plan": pa.array([None, "ads"], pa.string()), "hours": [1.0, 2.0]}), source="score.csv")


@pytest.mark.parametrize("unseen", ["family", "aaa", "zzz"])  # between, before and after the known categories
def test_scoring_refuses_an_unseen_category(unseen):
    cov = Covariates.learn(members(), ["plan", "hours"])
    table = pa.table({"plan": ["ads", "premium", unseen], "hours": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match=rf"^s, row 3, column 'plan': is '{unseen}', a category the model never saw "
                                        r"\(known: ads, premium, standard\)"):  # fmt: skip
        cov.encode(table, source="s")


def test_read_table_csv_and_parquet(tmp_path):
    table = members()
    csv = tmp_path / "m.csv"
    csv.write_text("duration,event,plan,hours\n3,1,ads,1.5\n5,0,standard,4.0\n")
    assert read_table(csv).num_rows == 2
    pq.write_table(table, tmp_path / "m.parquet")
    assert read_table(tmp_path / "m.parquet").equals(table)


def test_read_table_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file; pass the path of a CSV or Parquet table"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(DataError, match=r"bad\.parquet: cannot be read as Parquet: ") as info:
        read_table(bad)
    assert "\n" not in str(info.value)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("duration,event\n1,0\n2,1,7\n")
    with pytest.raises(DataError, match=r"ragged\.csv: cannot be read as CSV: ") as info:
        read_table(ragged)
    assert "\n" not in str(info.value)


def test_a_csv_with_an_empty_duration_names_its_row(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("duration,event,plan\n3,1,ads\n,0,ads\n4,No,ads\n")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}, row 2, column 'duration': is missing"):
        SurvivalTable.from_arrow(read_table(path), source=str(path))
