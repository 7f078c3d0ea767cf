"""Readers turn every trace format into the same columns; bad input fails on one line naming file, offset or row."""

import gzip
import lzma

import numpy as np
import pytest

from marquee import cdn
from marquee.errors import ConfigError, DataError


def test_columns_and_first_seen_sizes():
    reqs = cdn.requests_from_arrays([0, 1, 2, 3, 4], np.array([10, 20, 10, 30, 20], dtype=np.uint64), [5, 7, 9, 1, 7])
    assert reqs.n_objects == 3 and len(reqs) == 5
    assert reqs.ids.tolist() == [10, 20, 30]
    assert reqs.obj.tolist() == [0, 1, 0, 2, 1]
    assert reqs.size.tolist() == [5, 7, 5, 1, 7]  # object 10 keeps its first size, 5
    assert reqs.n_resized == 1
    assert reqs.working_set_bytes == 13
    assert reqs.next_access().tolist() == [2, 4, cdn.NO_NEXT_ACCESS, cdn.NO_NEXT_ACCESS, cdn.NO_NEXT_ACCESS]


def test_cache_bytes_specs():
    reqs = cdn.requests_from_arrays(None, np.arange(10, dtype=np.uint64), np.full(10, 1000))
    assert reqs.working_set_bytes == 10_000
    assert reqs.cache_bytes("1%") == 100
    assert reqs.cache_bytes("0.001%") == 1  # rounded down, at least 1
    assert reqs.cache_bytes(0.5) == 5000
    assert reqs.cache_bytes(4096) == 4096
    assert reqs.cache_bytes("64MiB") == 64 * 2**20
    assert reqs.cache_bytes("2GB") == 2 * 10**9
    for bad in (0, "0", "0%", -5, "-1%", "lots", "5 parsecs"):
        with pytest.raises(ConfigError):
            reqs.cache_bytes(bad)


def test_oracle_general_round_trip(tmp_path):
    reqs = cdn.requests_from_arrays(np.arange(6.0), np.array([5, 6, 5, 7, 6, 5], dtype=np.uint64), [10, 20, 10, 30, 20, 10])
    path = cdn.write_oracle_general(reqs, tmp_path / "t.bin")
    back = cdn.read_requests(path, "oraclegeneral")
    assert back.ids.tolist() == reqs.ids.tolist() and back.obj.tolist() == reqs.obj.tolist()
    assert back.size.tolist() == reqs.size.tolist() and back.time.tolist() == reqs.time.tolist()
    raw = np.frombuffer(path.read_bytes(), dtype=[("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])
    assert raw["next"].tolist() == [3, 5, 6, -1, -1, -1]  # 1-based, as libCacheSim writes it


def test_truncated_binary_names_the_offset(tmp_path):
    reqs = cdn.requests_from_arrays(None, np.arange(3, dtype=np.uint64), [1, 2, 3])
    path = cdn.write_oracle_general(reqs, tmp_path / "t.bin")
    cut = tmp_path / "cut.bin"
    cut.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"cut\.bin.*offset 48"):
        cdn.read_requests(cut, "oraclegeneral")
    u32 = tmp_path / "keys.u32"
    u32.write_bytes(b"\x00\x00\x00\x01\x00\x00")
    with pytest.raises(DataError, match=r"keys\.u32.*offset 4"):
        cdn.read_requests(u32, "u32be")


def test_compressed_and_u32be(tmp_path):
    keys = np.array([3, 1, 3, 2], dtype=">u4").tobytes()
    (tmp_path / "k.xz").write_bytes(lzma.compress(keys))
    (tmp_path / "k.gz").write_bytes(gzip.compress(keys))
    for name in ("k.xz", "k.gz"):
        reqs = cdn.read_requests(tmp_path / name, "u32be")
        assert reqs.ids[reqs.obj].tolist() == [3, 1, 3, 2]
        assert reqs.size.tolist() == [1, 1, 1, 1] and not reqs.sized


@pytest.mark.parametrize(
    ("line", "row", "field"),
    [("5 7 -3", 2, "size"), ("5 x 3", 2, "id"), ("abc 7 3", 2, "time"), ("5 7", 2, "size"), ("5 7 2.5", 2, "size")],
)
def test_bad_text_line_names_row_and_field(tmp_path, line, row, field):
    path = tmp_path / "t.txt"
    path.write_text(f"1 2 3\n{line}\n4 5 6\n")
    with pytest.raises(DataError) as info:
        cdn.read_requests(path, "txt")
    assert f"row {row}" in str(info.value) and f"'{field}'" in str(info.value) and "t.txt" in str(info.value)
    assert "\n" not in str(info.value)


def test_csv_and_parquet_with_named_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "log.csv").write_text("ts,object,bytes\n0,a,10\n1,b,20\n2,a,10\n")
    reqs = cdn.read_requests(tmp_path / "log.csv", "csv", columns={"time": "ts", "id": "object", "size": "bytes"})
    assert len(reqs) == 3 and reqs.n_objects == 2 and reqs.obj[0] == reqs.obj[2]
    pq.write_table(pa.table({"time": [0.0, 1.0], "id": [5, 6], "size": [1, -2]}), tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"log\.parquet, row 2, column 'size'"):
        cdn.read_requests(tmp_path / "log.parquet", "parquet")
    with pytest.raises(DataError, match="no id column"):
        cdn.read_requests(tmp_path / "log.csv", "csv")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown trace format"):
        cdn.read_requests(tmp_path, "binary")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="no such trace file"):
        cdn.read_requests(tmp_path / "absent.txt", "txt")


def test_shipped_traces_load():
    web07 = cdn.load_requests("cache2k_web07")
    assert (len(web07), web07.n_objects) == (76_118, 20_484)
    adapt = cdn.load_requests("adapt_size")
    assert (len(adapt), adapt.n_objects) == (66_987, 36_815) and adapt.n_resized == 5_799
