"""The DuckDB aggregation agrees with a plain pandas computation, and bad input names file, row, column."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marquee.errors import DataError
from marquee.experiment import ExperimentConfig, aggregate, analyze
from marquee.experiment.tables import DAY


def _per_member(config, exposures, events, look_end):
    """Reference: each member's metric values, from first exposure to ``look_end``, with pandas."""
    x = exposures.to_pandas()
    e = events.to_pandas()
    x["ts"] = x["timestamp"].astype("int64") / 1e3
    e["ts"] = e["timestamp"].astype("int64") / 1e3
    units = x.groupby("member_id").agg(variant=("variant", "first"), t0=("ts", "min"), k=("variant", "nunique"))
    units = units[(units.k == 1) & (units.t0 < look_end)]
    e = e.join(units, on="member_id", how="inner")
    post = e[(e.ts >= e.t0) & (e.ts < look_end)]
    pre = e[(e.ts < e.t0) & (e.ts >= e.t0 - config.pre_period_days * DAY)]
    out = units[["variant"]].copy()
    for m in config.metrics:
        if m.is_ratio:
            continue
        for frame, col in ((post, m.name), (pre, "pre:" + m.name)):
            rows = frame[frame.event.isin(m.events)]
            g = rows.groupby("member_id")
            agg = g["value"].sum() if m.aggregate == "sum" else g.size()
            if m.aggregate == "any":
                agg = (agg > 0).astype(float)
            out[col] = agg.reindex(out.index, fill_value=0).astype(float)
    return out


@pytest.mark.parametrize("day", [0, 4, -1])
def test_daily_totals_match_pandas(small_tables, small_config, day):
    exposures, events = small_tables
    totals = aggregate(small_config, exposures=exposures, events=events)
    look_end = totals.start + (totals.n_days if day == -1 else day + 1) * DAY
    ref = _per_member(small_config, exposures, events, min(look_end, totals.end))
    for i, variant in enumerate(totals.variants):
        part = ref[ref.variant == variant]
        assert totals.n[i, day] == len(part)
        for m in small_config.metrics:
            if m.is_ratio:
                num, den = part[m.numerator], part[m.denominator]
                assert totals.sums[("c", m.numerator, m.denominator)][i, day] == pytest.approx((num * den).sum(), rel=1e-9)
                continue
            assert totals.sums[("s", m.name)][i, day] == pytest.approx(part[m.name].sum(), rel=1e-9, abs=1e-9)
            assert totals.sums[("q", m.name)][i, day] == pytest.approx((part[m.name] ** 2).sum(), rel=1e-9, abs=1e-9)
            if m.cuped:
                pre = part["pre:" + m.name]
                assert totals.sums[("x", m.name)][i, day] == pytest.approx(pre.sum(), rel=1e-9, abs=1e-9)
                assert totals.sums[("xy", m.name)][i, day] == pytest.approx((pre * part[m.name]).sum(), rel=1e-9, abs=1e-9)


def test_any_aggregate_and_numeric_timestamps_and_text_ids():
    exposures = pa.table({"user": ["u1", "u2", "u3", "u4"], "arm": ["c", "t", "c", "t"], "ts": [0.0, 10.0, 20.0, 30.0]})
    events = pa.table({
        "user": ["u1", "u1", "u2", "u3", "u4", "u4", "u9"],
        "kind": ["buy", "buy", "view", "buy", "buy", "view", "buy"],
        "ts": [5, 6, 15, 10, 40, 45, 50],  # u3's buy is before exposure: not counted
    })  # fmt: skip
    config = ExperimentConfig.from_dict({
        "name": "x", "variants": ["c", "t"], "primary": "bought",
        "metrics": [{"name": "bought", "events": ["buy"], "aggregate": "any"}, {"name": "views", "events": ["view"]}],
        "exposures": {"member_id": "user", "variant": "arm", "timestamp": "ts"},
        "events": {"member_id": "user", "event": "kind", "timestamp": "ts", "value": None},
    })  # fmt: skip
    t = aggregate(config, exposures=exposures, events=events)
    assert t.members() == {"c": 2, "t": 2}
    assert t.sums[("s", "bought")][:, -1].tolist() == [1.0, 1.0]  # u1 twice counts once; u3 pre-exposure
    assert t.sums[("s", "views")][:, -1].tolist() == [0.0, 2.0]


def test_members_in_two_variants_are_excluded_and_counted(small_tables, small_config):
    exposures, events = small_tables
    first = exposures.slice(0, 1).to_pylist()[0]
    other = "a" if first["variant"] == "control" else "control"
    doubled = pa.concat_tables([exposures, pa.Table.from_pylist([first | {"variant": other}], schema=exposures.schema)])
    readout = analyze(small_config, exposures=doubled, events=events)
    assert sum(readout.members.values()) == len(set(exposures.column("member_id").to_pylist())) - 1
    assert readout.notes[0] == "1 members were exposed to more than one variant and are excluded"


def test_experiment_column_filters_and_directories_of_parts(tmp_path, small_tables):
    exposures, events = small_tables
    tagged = exposures.append_column("experiment", pa.array(["demo-row-order"] * exposures.num_rows))
    other = tagged.set_column(3, "experiment", pa.array(["another"] * exposures.num_rows))
    (tmp_path / "x").mkdir()
    pq.write_table(tagged, tmp_path / "x" / "part-1.parquet")
    pq.write_table(other, tmp_path / "x" / "part-2.parquet")
    pq.write_table(events, tmp_path / "events.parquet")
    from marquee.experiment.simulate import demo_config

    cfg = demo_config(variants=("control", "a", "b")) | {"exposures": {"path": "x", "experiment": "experiment"}}
    (tmp_path / "plan.json").write_text(json.dumps(cfg))
    filtered = analyze(tmp_path / "plan.json")
    plain = analyze(ExperimentConfig.from_dict(demo_config(variants=("control", "a", "b"))), exposures=exposures, events=events)
    assert filtered.members == plain.members
    assert filtered.fixed[0].p_value == pytest.approx(plain.fixed[0].p_value, rel=1e-12)


def _write(tmp_path, name, table):
    pq.write_table(table, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize(
    ("exposures", "match"),
    [
        ({"member_id": [1, 2, None], "variant": ["control", "a", "b"], "timestamp": [1.0, 2.0, 3.0]},
         r"exposures\.parquet, row 3, column 'member_id': member id is missing"),
        ({"member_id": [1, 2, 3], "variant": ["control", "treatment", "b"], "timestamp": [1.0, 2.0, 3.0]},
         r"exposures\.parquet, row 2, column 'variant': unknown variant 'treatment'; the design has \['control', 'a', 'b'\]"),
        ({"member_id": [1, 2, 3], "arm": ["control", "a", "b"], "timestamp": [1.0, 2.0, 3.0]},
         r"exposures\.parquet, column 'variant': missing variant column; the table has \['arm', 'member_id', 'timestamp'\]"),
        ({"member_id": [1, 2, 3], "variant": ["control", "a", "b"], "timestamp": ["x", "y", "z"]},
         r"exposures\.parquet, column 'timestamp': must hold timestamps or numeric unix seconds, got VARCHAR"),
        ({"member_id": ["1", "2", "3"], "variant": ["control", "a", "b"], "timestamp": [1.0, 2.0, 3.0]},
         r"events\.parquet, column 'member_id': member ids are text in the exposures .* but integer in the events"),
        ({"member_id": [1, 2, 3], "variant": ["control", "a", "b"], "timestamp": [1.0, float("nan"), 3.0]},
         r"exposures\.parquet, row 2, column 'timestamp': timestamp is not finite, got nan"),
    ],
)
def test_bad_exposures_name_file_row_column(tmp_path, small_config, exposures, match):
    events = pa.table({"member_id": [1], "event": ["play"], "value": [1.0], "timestamp": [5.0]})
    cfg = ExperimentConfig.from_dict(
        small_config.to_dict() | {"exposures": {"path": _write(tmp_path, "exposures.parquet", pa.table(exposures))},
                                  "events": {"path": _write(tmp_path, "events.parquet", events)}}
    )  # fmt: skip
    with pytest.raises(DataError, match=match):
        aggregate(cfg)


@pytest.mark.parametrize(
    ("events", "match"),
    [
        ({"member_id": [1, 1], "event": ["play", "play"], "value": [3.0, None], "timestamp": [5.0, 6.0]},
         r"events\.parquet, row 2, column 'value': value is missing"),
        ({"member_id": [1, 1], "event": ["play", "play"], "value": ["3", "4"], "timestamp": [5.0, 6.0]},
         r"events\.parquet, column 'value': values must be numeric, got VARCHAR"),
        ({"member_id": [1, 1, 1], "event": ["session", "other", "play"], "value": [1.0, 1.0, 1.0], "timestamp": [5.0, None, None]},
         r"events\.parquet, row 3, column 'timestamp': timestamp is missing"),
        ({"member_id": [1], "kind": ["play"], "value": [1.0], "timestamp": [5.0]},
         r"events\.parquet, column 'event': missing event column"),
        ({"member_id": [1, None], "event": ["play", "play"], "value": [1.0, 1.0], "timestamp": [5.0, 6.0]},
         r"events\.parquet, row 2, column 'member_id': member id is missing"),
        ({"member_id": [1, 2, 3], "event": ["play", "session", "play"], "value": [1.0, float("nan"), float("inf")], "timestamp": [5.0, 6.0, 7.0]},
         r"events\.parquet, row 3, column 'value': value is not finite, got inf"),  # the session's NaN is not summed: no error
        ({"member_id": [1, 2], "event": ["play", "play"], "value": [1.0, 2.0], "timestamp": [5.0, float("-inf")]},
         r"events\.parquet, row 2, column 'timestamp': timestamp is not finite, got -inf"),
    ],
)
def test_bad_events_name_file_row_column(tmp_path, small_config, events, match):
    exposures = pa.table({"member_id": [1, 2, 3], "variant": ["control", "a", "b"], "timestamp": [1.0, 2.0, 3.0]})
    cfg = ExperimentConfig.from_dict(
        small_config.to_dict() | {"exposures": {"path": _write(tmp_path, "exposures.parquet", exposures)},
                                  "events": {"path": _write(tmp_path, "events.parquet", pa.table(events))}}
    )  # fmt: skip
    with pytest.raises(DataError, match=match):
        aggregate(cfg)


def test_missing_and_wrong_kind_of_file(tmp_path, small_config):
    (tmp_path / "log.json").write_text('[{"member_id": 1, "variant": "control", "timestamp": 1}]')
    cases = [
        (str(tmp_path / "nope.parquet"), r"nope\.parquet: file does not exist"),
        (str(tmp_path / "log.json"), r"log\.json: exposures must be Parquet or CSV.*COPY \(FROM 'log\.json'\) TO 'log\.parquet'"),
        (str(tmp_path), r"the directory holds no \.parquet files"),
    ]
    for path, match in cases:
        cfg = ExperimentConfig.from_dict(small_config.to_dict() | {"exposures": {"path": path}})
        with pytest.raises(DataError, match=match):
            aggregate(cfg)
    with pytest.raises(DataError, match=r"<exposures table>: no exposures"):
        aggregate(small_config, exposures=pa.table({"member_id": pa.array([], pa.int64()), "variant": pa.array([], pa.string()),
                                                    "timestamp": pa.array([], pa.float64())}), events=pa.table({"member_id": [1], "event": ["play"], "value": [1.0], "timestamp": [1.0]}))  # fmt: skip
