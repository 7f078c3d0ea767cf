"""CSV tables, wide event tables and covariate tables: the same numbers as Parquet, long tables and the
pre-period window, and the same checks (file, row, column) on bad input."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from marquee.errors import ConfigError, DataError
from marquee.experiment import ExperimentConfig, aggregate, analyze
from marquee.experiment.simulate import demo_config
from marquee.experiment.tables import DAY

PLAN = demo_config(variants=("control", "a", "b"))


def _same_totals(a, b, rel=1e-12):
    assert a.variants == b.variants and a.start == b.start and a.end == b.end
    assert a.sums.keys() == b.sums.keys()
    for key in a.sums:
        np.testing.assert_allclose(a.sums[key], b.sums[key], rtol=rel, atol=1e-9, err_msg=str(key))


def _config(**tables):
    return ExperimentConfig.from_dict(PLAN | {k: v for k, v in tables.items()})


# -- CSV -----------------------------------------------------------------------------------------


def test_csv_tables_give_the_parquet_numbers(tmp_path, small_tables, small_config):
    exposures, events = small_tables
    pacsv.write_csv(exposures, tmp_path / "x.csv")  # timestamps as '2025-01-05 21:39:38.486Z'
    pacsv.write_csv(events, tmp_path / "e.csv")
    # ... and as a directory of gzipped TSV parts, and unix seconds.
    (tmp_path / "parts").mkdir()
    seconds = events.set_column(3, "timestamp", pa.array(events.column("timestamp").cast(pa.int64()).to_numpy() / 1e3))
    for i, part in enumerate((seconds.slice(0, 50_000), seconds.slice(50_000))):
        with gzip.open(tmp_path / "parts" / f"part-{i}.tsv.gz", "wb") as fh:
            pacsv.write_csv(part, fh, pacsv.WriteOptions(delimiter="\t"))
    parquet = aggregate(small_config, exposures=exposures, events=events, threads=1)
    csv = aggregate(_config(exposures={"path": str(tmp_path / "x.csv")}, events={"path": str(tmp_path / "e.csv")}), threads=1)
    tsv = aggregate(_config(exposures={"path": str(tmp_path / "x.csv")}, events={"path": str(tmp_path / "parts")}), threads=1)
    _same_totals(parquet, csv)
    _same_totals(parquet, tsv)
    glob = aggregate(_config(exposures={"path": str(tmp_path / "x.csv")}, events={"path": str(tmp_path / "parts" / "*.tsv.gz")}))
    assert glob.members() == parquet.members()


def test_csv_text_member_ids_and_date_times_with_offsets(tmp_path):
    (tmp_path / "x.csv").write_text("user,arm,ts\nu1,c,2025-01-01T00:00:00+01:00\nu2,t,2024-12-31 23:30:00\n007,c,2025-01-01\n")
    (tmp_path / "e.csv").write_text("user,kind,ts\nu1,buy,2025-01-01T00:30:00Z\nu2,buy,2025-01-01 00:00:00\n007,buy,2025-01-01 01:00\n7,buy,2025-01-01 01:00\n")
    config = ExperimentConfig.from_dict({
        "name": "x", "variants": ["c", "t"], "primary": "bought", "metrics": [{"name": "bought", "events": ["buy"], "aggregate": "count"}],
        "exposures": {"path": str(tmp_path / "x.csv"), "member_id": "user", "variant": "arm", "timestamp": "ts"},
        "events": {"path": str(tmp_path / "e.csv"), "member_id": "user", "event": "kind", "timestamp": "ts", "value": None},
    })  # fmt: skip
    t = aggregate(config)
    assert t.start == 1_735_603_200.0  # 2024-12-31 00:00 UTC: u1 entered at 23:00 UTC (+01:00), u2 at 23:30 (naive = UTC)
    # Text ids stay text: '007' is not 7, so the event of member '7' is nobody's.
    assert t.members() == {"c": 2, "t": 1} and t.sums[("s", "bought")][:, -1].tolist() == [2.0, 1.0]


X = "member_id,variant,timestamp\n"
E = "member_id,event,value,timestamp\n"


@pytest.mark.parametrize(
    ("exposures", "events", "match"),
    [
        (X + "1,control,5\n,a,6\n", E + "1,play,1,7\n", r"x\.csv, row 2, column 'member_id': member id is missing"),
        (X + "1,control,5\n2,treatment,6\n", E + "1,play,1,7\n", r"x\.csv, row 2, column 'variant': unknown variant 'treatment'"),
        (X + "1,control,5\n2,a,yesterday\n", E + "1,play,1,7\n",
         r"x\.csv, row 2, column 'timestamp': timestamp is neither a date/time nor unix seconds, got 'yesterday'"),
        (X + "1,control,1735689600\n2,a,2025-01-02\n", E + "1,play,1,7\n",
         r"x\.csv, row 2, column 'timestamp': timestamp is a date/time where earlier rows hold unix seconds; use one kind"),
        (X + "1,control,5\n2,a,6,oops\n", E + "1,play,1,7\n", r"x\.csv, row 2: has 4 fields where the header has 3"),
        ("member_id,arm,timestamp\n1,control,5\n", E + "1,play,1,7\n", r"x\.csv, column 'variant': missing variant column; the table has \['arm', 'member_id', 'timestamp'\]"),
        ("member_id,variant,member_id\n1,control,5\n", E + "1,play,1,7\n", r"x\.csv, column 'member_id': the header names this column twice"),
        ("", E + "1,play,1,7\n", r"x\.csv: the file is empty; a CSV table needs a header row"),
        (X + "1,control,5\n2,a,nan\n", E + "1,play,1,7\n", r"x\.csv, row 2, column 'timestamp': timestamp is not finite, got nan"),
        (X + "1,control,5\n", E + "1,play,3,7\n1,session,n/a,8\n1,play,x7,9\n", r"e\.csv, row 3, column 'value': value is not a number, got 'x7'"),
        (X + "1,control,5\n", E + "1,play,3,7\n1,play,,8\n", r"e\.csv, row 2, column 'value': value is missing"),
        (X + "1,control,5\n", E + "1,play,3,7\n1,play,inf,8\n", r"e\.csv, row 2, column 'value': value is not finite, got inf"),
        (X + "1,control,5\n", E + "1,play,3,7\n1,play,4,\n", r"e\.csv, row 2, column 'timestamp': timestamp is missing"),
    ],
)
def test_bad_csv_names_file_row_column(tmp_path, exposures, events, match):
    (tmp_path / "x.csv").write_text(exposures)
    (tmp_path / "e.csv").write_text(events)
    with pytest.raises(DataError, match=match):
        aggregate(_config(exposures={"path": str(tmp_path / "x.csv")}, events={"path": str(tmp_path / "e.csv")}))


def test_csv_member_ids_follow_a_parquet_table(tmp_path):
    pq.write_table(pa.table({"member_id": [1, 2], "variant": ["control", "a"], "timestamp": [1.0, 2.0]}), tmp_path / "x.parquet")
    (tmp_path / "e.csv").write_text(E + "1,play,1,5\nu2,play,1,6\n")
    with pytest.raises(DataError, match=r"e\.csv, row 2, column 'member_id': member id is not an integer, as the member ids in .*x\.parquet are; got 'u2'"):
        aggregate(_config(exposures={"path": str(tmp_path / "x.parquet")}, events={"path": str(tmp_path / "e.csv")}))
    # Integer-looking ids in a CSV follow a Parquet table of text ids.
    pq.write_table(pa.table({"member_id": ["1", "2"], "variant": ["control", "a"], "timestamp": [1.0, 2.0]}), tmp_path / "x.parquet")
    (tmp_path / "e.csv").write_text(E + "1,play,3,5\n2,play,4,6\n")
    t = aggregate(_config(exposures={"path": str(tmp_path / "x.parquet")}, events={"path": str(tmp_path / "e.csv")}))
    assert t.sums[("s", "watch_minutes")][:, -1].tolist() == [3.0, 4.0, 0.0]


# -- wide event tables ---------------------------------------------------------------------------

WIDE_METRICS = [
    {"name": "watch_minutes", "cuped": True},
    {"name": "sessions", "cuped": True},
    {"name": "plays"},
    {"name": "rebuffers", "higher_is_better": False},
    {"name": "rebuffer_rate", "numerator": "rebuffers", "denominator": "plays", "higher_is_better": False},
]


def _wide(events):
    """One row per event, one column per measure: the long table's information, wide."""
    kind, value = np.array(events.column("event").to_pylist()), events.column("value").to_numpy()
    return pa.table({
        "member_id": events.column("member_id"), "timestamp": events.column("timestamp"),
        "watch_minutes": np.where(kind == "play", value, 0.0), "sessions": (kind == "session").astype(np.int64),
        "plays": (kind == "play").astype(np.int64), "rebuffers": (kind == "rebuffer").astype(np.int64),
    })  # fmt: skip


def test_wide_table_gives_the_long_table_numbers(small_tables, small_config):
    exposures, events = small_tables
    wide = ExperimentConfig.from_dict(PLAN | {"events": {"layout": "wide"}, "metrics": WIDE_METRICS})
    assert wide.metric("watch_minutes").column == "watch_minutes" and wide.metric("plays").aggregate == "sum"
    _same_totals(aggregate(small_config, exposures=exposures, events=events, threads=1),
                 aggregate(wide, exposures=exposures, events=_wide(events), threads=1), rel=1e-9)  # fmt: skip
    long, by_column = analyze(small_config, exposures=exposures, events=events), analyze(wide, exposures=exposures, events=_wide(events))
    assert long.decision == by_column.decision
    for a, b in zip(long.fixed, by_column.fixed, strict=True):
        assert b.p_value == pytest.approx(a.p_value, rel=1e-9) and b.relative.low == pytest.approx(a.relative.low, rel=1e-9)


def test_wide_aggregates_count_and_any_rows_that_are_not_zero():
    exposures = pa.table({"member_id": [1, 2], "variant": ["c", "t"], "timestamp": [0.0, 0.0]})
    events = pa.table({"member_id": [1, 1, 1, 2], "timestamp": [1.0, 2.0, 3.0, 4.0], "minutes": [0.0, 5.5, 2.0, 0.0]})
    config = ExperimentConfig.from_dict({
        "name": "x", "variants": ["c", "t"], "primary": "minutes", "events": {"layout": "wide"},
        "metrics": [{"name": "minutes"}, {"name": "active_days", "column": "minutes", "aggregate": "count"},
                    {"name": "active", "column": "minutes", "aggregate": "any"}],
    })  # fmt: skip
    t = aggregate(config, exposures=exposures, events=events)
    assert [t.sums[("s", m)][:, -1].tolist() for m in ("minutes", "active_days", "active")] == [[7.5, 0.0], [2.0, 0.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"member_id": [1, 1], "timestamp": [5.0, 6.0], "watch_minutes": [1.0, None], "sessions": [1, 1], "plays": [1, 1], "rebuffers": [0, 0]},
         r"events\.parquet, row 2, column 'watch_minutes': value is missing \(write 0 for none\)"),
        ({"member_id": [1, 1], "timestamp": [5.0, 6.0], "watch_minutes": [1.0, float("inf")], "sessions": [1, 1], "plays": [1, 1], "rebuffers": [0, 0]},
         r"events\.parquet, row 2, column 'watch_minutes': value is not finite, got inf"),
        ({"member_id": [1], "timestamp": [5.0], "watch_minutes": ["3"], "sessions": [1], "plays": [1], "rebuffers": [0]},
         r"events\.parquet, column 'watch_minutes': a wide table's measures must be numeric, got VARCHAR"),
        ({"member_id": [1], "timestamp": [5.0], "watch_minutes": [1.0], "sessions": [1], "plays": [1]},
         r"events\.parquet, column 'rebuffers': missing measure column; the table has"),
        ({"member_id": [1, None], "timestamp": [5.0, 6.0], "watch_minutes": [1.0, 1.0], "sessions": [1, 1], "plays": [1, 1], "rebuffers": [0, 0]},
         r"events\.parquet, row 2, column 'member_id': member id is missing"),
    ],
)
def test_bad_wide_tables_name_file_row_column(tmp_path, events, match):
    pq.write_table(pa.table({"member_id": [1, 2, 3], "variant": ["control", "a", "b"], "timestamp": [1.0, 2.0, 3.0]}), tmp_path / "exposures.parquet")
    pq.write_table(pa.table(events), tmp_path / "events.parquet")
    config = ExperimentConfig.from_dict(PLAN | {"metrics": WIDE_METRICS, "exposures": {"path": str(tmp_path / "exposures.parquet")},
                                                "events": {"path": str(tmp_path / "events.parquet"), "layout": "wide"}})  # fmt: skip
    with pytest.raises(DataError, match=match):
        aggregate(config)


def test_bad_wide_csv_cell(tmp_path):
    (tmp_path / "x.csv").write_text(X + "1,control,5\n")
    (tmp_path / "e.csv").write_text("member_id,timestamp,watch_minutes,sessions,plays,rebuffers\n1,6,3.5,1,1,0\n1,7,x7,0,1,0\n")
    config = ExperimentConfig.from_dict(PLAN | {"metrics": WIDE_METRICS, "exposures": {"path": str(tmp_path / "x.csv")},
                                                "events": {"path": str(tmp_path / "e.csv"), "layout": "wide"}})  # fmt: skip
    with pytest.raises(DataError, match=r"e\.csv, row 2, column 'watch_minutes': value is not a number, got 'x7'"):
        aggregate(config)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"events": {"layout": "wide"}, "metrics": [{"name": "m", "events": ["play"]}], "primary": "m"}, r"Metric\('m'\) names events, but the event table is wide"),
        ({"metrics": [{"name": "m", "column": "c"}], "primary": "m"}, r"Metric\('m'\) names column 'c', which applies to a wide event table"),
        ({"events": {"layout": "wide", "value": "v"}}, r"\[events\]: event and value name the columns of a long table"),
        ({"events": {"layout": "tall"}}, r"events\.layout must be 'long' \(one row per event\) or 'wide'"),
        ({"metrics": [{"name": "m", "events": ["a"], "column": "c"}], "primary": "m"}, r"give either events \(a long event table\) or column"),
    ],
)
def test_wide_plan_errors(change, match):
    with pytest.raises(ConfigError, match=match):
        ExperimentConfig.from_dict(PLAN | change)


def test_wide_plan_round_trips():
    config = ExperimentConfig.from_dict(PLAN | {"events": {"layout": "wide", "timestamp": "day"}, "metrics": WIDE_METRICS})
    assert "event" not in config.to_dict()["events"] and config.to_dict()["events"]["layout"] == "wide"
    assert ExperimentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# -- covariate tables ----------------------------------------------------------------------------


def _pre_period(exposures, events, days=14.0):
    """Each member's watch minutes and sessions in the ``days`` before their first exposure (pandas)."""
    x, e = exposures.to_pandas(), events.to_pandas()
    first = x.groupby("member_id")["timestamp"].min().rename("t0")
    e = e.join(first, on="member_id", how="inner")
    pre = e[(e.timestamp < e.t0) & (e.timestamp >= e.t0 - np.timedelta64(int(days * DAY), "s"))]
    out = pre.assign(minutes=np.where(pre.event == "play", pre.value, 0.0), sessions=(pre.event == "session").astype(float))
    return out.groupby("member_id")[["minutes", "sessions"]].sum().reset_index()


COVARIATE_METRICS = [{"name": "watch_minutes", "events": ["play"], "aggregate": "sum", "covariate": "minutes"},
                     {"name": "sessions", "events": ["session"], "aggregate": "count", "covariate": "sessions"}] + PLAN["metrics"][2:]  # fmt: skip


def test_covariate_table_gives_the_pre_period_numbers(tmp_path, small_tables, small_config):
    """A covariate table holding what the pre-period window computes gives the same CUPED, to rounding."""
    exposures, events = small_tables
    covariates = _pre_period(exposures, events)
    window = analyze(small_config, exposures=exposures, events=events)
    config = ExperimentConfig.from_dict(PLAN | {"metrics": COVARIATE_METRICS})
    assert config.metric("watch_minutes").cuped  # a covariate turns CUPED on
    table = analyze(config, exposures=exposures, events=events, covariates=pa.Table.from_pandas(covariates, preserve_index=False))
    for a, b in zip(window.fixed + window.sequential, table.fixed + table.sequential, strict=True):
        for f in ("p_value", "p_adjusted", "theta", "variance_reduction", "control_mean"):
            assert (getattr(b, f) is None) == (getattr(a, f) is None)
            if getattr(a, f) is not None:
                assert getattr(b, f) == pytest.approx(getattr(a, f), rel=1e-9, nan_ok=True), (a.metric, f)
    missing = 3000 - len(covariates)
    assert f"{missing} of 3000 members have no row in the covariate table; their covariates count as 0" in table.notes
    # From a file (CSV) through a plan, too.
    covariates.to_csv(tmp_path / "pre.csv", index=False)
    from_file = analyze(ExperimentConfig.from_dict(PLAN | {"metrics": COVARIATE_METRICS, "covariates": {"path": str(tmp_path / "pre.csv")}}),
                        exposures=exposures, events=events)  # fmt: skip
    assert from_file.comparison("watch_minutes", "a").p_value == pytest.approx(table.comparison("watch_minutes", "a").p_value, rel=1e-9)


@pytest.mark.parametrize(
    ("covariates", "match"),
    [
        ("member_id,minutes,sessions\n1,3,1\n2,4,1\n1,5,2\n", r"pre\.csv, row 3, column 'member_id': member 1 has a second row \(the first is row 1\)"),
        ("member_id,minutes\n1,3\n", r"pre\.csv, column 'sessions': missing covariate column"),
        ("member_id,minutes,sessions\n1,3,1\n2,,1\n", r"pre\.csv, row 2, column 'minutes': covariate is missing"),
        ("member_id,minutes,sessions\n1,3,1\n2,lots,1\n", r"pre\.csv, row 2, column 'minutes': covariate is not a number, got 'lots'"),
        ("member_id,minutes,sessions\n1,3,1\n2,-inf,1\n", r"pre\.csv, row 2, column 'minutes': covariate is not finite, got -inf"),
        ("member_id,minutes,sessions\n1,3,1\nu2,3,1\n", r"pre\.csv, row 2, column 'member_id': member id is not an integer"),
    ],
)
def test_bad_covariate_tables_name_file_row_column(tmp_path, small_tables, covariates, match):
    exposures, events = small_tables
    (tmp_path / "pre.csv").write_text(covariates)
    config = ExperimentConfig.from_dict(PLAN | {"metrics": COVARIATE_METRICS, "covariates": {"path": str(tmp_path / "pre.csv")}})
    with pytest.raises(DataError, match=match):
        aggregate(config, exposures=exposures, events=events)


def test_covariate_table_checks_on_arrow_and_without_a_table(small_tables):
    exposures, events = small_tables
    config = ExperimentConfig.from_dict(PLAN | {"metrics": COVARIATE_METRICS})
    with pytest.raises(DataError, match=r"metric 'watch_minutes' names covariate 'minutes', but there is no covariate table"):
        aggregate(config, exposures=exposures, events=events)
    text_ids = pa.table({"member_id": ["1007"], "minutes": [1.0], "sessions": [1.0]})
    with pytest.raises(DataError, match=r"member ids are integer in the exposures .* but text in the covariates"):
        aggregate(config, exposures=exposures, events=events, covariates=text_ids)
    with pytest.raises(DataError, match=r"<covariates table>, column 'minutes': covariates must be numeric, got VARCHAR"):
        aggregate(config, exposures=exposures, events=events, covariates=pa.table({"member_id": [1007], "minutes": ["1"], "sessions": [1.0]}))


def test_cuped_says_when_it_had_nothing_to_work_with(small_tables, small_config):
    """Events that start at each member's exposure leave the pre-period empty: CUPED removes 0% and the readout says so."""
    exposures, events = small_tables
    x, e = exposures.to_pandas(), events.to_pandas()
    e = e.join(x.groupby("member_id")["timestamp"].min().rename("t0"), on="member_id")
    after = pa.Table.from_pandas(e[e.timestamp >= e.t0].drop(columns="t0"), preserve_index=False)
    r = analyze(small_config, exposures=exposures, events=after)
    assert r.cuped_idle == ("watch_minutes", "sessions")
    note = next(n for n in r.notes if n.startswith("CUPED had nothing to work with on 'watch_minutes'"))
    assert "no member has 'play' events in the 14 days before their first exposure" in note and "covariate table" in note
    c = r.comparison("watch_minutes", "a")
    assert c.theta == 0.0 and c.variance_reduction == 0.0 and c.p_value == pytest.approx(c.plain.p_value, rel=1e-12)
    # With pre-period data there is no such note.
    assert not analyze(small_config, exposures=exposures, events=events).cuped_idle
