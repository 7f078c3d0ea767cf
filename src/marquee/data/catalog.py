"""The catalog (titles) and member tables."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.data.ids import IdIndex
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
    arr = ids.to_numpy()
    if arr.size and arr.min() < 0:
        row = int(np.argmax(arr < 0))
        raise DataError(f"ids must be non-negative, got {int(arr[row])}", source=source, row=row + 1, column=column)
    uniq, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        raise DataError(f"id {int(uniq[counts > 1][0])} appears more than once", source=source, column=column)


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
        table = self.table.select(CATALOG_SCHEMA.names).cast(CATALOG_SCHEMA)
        _require_unique_ids(table, "title_id", self.source)
        object.__setattr__(self, "table", table.sort_by("title_id"))

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
                    "title_id": pa.array(np.asarray(title_ids, dtype=np.int64)),
                    "name": pa.array(names if names is not None else [None] * n, pa.string()),
                    "year": pa.array(years if years is not None else [None] * n, pa.int16()),
                    "genres": pa.array(genres if genres is not None else [[] for _ in range(n)], pa.list_(pa.string())),
                }
            )
        )

    @cached_property
    def index(self) -> IdIndex:
        return IdIndex(self.table.column("title_id").to_numpy(), "title")

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
        table = self.table.set_column(
            self.table.column_names.index("member_id"), "member_id", self.table.column("member_id").cast(pa.int64())
        )
        _require_unique_ids(table, "member_id", self.source)
        object.__setattr__(self, "table", table.sort_by("member_id"))

    @cached_property
    def index(self) -> IdIndex:
        return IdIndex(self.table.column("member_id").to_numpy(), "member")

    def __len__(self) -> int:
        return self.table.num_rows
