"""Exposure logging: the sink interface, its Parquet implementation and the in-memory double."""

import duckdb
import pytest

from marquee.errors import DataError
from marquee.experiment import Allocator, Experiment, ExposureSink, Layer, MemorySink, ParquetSink, Variant, log_exposures


@pytest.fixture
def allocator():
    return Allocator([Layer("l", (Experiment("e", (Variant("control"), Variant("treatment")), traffic=0.5),))])


def test_both_sinks_satisfy_the_interface(tmp_path):
    assert isinstance(MemorySink(), ExposureSink) and isinstance(ParquetSink(tmp_path), ExposureSink)


def test_log_exposures_writes_members_in_the_experiment(allocator):
    sink = MemorySink()
    variants = log_exposures(allocator, range(1000), "e", sink, clock=lambda: 1_700_000_000.0)
    table = sink.table()
    assert table.num_rows == sum(v is not None for v in variants) > 0
    assert set(table.column("variant").to_pylist()) == {"control", "treatment"}
    assert set(table.column("timestamp").to_pylist()) == {1_700_000_000.0}
    assert table.column("member_id").to_pylist() == [m for m, v in zip(range(1000), variants, strict=True) if v is not None]


def test_parquet_sink_writes_parts_duckdb_reads_as_one(tmp_path, allocator):
    with ParquetSink(tmp_path / "exp", batch_rows=100) as sink:
        for start in range(0, 1000, 250):
            log_exposures(allocator, range(start, start + 250), "e", sink, clock=lambda: 1.0)
    parts = sorted((tmp_path / "exp").glob("*.parquet"))
    assert len(parts) >= 2 and not list((tmp_path / "exp").glob(".*"))
    n = duckdb.connect().execute(f"SELECT count(*), count(DISTINCT member_id) FROM read_parquet('{tmp_path / 'exp'}/*.parquet')").fetchone()
    memory = MemorySink()
    log_exposures(allocator, range(1000), "e", memory)
    assert n == (memory.table().num_rows, memory.table().num_rows)


def test_parquet_sink_refuses_a_member_type_change_and_keeps_the_rows(tmp_path):
    from marquee.experiment import Exposure

    sink = ParquetSink(tmp_path)
    sink.write([Exposure(1, "e", "control", 0.0)])
    sink.flush()
    sink.write([Exposure("x", "e", "control", 0.0)])
    with pytest.raises(DataError, match=r"column 'member_id': member ids changed type from int64 to string"):
        sink.flush()
    assert len(sink._buffer) == 1


def test_logged_exposures_feed_the_analysis(tmp_path, allocator):
    """Allocation -> ParquetSink -> analyze: the parts directory is the exposures table, filtered by experiment."""
    import numpy as np
    import pyarrow as pa

    from marquee.experiment import ExperimentConfig, analyze

    rng = np.random.default_rng(0)
    clock = iter(np.arange(0.0, 4000.0))
    with ParquetSink(tmp_path / "exposures", batch_rows=500) as sink:
        variants = [log_exposures(allocator, [m], "e", sink, clock=lambda: float(next(clock)))[0] for m in range(4000)]
    exposed = [(m, v) for m, v in enumerate(variants) if v is not None]
    minutes = [rng.gamma(2, 10) * (1.2 if v == "treatment" else 1.0) for _, v in exposed]
    events = pa.table({"member_id": [m for m, _ in exposed], "event": ["play"] * len(exposed), "value": minutes,
                       "timestamp": [float(m) + 0.5 for m, _ in exposed]})  # fmt: skip
    config = ExperimentConfig.from_dict({
        "name": "e", "variants": ["control", "treatment"], "primary": "minutes",
        "metrics": [{"name": "minutes", "events": ["play"], "aggregate": "sum"}],
        "exposures": {"path": str(tmp_path / "exposures"), "experiment": "experiment"},
    })  # fmt: skip
    r = analyze(config, events=events)
    assert sum(r.members.values()) == len(exposed) and not r.srm.mismatch
    assert r.comparison("minutes", "treatment").relative.low > 0
