"""Dense indexing of external ids (member ids, title ids): integers or strings.

Catalogs number their titles (MovieLens' ``242``) or name them (IMDb's ``"tt0111161"``, UUIDs). An
:class:`IdIndex` holds either kind, never a mix, and maps each id to a dense position ``0..n-1``,
which is all a model sees. Integer ids stay a sorted int64 array searched in C (and looked up by
one subtraction when they run without gaps); string ids are an object array of ``str`` with a
hash map for single lookups and Arrow's hash join for batches.

Order: integers ascend; strings run in *shortlex* order (shorter first, then lexicographic).
Shortlex puts ``"u9"`` before ``"u10"`` and ``"9"`` before ``"10"``, so ids that are numbers
written as text, with or without a prefix, get the positions their numbers would get.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.errors import DataError, UnknownIdError

__all__ = ["IdIndex", "MAX_ID_LENGTH", "id_array", "id_column_type", "normalize_id", "show_id"]

#: Longest string id accepted (bytes of UTF-8); longer values are almost always a wrong column.
MAX_ID_LENGTH = 256
_INT64_MAX = 2**63 - 1


def _is_canonical_int(text: str) -> bool:
    """``"42"`` yes; ``"042"``, ``"+42"``, ``" 42"``, ``"4.2"`` no (they are other strings)."""
    return text.isdigit() and text.isascii() and (text == "0" or text[0] != "0") and int(text) <= _INT64_MAX


def normalize_id(value: object, kind: str = "id") -> int | str:
    """One external id as given on a wire or a command line: a non-negative int64 or a string.

    Raises:
        DataError: for any other type, a negative or too large integer, or an empty/too long string.
    """
    if isinstance(value, bool):
        raise DataError(f"{kind} id must be an integer or a string, got a boolean")
    if isinstance(value, int | np.integer):
        v = int(value)
        if not 0 <= v <= _INT64_MAX:
            raise DataError(f"{kind} id {v} is outside 0..2**63-1")
        return v
    if isinstance(value, str):
        if not value or len(value.encode()) > MAX_ID_LENGTH:
            raise DataError(f"{kind} id must be 1..{MAX_ID_LENGTH} bytes of text, got {len(value.encode())}")
        return value
    raise DataError(f"{kind} id must be an integer or a string, got {type(value).__name__}")


def id_column_type(type_: pa.DataType) -> pa.DataType:
    """The Arrow type Marquee stores an id column as: int64 for integers, string for text."""
    if pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_dictionary(type_):
        return pa.string()
    return pa.int64()


def show_id(value: object) -> str:
    """An id as messages write it: ``42`` or ``'tt0111161'``."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def id_array(values: Any) -> pa.Array:
    """External ids as an Arrow array: string when they are text, int64 otherwise."""
    arr = np.asarray(values)
    return pa.array(arr.tolist(), pa.string()) if arr.dtype.kind in "OUT" else pa.array(arr.astype(np.int64))


def _shortlex(values: np.ndarray) -> np.ndarray:
    """Indices that put ``values`` (object array of str) in shortlex order."""
    lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=values.size)
    # lexsort cannot compare Python objects; sorting by (length, text) through a key list can.
    return np.array(sorted(range(values.size), key=lambda i: (lengths[i], values[i])), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class IdIndex:
    """A sorted set of external ids (all int64 or all str) and their dense positions ``0..n-1``.

    Models work on dense positions; users speak external ids. Because ``ids`` is sorted, the
    position order equals the id order, so a table sorted by position is also sorted by id.
    Lookups accept either kind and convert to the index's own: ``"42"`` finds integer id 42
    (written canonically: not ``"042"``), and ``42`` finds string id ``"42"``.

    Attributes:
        ids: (n,) int64 strictly increasing, or (n,) object array of ``str`` in shortlex order.
        kind: what the ids name ("member" or "title"), used in error messages.
    """

    ids: np.ndarray
    kind: str = "id"

    def __post_init__(self) -> None:
        raw = np.asarray(self.ids)
        if raw.ndim != 1:
            raise DataError(f"{self.kind} ids must be one-dimensional, got shape {raw.shape}")
        if raw.dtype.kind in "OUT":
            strings = raw.tolist()
            if not all(isinstance(v, str) for v in strings):
                raise DataError(f"{self.kind} ids must be all integers or all strings, not a mix")
            ids = np.empty(len(strings), dtype=object)
            ids[:] = strings
            lookup = {v: i for i, v in enumerate(strings)}
            if len(lookup) != ids.size or any(
                (len(a), a) >= (len(b), b) for a, b in zip(strings, strings[1:], strict=False)
            ):
                raise DataError(f"{self.kind} ids must be distinct and in shortlex order; build with IdIndex.from_values")
            object.__setattr__(self, "_lookup", lookup)
            object.__setattr__(self, "_first", None)
        else:
            ids = raw.astype(np.int64)
            if ids.size and np.any(np.diff(ids) <= 0):
                raise DataError(f"{self.kind} ids must be strictly increasing; build with IdIndex.from_values")
            object.__setattr__(self, "_lookup", None)
            # Ids that run without gaps (1..n, as most catalogs number them) map to positions by one
            # subtraction: the serving path looks up a member per request.
            contiguous = ids.size > 0 and int(ids[-1]) - int(ids[0]) + 1 == ids.size
            object.__setattr__(self, "_first", int(ids[0]) if contiguous else None)
        ids.setflags(write=False)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_n", int(ids.size))
        lookup = self._position_text if self._lookup is not None else self._position_contiguous if self._first is not None else self._position_sorted
        object.__setattr__(self, "position", lookup)

    @classmethod
    def from_values(cls, values: Any, kind: str = "id") -> IdIndex:
        """Index the distinct values of ``values`` (integers or strings, e.g. an Arrow column)."""
        if isinstance(values, pa.ChunkedArray | pa.Array):
            values = values.to_numpy(zero_copy_only=False)
        arr = np.asarray(values)
        if arr.dtype.kind in "OUT":
            uniq = np.asarray(list(dict.fromkeys(arr.tolist())), dtype=object)
            return cls(uniq[_shortlex(uniq)] if uniq.size else uniq, kind)
        return cls(np.unique(arr.astype(np.int64)), kind)

    @property
    def is_string(self) -> bool:
        """True when the ids are strings."""
        return self._lookup is not None

    @property
    def arrow_type(self) -> pa.DataType:
        return pa.string() if self.is_string else pa.int64()

    def __len__(self) -> int:
        return int(self.ids.size)

    def __contains__(self, value: object) -> bool:
        return self.position(value) is not None  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IdIndex)
            and other.is_string == self.is_string
            and other.ids.size == self.ids.size
            and bool(np.all(self.ids == other.ids))
        )

    __hash__ = None  # type: ignore[assignment]

    # ---- lookups ---------------------------------------------------------------------------
    def position(self, value: int | str) -> int | None:
        """Dense position of one external id, or ``None`` if unknown (one lookup, for hot paths).

        Each index binds the lookup that fits its ids at construction (see ``__post_init__``),
        so the serving path pays for no test of which kind of index this is.
        """
        return self._position_other(value)

    def _position_contiguous(self, value: int | str) -> int | None:
        # Ids without gaps (1..n, as most catalogs number them): one subtraction.
        if type(value) is int:
            i = value - self._first
            return i if 0 <= i < self._n else None
        return self._position_other(value)

    def _position_sorted(self, value: int | str) -> int | None:
        if type(value) is int:
            try:
                i = int(self.ids.searchsorted(value))
            except OverflowError:  # beyond int64: no such id
                return None
            return i if i < self._n and self.ids[i] == value else None
        return self._position_other(value)

    def _position_text(self, value: int | str) -> int | None:
        if type(value) is str:
            return self._lookup.get(value)
        return self._position_other(value)

    def _position_other(self, value: object) -> int | None:
        """:meth:`position` for string indices and for ids spelled as the other kind."""
        if isinstance(value, bool) or self._n == 0:
            return None
        if self._lookup is not None:
            if isinstance(value, str):
                return self._lookup.get(value)
            return self._lookup.get(str(int(value))) if isinstance(value, int | np.integer) else None
        if isinstance(value, str):
            return self.position(int(value)) if _is_canonical_int(value) else None
        return self.position(int(value)) if isinstance(value, np.integer) else None

    def _lookup_many(self, values: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(given values as an array, positions (-1 where unknown), known mask)."""
        if isinstance(values, pa.ChunkedArray | pa.Array):
            values = values.to_numpy(zero_copy_only=False)
        arr = np.atleast_1d(np.asarray(values))
        if self._lookup is None:
            if arr.dtype.kind in "iu":
                ints = arr.astype(np.int64)
                ok = np.ones(ints.shape, bool) if arr.dtype.kind == "i" else arr <= _INT64_MAX
            elif arr.dtype.kind in "OUT":
                texts = arr.tolist()
                ok = np.array([isinstance(v, str) and _is_canonical_int(v) or (isinstance(v, int) and 0 <= v <= _INT64_MAX) for v in texts], bool)
                ints = np.array([int(v) if k else -1 for v, k in zip(texts, ok, strict=True)], dtype=np.int64)
            elif arr.size == 0:
                ints, ok = arr.astype(np.int64), np.ones(0, bool)
            else:
                raise DataError(f"{self.kind} ids must be integers or strings, got an array of {arr.dtype}")
            if self.ids.size == 0:
                return arr, np.full(ints.shape, -1, np.int64), np.zeros(ints.shape, bool)
            pos = np.searchsorted(self.ids, ints).clip(max=self.ids.size - 1)
            known = ok & (self.ids[pos] == ints)
            return arr, np.where(known, pos, -1), known
        if arr.dtype.kind in "iu":
            texts = pa.array(arr.astype(np.int64)).cast(pa.string())
        elif arr.dtype.kind in "OUT":
            texts = pa.array([v if isinstance(v, str) else str(v) for v in arr.tolist()], pa.string())
        elif arr.size == 0:
            texts = pa.array([], pa.string())
        else:
            raise DataError(f"{self.kind} ids must be integers or strings, got an array of {arr.dtype}")
        found = pc.index_in(texts, value_set=self._arrow_ids)
        pos = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return arr, pos, pos >= 0

    @property
    def _arrow_ids(self) -> pa.Array:
        cached = self.__dict__.get("_arrow")
        if cached is None:
            cached = pa.array(self.ids.tolist(), pa.string())
            object.__setattr__(self, "_arrow", cached)
        return cached

    def lookup(self, values: Any) -> np.ndarray:
        """(n,) int64 dense positions of external ids, -1 where unknown (never raises for unknown ids)."""
        return self._lookup_many(values)[1]

    def contains(self, values: Any) -> np.ndarray:
        """(n,) bool: which of ``values`` are known."""
        return self._lookup_many(values)[2]

    def positions(self, values: Any) -> np.ndarray:
        """(n,) int64 dense positions of external ids; raises :class:`UnknownIdError` naming the first unknown id."""
        arr, pos, known = self._lookup_many(values)
        if not known.all():
            bad = arr[~known]
            raise UnknownIdError(
                f"unknown {self.kind} id {show_id(bad[0])}"
                + (f" (and {bad.size - 1} more)" if bad.size > 1 else "")
                + f"; known {self.kind} ids: {self.describe()}"
            )
        return pos

    def describe(self) -> str:
        """A short description for messages: the range or first ids, and the count."""
        if not self.ids.size:
            return "none"
        if self.is_string:
            head = ", ".join(repr(v) for v in self.ids[:3].tolist())
            return f"{head}{', ...' if self.ids.size > 3 else ''} ({self.ids.size} in all, strings)"
        return f"{int(self.ids[0])}..{int(self.ids[-1])} ({self.ids.size} in all)"

    def union(self, other: IdIndex) -> IdIndex:
        if other.is_string != self.is_string:
            raise DataError(f"cannot combine string and integer {self.kind} ids; use one kind of id throughout")
        if self.is_string:
            return IdIndex.from_values(np.concatenate([self.ids, other.ids]), self.kind)
        return IdIndex(np.union1d(self.ids, other.ids), self.kind)

    # ---- storage ----------------------------------------------------------------------------
    def to_arrays(self, name: str) -> dict[str, np.ndarray]:
        """Arrays for a safetensors artifact: ``name`` (int64), or ``name.utf8`` + ``name.offsets`` for strings."""
        if not self.is_string:
            return {name: self.ids}
        encoded = [v.encode() for v in self.ids.tolist()]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        offsets[1:] = np.cumsum([len(b) for b in encoded])
        return {f"{name}.utf8": np.frombuffer(b"".join(encoded) or b"\0", np.uint8), f"{name}.offsets": offsets}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], name: str, kind: str) -> IdIndex:
        """Inverse of :meth:`to_arrays`; pops the arrays it reads from ``arrays``."""
        if name in arrays:
            return cls(arrays.pop(name), kind)
        try:
            data, offsets = arrays.pop(f"{name}.utf8").tobytes(), arrays.pop(f"{name}.offsets")
        except KeyError:
            raise DataError(f"the artifact holds no {kind} ids ({name!r}); it is damaged, save it again") from None
        ids = [data[a:b].decode() for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
        return cls(np.asarray(ids, dtype=object) if ids else np.empty(0, object), kind)

    def digest(self) -> bytes:
        """Bytes that identify the ids, for fingerprints (integer ids: their int64 bytes, as always)."""
        if not self.is_string:
            return self.ids.tobytes()
        h = hashlib.sha256()
        for v in self.ids.tolist():
            b = v.encode()
            h.update(len(b).to_bytes(4, "little") + b)
        return b"str:" + h.digest()
