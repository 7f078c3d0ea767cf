"""The survival sets shipped with lifelines: shapes, types, known counts, and refusals."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from marquee.data import survival_sets as ss
from marquee.errors import ConfigError, DataError


def test_rossi():
    table = ss.survival_set("rossi")
    assert table.shape == (432, 9)
    assert table.column_names == ["week", "arrest", "fin", "age", "race", "wexp", "mar", "paro", "prio"]
    assert {f.name for f in table.schema if f.type == pa.int8()} == {"arrest", "fin", "race", "wexp", "mar", "paro"}
    assert {f.name for f in table.schema if f.type == pa.int64()} == {"week", "age", "prio"}
    assert ss.DURATION_EVENT["rossi"] == ("week", "arrest")
    assert table.schema.metadata[b"duration"] == b"week" and table.schema.metadata[b"event"] == b"arrest"
    # 114 arrests; everyone not arrested is censored at the end of the year's follow-up; aid went to half.
    assert pc.sum(table.column("arrest")).as_py() == 114
    censored = table.filter(pc.equal(table.column("arrest"), 0))
    assert set(censored.column("week").to_pylist()) == {52}
    assert pc.sum(table.column("fin")).as_py() == 216


def test_gbsg2():
    table = ss.survival_set("gbsg2")
    assert table.shape == (686, 10)
    assert table.column_names == [
        "horTh",
        "age",
        "menostat",
        "tsize",
        "tgrade",
        "pnodes",
        "progrec",
        "estrec",
        "time",
        "cens",
    ]
    assert {f.name for f in table.schema if f.type == pa.string()} == {"horTh", "menostat", "tgrade"}
    assert table.schema.field("cens").type == pa.int8() and table.schema.field("time").type == pa.int64()
    assert ss.DURATION_EVENT["gbsg2"] == ("time", "cens")
    # `cens` is the event indicator (1 = recurrence or death observed), despite its name.
    assert set(table.column("cens").to_pylist()) == {0, 1} and pc.sum(table.column("cens")).as_py() == 299
    assert (pc.min(table.column("time")).as_py(), pc.max(table.column("time")).as_py()) == (8, 2659)
    assert set(table.column("tgrade").to_pylist()) == {"I", "II", "III"}
    assert pc.sum(pc.equal(table.column("horTh"), "yes")).as_py() == 246


@pytest.mark.parametrize("name", ss.SURVIVAL_SETS)
def test_same_values_as_lifelines_loader(name):
    from lifelines import datasets

    frame = getattr(datasets, f"load_{name}")()
    table = ss.survival_set(name)
    assert list(frame.columns) == table.column_names
    for column in table.column_names:
        assert frame[column].tolist() == table.column(column).to_pylist(), column
    assert "lifelines" in ss.CREDITS[name] and "MIT" in ss.CREDITS[name]
    assert table.schema.metadata[b"credit"].decode() == ss.CREDITS[name]


def test_unknown_name_lists_the_sets():
    with pytest.raises(ConfigError, match="name must be one of rossi, gbsg2; got 'lung'"):
        ss.survival_set("lung")


def test_a_changed_file_is_refused(monkeypatch):
    monkeypatch.setitem(ss._SHA256, "rossi", "0" * 64)
    with pytest.raises(
        DataError,
        match=r"rossi\.csv: SHA-256 [0-9a-f]{64} differs from lifelines 0\.30\.3's copy .*install lifelines==0\.30\.3",
    ):
        ss.survival_set("rossi")
