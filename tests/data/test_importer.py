"""Importing a user's own log: errors name file, row and column; nothing is dropped silently."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from marquee.data import Dataset
from marquee.data.importer import ColumnMapping, import_log, read_log
from marquee.errors import DataError

MAPPING = ColumnMapping(member_id="user", title_id="item", timestamp="when", rating="stars")


def _csv(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_iso_and_epoch_and_counts_duplicates(tmp_path):
    p = _csv(tmp_path, "user,item,when,stars\n1,10,2024-01-01T10:00:00Z,4\n1,10,2024-01-01T10:00:00Z,4\n2,11,1704103200,\n")
    table, report = read_log(p, MAPPING)
    assert report.rows_read == 3 and report.rows_kept == 2 and report.duplicates == 1
    assert table.column("timestamp").to_pylist() == [1704103200, 1704103200]
    assert table.column("rating").to_pylist() == [4.0, None]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("user,item,when\n1,10,5\n", r"column 'stars': missing column"),
        ("user,item,when,stars\n1,10,5,4\n-1,10,6,4\n", r"row 2, column 'user': ids must be non-negative, got -1"),
        ("user,item,when,stars\n1,10,5,4\n1,x7,6,4\n", r"row 2, column 'item': not an integer, got 'x7'"),
        ("user,item,when,stars\n1,10,tomorrow,4\n", r"row 1, column 'when': not a timestamp"),
        ("user,item,when,stars\n1,,5,4\n", r"row 1, column 'item': value is missing"),
        ("user,item,when,stars\n", r"header but no data rows"),
        ("", r"the file is empty"),
    ],
)
def test_bad_input_names_file_row_and_column(tmp_path, text, pattern):
    p = _csv(tmp_path, text)
    with pytest.raises(DataError, match=pattern) as info:
        read_log(p, MAPPING, ids="int")
    assert str(p) in str(info.value)


def test_skip_bad_rows_counts_every_drop(tmp_path):
    p = _csv(tmp_path, "user,item,when,stars\n1,10,5,4\n-1,10,6,4\n1,zz,7,4\n2,11,8,5\n")
    table, report = read_log(p, MAPPING, skip_bad_rows=True, ids="int")
    assert table.num_rows == 2
    assert report.rows_dropped == 2
    assert report.dropped == {"user: ids must be non-negative": 1, "item: not an integer": 1}
    assert report.examples[0].startswith("row 2")


def test_parquet_and_explicit_format(tmp_path):
    p = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user": [1, 2], "item": [5, 6], "when": ["01/02/2024", "03/02/2024"], "stars": [1.0, 2.0]}), p)
    table, _ = read_log(p, MAPPING, timestamp_format="%d/%m/%Y")
    assert table.column("timestamp").to_pylist() == [1706745600, 1706918400]


def test_failed_import_leaves_the_stored_dataset_intact(tmp_path):
    good = _csv(tmp_path, "user,item,when,stars\n1,10,5,4\n1,11,6,4\n", "good.csv")
    ds, _ = import_log(good, "mine", MAPPING)
    ds.save(tmp_path / "datasets" / "mine")
    bad = _csv(tmp_path, "user,item,when,stars\n1,10,5,4\n-4,11,6,4\n", "bad.csv")
    with pytest.raises(DataError):
        import_log(bad, "mine", MAPPING)
    again = Dataset.load(tmp_path / "datasets" / "mine")
    assert len(again.interactions) == 2


def test_dataset_round_trip_and_tamper_detection(tmp_path):
    good = _csv(tmp_path, "user,item,when,stars\n1,10,5,4\n1,11,6,4\n2,10,9,3\n")
    ds, _ = import_log(good, "mine", MAPPING)
    ds.save(tmp_path / "d")
    loaded = Dataset.load(tmp_path / "d")
    assert loaded.interactions.fingerprint() == ds.interactions.fingerprint()
    assert loaded.query("select count(*) as n from interactions").column("n").to_pylist() == [3]
    pq.write_table(loaded.interactions.table.slice(0, 2), tmp_path / "d" / "interactions.parquet")
    with pytest.raises(DataError, match="fingerprint"):
        Dataset.load(tmp_path / "d")


def test_text_ids_are_read_as_strings_and_the_report_says_why(tmp_path):
    p = _csv(tmp_path, "user,item,when,stars\n42,tt0111161,5,4\nu-7, tt0068646 ,6,3\n42,tt0068646,7,5\n")
    table, report = read_log(p, MAPPING)
    assert table.column("member_id").type == pa.string() and table.column("title_id").type == pa.string()
    assert sorted(table.column("title_id").to_pylist()) == ["tt0068646", "tt0068646", "tt0111161"]  # trimmed
    assert report.id_kinds["member_id"].startswith("string") and "'u-7'" in report.id_kinds["member_id"]
    assert report.id_kinds["title_id"].startswith("string")


def test_integer_ids_stay_integers_under_auto_and_string_can_be_forced(tmp_path):
    p = _csv(tmp_path, "user,item,when,stars\n1,10,5,4\n2,11,6,3\n")
    table, report = read_log(p, MAPPING)
    assert table.column("member_id").type == pa.int64() and report.id_kinds == {"member_id": "int", "title_id": "int"}
    table, _ = read_log(p, MAPPING, ids="string")
    assert table.column("title_id").to_pylist() == ["10", "11"]
    with pytest.raises(DataError, match="ids must be one of"):
        read_log(p, MAPPING, ids="uuid")


def test_string_id_log_imports_end_to_end(tmp_path):
    p = _csv(tmp_path, "user,item,when\nalice,tt2,5\nbob,tt10,6\nalice,tt10,7\n")
    ds, _ = import_log(p, "mine", ColumnMapping("user", "item", "when"))
    assert ds.catalog.index.ids.tolist() == ["tt2", "tt10"]  # shortlex: numbers written as text keep their order
    assert ds.interactions.members.ids.tolist() == ["bob", "alice"]
    ds.save(tmp_path / "mine")
    back = Dataset.load(tmp_path / "mine")
    assert back.interactions.fingerprint() == ds.interactions.fingerprint()
    assert back.interactions.title_idx.tolist() == ds.interactions.title_idx.tolist()


def test_empty_text_id_is_missing(tmp_path):
    p = _csv(tmp_path, "user,item,when\nalice,tt2,5\n  ,tt10,6\n")
    with pytest.raises(DataError, match=r"row 2, column 'user': value is missing"):
        read_log(p, ColumnMapping("user", "item", "when"))


def test_leading_zeros_make_text_ids_so_nothing_is_merged(tmp_path):
    p = _csv(tmp_path, "user,item,when\n1,007,5\n1,7,6\n2,0042,7\n")
    table, report = read_log(p, ColumnMapping("user", "item", "when"))
    assert table.column("title_id").type == pa.string() and sorted(set(table.column("title_id").to_pylist())) == ["0042", "007", "7"]
    assert "'007'" in report.id_kinds["title_id"] and report.id_kinds["member_id"] == "int"


def test_integers_beyond_int64_are_text_under_auto_and_an_error_under_int(tmp_path):
    p = _csv(tmp_path, "user,item,when\n3,9223372036854775808,1700000000\n3,5,1700000001\n")
    table, report = read_log(p, ColumnMapping("user", "item", "when"))
    assert table.column("title_id").to_pylist().count("9223372036854775808") == 1 and report.id_kinds["title_id"].startswith("string")
    with pytest.raises(DataError, match=r"row 1, column 'item': integer outside -2\*\*63\.\.2\*\*63-1"):
        read_log(p, ColumnMapping("user", "item", "when"), ids="int")
    table, report = read_log(p, ColumnMapping("user", "item", "when"), ids="int", skip_bad_rows=True)
    assert table.num_rows == 1 and report.dropped == {"item: integer outside -2**63..2**63-1": 1}


def test_unsigned_parquet_ids_beyond_int64_are_refused_by_row(tmp_path):
    p = tmp_path / "log.parquet"
    pq.write_table(pa.table({"user": pa.array([1, 2**63 + 5], pa.uint64()), "item": [5, 6], "when": [10, 11]}), p)
    with pytest.raises(DataError, match=r"row 2, column 'user': integer outside"):
        read_log(p, ColumnMapping("user", "item", "when"))
