"""The catalog (titles) and member tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.data.ids import MAX_ID_LENGTH, IdIndex, id_array, id_column_type
from marquee.errors import DataError

__all__ = ["CATALOG_SCHEMA", "Catalog", "Members"]

CATALOG_SCHEMA = pa.schema(
    [
        pa.field("title_id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("year", pa.int16()),
        pa.field("genres", pa.list_(pa.string())),
    ]
)


def _require_unique_ids(table: pa.Table, column: str, source: str) -> None:
    ids = table.column(column)
    if ids.null_count:
        raise DataError("ids must not be empty", source=source, column=column)
    if pa.types.is_string(ids.type):
        lengths = pc.binary_length(ids).to_numpy(zero_copy_only=False)
        bad = (lengths == 0) | (lengths > MAX_ID_LENGTH)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"ids must be 1..{MAX_ID_LENGTH} bytes of text, got {int(lengths[row])}", source=source, row=row + 1, column=column)
        counts = pc.value_counts(ids).flatten()
        dup = pc.filter(counts[0], pc.greater(counts[1], 1))
        if len(dup):
            raise DataError(f"id {dup[0].as_py()!r} appears more than once", source=source, column=column)
        return
    arr = ids.to_numpy()
    if arr.size and arr.min() < 0:
        row = int(np.argmax(arr < 0))
        raise DataError(f"ids must be non-negative, got {int(arr[row])}", source=source, row=row + 1, column=column)
    uniq, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise DataError(f"id {int(uniq[counts > 1][0])} appears more than once", source=source, column=column)


def _sort_by_id(table: pa.Table, column: str, kind: str) -> tuple[pa.Table, IdIndex]:
    """The table in id order (strings: shortlex, as :class:`IdIndex` orders them) and its index."""
    ids = table.column(column)
    if not pa.types.is_string(ids.type):
        table = table.sort_by(column)
        return table, IdIndex(table.column(column).to_numpy(), kind)
    index = IdIndex.from_values(ids, kind)
    return table.take(pa.array(np.argsort(index.positions(ids), kind="stable"))), index


@dataclass(frozen=True, eq=False)
class Catalog:
    """Titles a service can recommend: ``title_id``, ``name``, ``year``, ``genres``.

    The title index of every model trained on a dataset comes from its catalog, so titles
    nobody has watched yet are still ranked (cold titles).
    """

    table: pa.Table
    source: str = "<catalog>"

    def __post_init__(self) -> None:
        missing = [f.name for f in CATALOG_SCHEMA if f.name not in self.table.column_names]
        if missing:
            raise DataError(f"missing column(s) {missing}", source=self.source, column=missing[0])
        id_type = id_column_type(self.table.column("title_id").type)
        table = self.table.select(CATALOG_SCHEMA.names).cast(CATALOG_SCHEMA.set(0, pa.field("title_id", id_type, nullable=False)))
        _require_unique_ids(table, "title_id", self.source)
        table, index = _sort_by_id(table, "title_id", "title")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_arrays(
        cls,
        title_ids: np.ndarray | list[int],
        names: list[str] | None = None,
        years: list[int | None] | None = None,
        genres: list[list[str]] | None = None,
    ) -> Catalog:
        n = len(title_ids)
        return cls(
            pa.table(
                {
                    "title_id": id_array(title_ids),
                    "name": pa.array(names if names is not None else [None] * n, pa.string()),
                    "year": pa.array(years if years is not None else [None] * n, pa.int16()),
                    "genres": pa.array(genres if genres is not None else [[] for _ in range(n)], pa.list_(pa.string())),
                }
            )
        )

    @property
    def index(self) -> IdIndex:
        return self._index  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self.table.num_rows

    def names(self, title_ids: np.ndarray) -> list[str | None]:
        """Names of ``title_ids`` (external ids), in order."""
        pos = self.index.positions(title_ids)
        return pc.take(self.table.column("name"), pa.array(pos)).to_pylist()


@dataclass(frozen=True, eq=False)
class Members:
    """Members and whatever attributes the source carries (``member_id`` plus free columns)."""

    table: pa.Table
    source: str = "<members>"

    def __post_init__(self) -> None:
        if "member_id" not in self.table.column_names:
            raise DataError("missing column 'member_id'", source=self.source, column="member_id")
        col = self.table.column("member_id")
        table = self.table.set_column(self.table.column_names.index("member_id"), "member_id", col.cast(id_column_type(col.type)))
        _require_unique_ids(table, "member_id", self.source)
        table, index = _sort_by_id(table, "member_id", "member")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "_index", index)

    @property
    def index(self) -> IdIndex:
        return self._index  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return self.table.num_rows
