"""IdIndex: integer and string ids, lookups in either spelling, storage round trips."""

import numpy as np
import pytest

from marquee.data import IdIndex
from marquee.data.ids import normalize_id
from marquee.errors import DataError, UnknownIdError


def test_integer_index_is_unchanged_and_accepts_canonical_text():
    index = IdIndex.from_values(np.array([30, 10, 20, 10]), "member")
    assert index.ids.tolist() == [10, 20, 30] and not index.is_string
    assert index.position(20) == 1 and index.position("20") == 1
    assert index.position("020") is None and index.position("x") is None and index.position(-1) is None
    assert index.position(2**70) is None and index.position(True) is None
    assert index.positions(["30", 10]).tolist() == [2, 0]
    assert index.lookup([10, 99]).tolist() == [0, -1]


def test_string_index_orders_shortlex_and_accepts_integers():
    index = IdIndex.from_values(np.array(["u10", "u9", "tt0111161", "u10", "42"], dtype=object), "member")
    assert index.ids.tolist() == ["42", "u9", "u10", "tt0111161"] and index.is_string
    assert index.position("u10") == 2 and index.position(42) == 0 and index.position("nope") is None
    assert index.positions(np.array(["u9", "tt0111161"], dtype=object)).tolist() == [1, 3]
    assert index.contains([42, "u11"]).tolist() == [True, False]


def test_unknown_ids_are_named():
    with pytest.raises(UnknownIdError, match=r"unknown title id 'tt9' \(and 1 more\); known title ids: 'a', 'b'"):
        IdIndex.from_values(["a", "b"], "title").positions(["tt9", "zz"])
    with pytest.raises(UnknownIdError, match=r"unknown member id 7; known member ids: 1\.\.2"):
        IdIndex.from_values([1, 2], "member").positions([7])


def test_mixed_or_unsorted_ids_are_refused():
    with pytest.raises(DataError, match="all integers or all strings"):
        IdIndex(np.array([1, "a"], dtype=object))
    with pytest.raises(DataError, match="shortlex"):
        IdIndex(np.array(["b", "a"], dtype=object))


@pytest.mark.parametrize("values", [[3, 5, 9], ["tt2", "tt10", "ü-1"], []])
def test_storage_round_trip(values):
    index = IdIndex.from_values(np.array(values, dtype=object if values and isinstance(values[0], str) else np.int64), "title")
    arrays = index.to_arrays("_titles")
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())
    back = IdIndex.from_arrays(dict(arrays), "_titles", "title")
    assert back == index and back.is_string == index.is_string


def test_digest_of_integer_ids_is_their_bytes_and_strings_differ():
    ints = IdIndex.from_values([1, 2], "member")
    assert ints.digest() == np.array([1, 2], np.int64).tobytes()
    assert IdIndex.from_values(["1", "2"]).digest() != ints.digest()


@pytest.mark.parametrize(
    ("value", "message"),
    [(2**64, "outside 0..2\\*\\*63-1"), (-1, "outside"), ("", "1..256 bytes"), ("x" * 300, "1..256 bytes"), (1.5, "got float"), (True, "boolean")],
)
def test_normalize_id_refuses_what_no_index_can_hold(value, message):
    with pytest.raises(DataError, match=message):
        normalize_id(value, "member")


def test_normalize_id_keeps_ints_and_strings():
    assert normalize_id(np.int64(5)) == 5 and normalize_id("tt1") == "tt1"
