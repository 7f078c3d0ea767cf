"""Trace readers: Pensieve text, Sabre JSON, directories and archives; every bad input names file, row, field."""

import io
import json
import re
import tarfile

import numpy as np
import pytest

from marquee.errors import ConfigError, DataError
from marquee.playback import Trace, TraceSet, load_traces, parse_pensieve, parse_sabre, read_traces


def test_pensieve_known_answer():
    t = parse_pensieve("0.0\t1.5\n1.0  2.0\n\n2.5 0\n", "a.log")
    assert t.name == "a.log"
    np.testing.assert_array_equal(t.times_s, [0.0, 1.0, 2.5])
    np.testing.assert_array_equal(t.mbps, [1.5, 2.0, 0.0])
    assert t.latency_s == 0.0
    assert t.duration_s == 2.5
    assert t.mean_mbps == pytest.approx(2.0 * 1.0 / 2.5)
    assert not t.times_s.flags.writeable


@pytest.mark.parametrize(
    ("text", "row", "column", "what"),
    [
        ("0 1\n1 2 3\n", 2, "line", "expected 2 whitespace-separated fields"),
        ("0 1\n1\n", 2, "line", "got 1"),
        ("0 1\nx 2\n", 2, "time_s", "expected a number, got 'x'"),
        ("0 1\n1 fast\n", 2, "mbps", "expected a number, got 'fast'"),
        ("0 1\n1 nan\n", 2, "mbps", "finite"),
        ("0 1\n1 2\n2 -0.5\n", 3, "mbps", "negative"),
        ("0 1\n1 2\n1 3\n", 3, "time_s", "not above"),
        ("0 1\n2 2\n1 3\n", 3, "time_s", "not above"),
    ],
)
def test_pensieve_bad_lines_name_file_line_and_field(text, row, column, what):
    with pytest.raises(
        DataError, match=re.escape(f"bad.log, row {row}, column '{column}': ") + ".*" + re.escape(what)
    ) as exc:
        parse_pensieve(text, "bad.log")
    assert (exc.value.source, exc.value.row, exc.value.column) == ("bad.log", row, column)


@pytest.mark.parametrize("text", ["", "\n\n", "0 1\n"])
def test_pensieve_empty_trace(text):
    with pytest.raises(DataError, match=r"empty\.log: trace is empty"):
        parse_pensieve(text, "empty.log")


def test_pensieve_all_zero_trace():
    with pytest.raises(DataError, match=r"zero\.log, column 'mbps': throughput is zero on every line"):
        parse_pensieve("0 5\n1 0\n2 0\n", "zero.log")  # mbps[0] is never used, so this trace never delivers


def test_sabre_known_answer():
    text = json.dumps(
        [
            {"duration_ms": 1000, "bandwidth_kbps": 500, "latency_ms": 20},
            {"duration_ms": 2500, "bandwidth_kbps": 1500, "latency_ms": 40},
        ]
    )
    t = parse_sabre(text, "x.json")
    np.testing.assert_allclose(t.times_s, [0.0, 1.0, 3.5])
    np.testing.assert_allclose(t.mbps, [0.5, 0.5, 1.5])
    assert t.latency_s == pytest.approx(0.03)


@pytest.mark.parametrize(
    ("entries", "row", "column", "what"),
    [
        ([{"duration_ms": 1, "bandwidth_kbps": 1}], 1, "latency_ms", "missing"),
        ([{"duration_ms": 1, "bandwidth_kbps": 1, "latency_ms": 0}, {"duration_ms": 1, "bandwidth_kbps": "x", "latency_ms": 0}], 2, "bandwidth_kbps", "number"),
        ([{"duration_ms": 1, "bandwidth_kbps": -3, "latency_ms": 0}], 1, "bandwidth_kbps", "negative"),
        ([{"duration_ms": 0, "bandwidth_kbps": 3, "latency_ms": 0}], 1, "duration_ms", "positive"),
    ],
)  # fmt: skip
def test_sabre_bad_entries(entries, row, column, what):
    with pytest.raises(DataError, match=re.escape(f"s.json, row {row}, column '{column}': ") + ".*" + what):
        parse_sabre(json.dumps(entries), "s.json")


def test_sabre_empty_and_zero():
    with pytest.raises(DataError, match="s.json: trace is empty"):
        parse_sabre("[]", "s.json")
    with pytest.raises(DataError, match="zero on every"):
        parse_sabre(json.dumps([{"duration_ms": 5, "bandwidth_kbps": 0, "latency_ms": 1}]), "s.json")
    with pytest.raises(DataError, match="s.json, row 1, column 'json': not valid JSON"):
        parse_sabre("[{", "s.json")


def test_directory_sorted_by_name_mixed_formats(tmp_path):
    (tmp_path / "b.log").write_text("0 1\n1 2\n")
    (tmp_path / "a.json").write_text(json.dumps([{"duration_ms": 1000, "bandwidth_kbps": 2000, "latency_ms": 0}]))
    (tmp_path / ".hidden").write_text("junk")
    ts = read_traces(tmp_path)
    assert isinstance(ts, TraceSet)
    assert ts.name == tmp_path.name
    assert ts.names == ["a.json", "b.log"]
    assert ts[0].mbps[1] == 2.0


def test_directory_with_one_bad_file_returns_nothing(tmp_path):
    (tmp_path / "a.log").write_text("0 1\n1 2\n")
    (tmp_path / "b.log").write_text("0 1\n1 2\n2 -1\n")
    with pytest.raises(DataError, match=r"b\.log, row 3, column 'mbps'"):
        read_traces(tmp_path)


def _archive(path, files):
    with tarfile.open(path, "w:xz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_tar_xz_read_in_memory_sorted(tmp_path):
    path = tmp_path / "set.tar.xz"
    _archive(path, {"set/z": "0 3\n1 3\n", "set/a": "0 1\n1 2\n2 2\n"})
    ts = read_traces(path)
    assert ts.name == "set"
    assert ts.names == ["a", "z"]
    assert len(ts[0]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set.tar.xz"]  # nothing extracted


def test_tar_member_error_names_archive_and_member(tmp_path):
    path = tmp_path / "set.tar.xz"
    _archive(path, {"set/a": "0 1\n1 2\n", "set/b": "0 1\nabc 2\n"})
    with pytest.raises(DataError, match=re.escape(f"{path}:set/b, row 2, column 'time_s'")):
        read_traces(path)


def test_missing_path():
    with pytest.raises(DataError, match="no such file or directory"):
        read_traces("/nonexistent/traces")


def test_trace_value_validates():
    with pytest.raises(DataError, match="at least 2 samples"):
        Trace("t", [0.0], [1.0])
    with pytest.raises(DataError, match=r"t, row 2, column 'time_s': time is not increasing"):
        Trace("t", [0.0, 0.0], [1.0, 1.0])


def test_shipped_sets():
    fcc = load_traces("fcc_pensieve88")
    hsdpa = load_traces("hsdpa_pensieve80")
    assert (fcc.name, len(fcc)) == ("fcc_pensieve88", 88)
    assert (hsdpa.name, len(hsdpa)) == ("hsdpa_pensieve80", 80)
    assert fcc.names == sorted(fcc.names)
    assert all(np.all(np.diff(t.times_s) > 0) for t in fcc)


def test_slicing_a_set_keeps_a_set():
    fcc = load_traces("fcc_pensieve88")
    head = fcc[:3]
    assert isinstance(head, TraceSet) and head.name == "fcc_pensieve88" and head.names == fcc.names[:3]
    assert isinstance(fcc[0], Trace)


def test_cut_makes_sessions_from_long_logs():
    # samples every 10 s from 5 s to 105 s: 100 s long, throughput = the sample's time
    times = np.arange(5.0, 106.0, 10.0)
    long = Trace("log", times, times, latency_s=0.02)
    short = Trace("short", [0.0, 1.0, 2.0], [0.0, 1.0, 1.0])
    pieces = TraceSet("set", (long, short)).cut(40.0, every_s=30.0)
    assert pieces.name == "set"
    # starts 0, 30, 60 fit a 40 s piece in 100 s; 90 does not; the 2 s trace stays whole
    assert pieces.names == ["log@0s", "log@30s", "log@60s", "short"]
    first, second = pieces[0], pieces[1]
    np.testing.assert_array_equal(first.times_s, [0.0, 10.0, 20.0, 30.0, 40.0])  # 5..45 s, re-timed
    np.testing.assert_array_equal(first.mbps, [5.0, 15.0, 25.0, 35.0, 45.0])
    np.testing.assert_array_equal(second.mbps, [35.0, 45.0, 55.0, 65.0, 75.0])  # 35..75 s
    assert first.latency_s == 0.02 and pieces[3] is short
    back_to_back = TraceSet("set", (long,)).cut(50.0)
    assert back_to_back.names == ["log@0s", "log@50s"]


def test_cut_errors_name_the_piece():
    sparse = Trace("sparse", [0.0, 100.0, 200.0], [1.0, 1.0, 1.0])
    with pytest.raises(DataError, match=r"sparse@0s.*1 sample\(s\); cut into longer pieces"):
        TraceSet("s", (sparse,)).cut(10.0)
    dead = Trace("dead", [0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 0.0, 0.0])
    with pytest.raises(DataError, match=r"dead@2s.*zero throughout"):
        TraceSet("s", (dead,)).cut(2.0)
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ConfigError, match="length_s must be a finite number > 0"):
            TraceSet("s", (sparse,)).cut(bad)
    with pytest.raises(ConfigError, match="every_s must be"):
        TraceSet("s", (sparse,)).cut(10.0, every_s=0)


def test_the_shipped_training_half_holds_no_test_trace():
    # The Marquee scheme's defaults are chosen on pensieve_train127 and scored on the two test sets: no trace may be
    # in both, by name or by content.
    train = load_traces("pensieve_train127")
    assert len(train) == 127
    assert sum(t.name.startswith("trace_") for t in train) == 59  # FCC; the other 68 are HSDPA logs
    for name in ("fcc_pensieve88", "hsdpa_pensieve80"):
        test = load_traces(name)
        assert not {t.name for t in train} & {t.name for t in test}
        seen = {(t.times_s.tobytes(), t.mbps.tobytes()) for t in test}
        assert not any((t.times_s.tobytes(), t.mbps.tobytes()) in seen for t in train)
