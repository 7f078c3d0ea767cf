"""The interaction log value type."""

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from marquee.data import Catalog, IdIndex, Interactions, tie_keys
from marquee.errors import DataError, UnknownIdError


def test_tie_key_is_the_documented_hash():
    digest = hashlib.sha256(b"196:242").digest()
    assert tie_keys(np.array([196]), np.array([242]))[0] == int.from_bytes(digest[:8], "big") >> 1


def test_canonical_order_is_member_time_then_tie_key():
    # Member 7 watched 30, 20, 10 in the same second: the order is by tie key, not by title id.
    data = Interactions.from_arrays([7, 7, 7, 3], [30, 20, 10, 99], [50, 50, 50, 1])
    assert data.table.column("member_id").to_pylist() == [3, 7, 7, 7]
    keys = tie_keys(np.array([7, 7, 7]), np.array([30, 20, 10]))
    expected = [t for _, t in sorted(zip(keys.tolist(), [30, 20, 10], strict=True))]
    assert data.table.column("title_id").to_pylist()[1:] == expected


def test_indices_and_matrix():
    catalog = Catalog.from_arrays([10, 20, 30, 40])
    data = Interactions.from_arrays([5, 5, 9], [10, 30, 30], [1, 2, 3], catalog=catalog)
    assert data.n_titles == 4 and data.n_members == 2
    np.testing.assert_array_equal(data.title_idx, [0, 2, 2])
    np.testing.assert_array_equal(data.matrix().toarray(), [[1, 0, 1, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(data.member_indptr, [0, 2, 3])


def test_repeated_pairs_count_once_in_matrix():
    data = Interactions.from_arrays([1, 1, 1], [10, 10, 11], [1, 2, 3])
    np.testing.assert_array_equal(data.matrix().toarray(), [[1, 1]])


def test_missing_column_is_named():
    with pytest.raises(DataError, match="column 'timestamp': missing required column"):
        Interactions.from_table(pa.table({"member_id": [1], "title_id": [2]}), source="log.csv")


def test_negative_id_names_row_and_column():
    with pytest.raises(DataError, match=r"log, row 2, column 'title_id': ids must be non-negative, got -2"):
        Interactions.from_table(pa.table({"member_id": [1, 1], "title_id": [1, -2], "timestamp": [0, 1]}), source="log")


def test_title_outside_catalog_is_refused():
    with pytest.raises(DataError, match="id 99 is not in the title index"):
        Interactions.from_arrays([1], [99], [0], catalog=Catalog.from_arrays([1, 2]))


def test_context_columns_are_range_checked():
    table = pa.table({"member_id": [1], "title_id": [2], "timestamp": [0], "local_hour": [25]})
    with pytest.raises(DataError, match="column 'local_hour': must lie in"):
        Interactions.from_table(table)


def test_empty_log_is_refused():
    with pytest.raises(DataError, match="no rows"):
        Interactions.from_table(pa.table({"member_id": pa.array([], pa.int64()), "title_id": pa.array([], pa.int64()), "timestamp": pa.array([], pa.int64())}))


def test_fingerprint_changes_with_content():
    a = Interactions.from_arrays([1, 2], [3, 4], [5, 6])
    b = Interactions.from_arrays([2, 1], [4, 3], [6, 5])
    c = Interactions.from_arrays([1, 2], [3, 4], [5, 7])
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_id_index_positions_and_unknown():
    index = IdIndex.from_values(np.array([30, 10, 20, 10]), "member")
    np.testing.assert_array_equal(index.positions([20, 30]), [1, 2])
    assert 10 in index and 11 not in index
    with pytest.raises(UnknownIdError, match="unknown member id 11"):
        index.positions([10, 11])


@pytest.mark.parametrize("ids", [[5, 6, 7, 8], [5, 7, 8, 20], [0], [3, 4]])
def test_id_index_single_lookup_agrees_with_batch_lookup(ids):
    index = IdIndex(np.array(ids), "member")
    for value in range(-2, 25):
        expected = int(index.positions([value])[0]) if value in ids else None
        assert index.position(value) == expected
