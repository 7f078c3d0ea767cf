"""The interaction log: who did what with which title, when, and in what context."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from marquee.data.catalog import Catalog
from marquee.data.ids import MAX_ID_LENGTH, IdIndex, id_array, id_column_type, show_id
from marquee.errors import DataError

__all__ = ["INTERACTION_SCHEMA", "Interactions", "interaction_schema", "tie_keys"]

#: Columns of every interaction log. The context columns (``device``, ``local_hour``,
#: ``completion``) may be all-null for sources that do not record them (MovieLens).
INTERACTION_SCHEMA = pa.schema(
    [
        pa.field("member_id", pa.int64(), nullable=False),
        pa.field("title_id", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("event", pa.string(), nullable=False),
        pa.field("rating", pa.float32()),
        pa.field("device", pa.string()),
        pa.field("local_hour", pa.int8()),
        pa.field("completion", pa.float32()),
    ]
)
REQUIRED_COLUMNS = ("member_id", "title_id", "timestamp")


def interaction_schema(member_type: pa.DataType = pa.int64(), title_type: pa.DataType = pa.int64()) -> pa.Schema:
    """:data:`INTERACTION_SCHEMA` with the id columns as int64 or string (ids that are names, e.g. ``"tt0111161"``)."""
    schema = INTERACTION_SCHEMA.set(0, pa.field("member_id", member_type, nullable=False))
    return schema.set(1, pa.field("title_id", title_type, nullable=False))


def tie_keys(member_ids: np.ndarray, title_ids: np.ndarray) -> np.ndarray:
    """Order key for interactions that share a timestamp, which nothing can learn.

    The key of ``(u, i)`` is the first 8 bytes of SHA-256 of ``"<u>:<i>"`` (external ids),
    big-endian, shifted right one bit (so it fits a signed int64). Ordering same-second events
    by title id instead would leak: the held-out title would be the higher id, and ids
    correlate with (un)popularity.

    Returns:
        (n,) int64 keys.
    """
    out = np.empty(len(member_ids), dtype=np.int64)
    for j, (u, i) in enumerate(zip(np.asarray(member_ids).tolist(), np.asarray(title_ids).tolist(), strict=True)):
        out[j] = int.from_bytes(hashlib.sha256(f"{u}:{i}".encode()).digest()[:8], "big") >> 1
    return out


@dataclass(frozen=True, eq=False)
class Interactions:
    """An immutable, validated interaction log in canonical order.

    Canonical order is member id, then timestamp, then :func:`tie_keys`; every sequence a model
    sees comes from this order. Build one with :meth:`from_table` or :meth:`from_arrays`
    (which validate and sort); :meth:`select` keeps the order.

    Attributes:
        table: Arrow table with :data:`INTERACTION_SCHEMA`.
        members: the member index models use (may include members with no rows here).
        titles: the title index models use, normally the catalog's.
        catalog: the titles, if known.
    """

    table: pa.Table
    members: IdIndex
    titles: IdIndex
    catalog: Catalog | None = None

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_table(
        cls,
        table: pa.Table,
        *,
        members: IdIndex | None = None,
        titles: IdIndex | None = None,
        catalog: Catalog | None = None,
        source: str = "<table>",
    ) -> Interactions:
        """Validate, normalise and sort a table with at least member_id, title_id, timestamp.

        Raises:
            DataError: naming ``source``, the row and the column of the first problem.
        """
        for col in REQUIRED_COLUMNS:
            if col not in table.column_names:
                raise DataError(f"missing required column; columns are {table.column_names}", source=source, column=col)
        if table.num_rows == 0:
            raise DataError("the log has no rows", source=source)
        # Ids keep their kind (integers or strings), or take the kind of the index they must match.
        id_types = []
        for col, index in (("member_id", members), ("title_id", titles if titles is not None else (catalog.index if catalog is not None else None))):
            id_types.append(index.arrow_type if index is not None else id_column_type(table.column(col).type))
        schema = interaction_schema(*id_types)
        cols = {}
        for f in schema:
            if f.name in table.column_names:
                col = table.column(f.name)
                if f.name == "timestamp" and pa.types.is_integer(col.type):
                    col = col.cast(pa.int64()).cast(pa.timestamp("s", tz="UTC"))
                try:
                    col = col.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(f"cannot read as {f.type}: {exc}", source=source, column=f.name) from None
            elif f.name == "event":
                col = pa.chunked_array([pa.array(["interaction"] * table.num_rows, pa.string())])
            else:
                col = pa.nulls(table.num_rows, f.type)
            if not f.nullable and col.null_count:
                row = int(np.flatnonzero(pc.is_null(col).to_numpy(zero_copy_only=False))[0])
                raise DataError("value is missing", source=source, row=row + 1, column=f.name)
            cols[f.name] = col
        norm = pa.table(cols, schema=schema)
        _check_values(norm, source)
        m = norm.column("member_id").to_numpy(zero_copy_only=False)
        t = norm.column("title_id").to_numpy(zero_copy_only=False)
        if members is None:
            members = IdIndex.from_values(m, "member")
        if titles is None:
            titles = catalog.index if catalog is not None else IdIndex.from_values(t, "title")
        positions = []
        for ids, index, col in ((m, members, "member_id"), (t, titles, "title_id")):
            pos = index.lookup(ids)
            if (pos < 0).any():
                row = int(np.argmax(pos < 0))
                raise DataError(f"id {show_id(ids[row])} is not in the {index.kind} index", source=source, row=row + 1, column=col)
            positions.append(pos)
        ts = norm.column("timestamp").cast(pa.int64()).to_numpy()
        # Member positions order like member ids (integers ascending, text in shortlex order).
        order = np.lexsort((tie_keys(m, t), ts, positions[0]))
        return cls(norm.take(pa.array(order)), members, titles, catalog)

    @classmethod
    def from_arrays(
        cls,
        member_ids: np.ndarray | list[int],
        title_ids: np.ndarray | list[int],
        timestamps: np.ndarray | list[int],
        *,
        ratings: np.ndarray | None = None,
        event: str = "interaction",
        members: IdIndex | None = None,
        titles: IdIndex | None = None,
        catalog: Catalog | None = None,
    ) -> Interactions:
        """Build a log from parallel arrays (timestamps in unix seconds)."""
        n = len(member_ids)
        data = {
            "member_id": id_array(member_ids),
            "title_id": id_array(title_ids),
            "timestamp": pa.array(np.asarray(timestamps, dtype=np.int64)),
            "event": pa.array([event] * n, pa.string()),
        }
        if ratings is not None:
            data["rating"] = pa.array(np.asarray(ratings, dtype=np.float32))
        return cls.from_table(pa.table(data), members=members, titles=titles, catalog=catalog, source="<arrays>")

    def select(self, mask: np.ndarray) -> Interactions:
        """The rows where ``mask`` is true, keeping the indices, the catalog and the order."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"mask must have shape ({len(self)},), got {mask.shape}")
        return Interactions(self.table.filter(pa.array(mask)), self.members, self.titles, self.catalog)

    # ---- views --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.table.num_rows

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def n_titles(self) -> int:
        return len(self.titles)

    @cached_property
    def member_idx(self) -> np.ndarray:
        """(n,) int64 dense member positions, non-decreasing."""
        return self.members.positions(self.table.column("member_id"))

    @cached_property
    def title_idx(self) -> np.ndarray:
        """(n,) int64 dense title positions."""
        return self.titles.positions(self.table.column("title_id"))

    @cached_property
    def timestamps(self) -> np.ndarray:
        """(n,) int64 unix seconds."""
        return self.table.column("timestamp").cast(pa.int64()).to_numpy()

    @cached_property
    def member_indptr(self) -> np.ndarray:
        """(n_members + 1,) offsets: member ``u``'s rows, in time order, are ``indptr[u]:indptr[u+1]``."""
        counts = np.bincount(self.member_idx, minlength=self.n_members)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def matrix(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """(n_members, n_titles) float32 CSR; 1 where a member interacted (or the max of ``weights``)."""
        w = np.ones(len(self), np.float32) if weights is None else np.asarray(weights, np.float32)
        coo = sp.coo_matrix((w, (self.member_idx, self.title_idx)), shape=(self.n_members, self.n_titles))
        # Repeated (member, title) pairs keep their largest weight, not their sum.
        csr = coo.tocsr()
        if csr.nnz != len(self):
            order = np.lexsort((w, self.title_idx, self.member_idx))
            keep = np.ones(len(order), bool)
            m, t = self.member_idx[order], self.title_idx[order]
            keep[:-1] = (m[1:] != m[:-1]) | (t[1:] != t[:-1])
            o = order[keep]
            csr = sp.csr_matrix((w[o], (self.member_idx[o], self.title_idx[o])), shape=csr.shape)
        csr.sort_indices()
        return csr

    def fingerprint(self) -> str:
        """SHA-256 (hex, 16 chars) of member id, title id and timestamp in canonical order.

        Integer ids hash as their int64 bytes; string ids as length-prefixed UTF-8.
        """
        h = hashlib.sha256()
        for name in REQUIRED_COLUMNS:
            col = self.table.column(name)
            if pa.types.is_string(col.type):
                for v in col.to_pylist():
                    b = v.encode()
                    h.update(len(b).to_bytes(4, "little") + b)
            else:
                h.update(np.ascontiguousarray(col.cast(pa.int64()).to_numpy()).tobytes())
        return h.hexdigest()[:16]

    def with_indices(self, members: IdIndex, titles: IdIndex) -> Interactions:
        """The same rows under wider indices (e.g. to score members and titles unseen here)."""
        return Interactions(self.table, members, titles, self.catalog)


def check_string_ids(col: pa.ChunkedArray, source: str, column: str) -> None:
    """String ids must be 1..MAX_ID_LENGTH bytes (an empty id is a missing one)."""
    lengths = pc.binary_length(col).to_numpy(zero_copy_only=False)
    bad = (lengths == 0) | (lengths > MAX_ID_LENGTH)
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"ids must be 1..{MAX_ID_LENGTH} bytes of text, got {int(lengths[row])}", source=source, row=row + 1, column=column)


def _check_values(table: pa.Table, source: str) -> None:
    for col in ("member_id", "title_id"):
        if pa.types.is_string(table.column(col).type):
            check_string_ids(table.column(col), source, col)
            continue
        arr = table.column(col).to_numpy()
        if arr.size and arr.min() < 0:
            row = int(np.argmax(arr < 0))
            raise DataError(f"ids must be non-negative, got {int(arr[row])}", source=source, row=row + 1, column=col)
    for col, lo, hi in (("local_hour", 0, 23), ("completion", 0.0, 1.0)):
        c = table.column(col)
        if c.null_count == len(c):
            continue
        arr = c.to_numpy(zero_copy_only=False).astype(np.float64)
        bad = ~np.isnan(arr) & ((arr < lo) | (arr > hi))
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(f"must lie in [{lo}, {hi}], got {arr[row]:g}", source=source, row=row + 1, column=col)
