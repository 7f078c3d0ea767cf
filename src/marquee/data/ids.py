"""Dense indexing of external ids (member ids, title ids)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.errors import DataError, UnknownIdError

__all__ = ["IdIndex"]


@dataclass(frozen=True, eq=False)
class IdIndex:
    """A sorted set of external integer ids and their dense positions ``0..n-1``.

    Models work on dense positions; users speak external ids. Because ``ids`` is sorted, the
    position order equals the id order, so a table sorted by id is also sorted by position.

    Attributes:
        ids: (n,) int64, strictly increasing.
        kind: what the ids name ("member" or "title"), used in error messages.
    """

    ids: np.ndarray
    kind: str = "id"

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=np.int64)
        if ids.ndim != 1:
            raise DataError(f"{self.kind} ids must be one-dimensional, got shape {ids.shape}")
        if ids.size and np.any(np.diff(ids) <= 0):
            raise DataError(f"{self.kind} ids must be strictly increasing; build with IdIndex.from_values")
        ids.setflags(write=False)
        object.__setattr__(self, "ids", ids)
        # Ids that run without gaps (1..n, as most catalogs number them) map to positions by one
        # subtraction: the serving path looks up a member per request.
        contiguous = ids.size > 0 and int(ids[-1]) - int(ids[0]) + 1 == ids.size
        object.__setattr__(self, "_first", int(ids[0]) if contiguous else None)

    @classmethod
    def from_values(cls, values: np.ndarray, kind: str = "id") -> IdIndex:
        """Index the distinct values of ``values``."""
        return cls(np.unique(np.asarray(values, dtype=np.int64)), kind)

    def __len__(self) -> int:
        return int(self.ids.size)

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | np.integer) and self.position(int(value)) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdIndex) and np.array_equal(self.ids, other.ids)

    __hash__ = None  # type: ignore[assignment]

    def position(self, value: int) -> int | None:
        """Dense position of one external id, or ``None`` if unknown (one lookup, for hot paths)."""
        if self._first is not None:
            i = value - self._first
            return i if 0 <= i < self.ids.size else None
        i = int(self.ids.searchsorted(value))
        return i if i < self.ids.size and self.ids[i] == value else None

    def contains(self, values: np.ndarray) -> np.ndarray:
        """(n,) bool: which of ``values`` are known."""
        values = np.asarray(values, dtype=np.int64)
        pos = np.searchsorted(self.ids, values).clip(max=max(self.ids.size - 1, 0))
        return (self.ids.size > 0) & (self.ids[pos] == values) if self.ids.size else np.zeros(values.shape, bool)

    def positions(self, values: np.ndarray | list[int] | int) -> np.ndarray:
        """Dense positions of external ids; raises :class:`UnknownIdError` naming the first unknown id."""
        values = np.atleast_1d(np.asarray(values, dtype=np.int64))
        known = self.contains(values)
        if not known.all():
            bad = values[~known]
            raise UnknownIdError(
                f"unknown {self.kind} id {int(bad[0])}"
                + (f" (and {bad.size - 1} more)" if bad.size > 1 else "")
                + f"; known {self.kind} ids range {self.ids.min() if self.ids.size else '-'}"
                f"..{self.ids.max() if self.ids.size else '-'} ({self.ids.size} in all)"
            )
        return np.searchsorted(self.ids, values)

    def union(self, other: IdIndex) -> IdIndex:
        return IdIndex(np.union1d(self.ids, other.ids), self.kind)
