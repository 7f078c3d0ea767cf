"""Survival tables: one row per member, how long they were observed, whether they left, and their covariates.

:class:`SurvivalTable` is the value type every churn model takes. Loose input (an Arrow table, a CSV or Parquet
file) is checked once, here: a negative or non-numeric duration, an event flag that is not 0/1, or a missing
covariate is refused with one line naming the table, the row (1-based) and the column. :class:`Covariates` is the
encoding a model learns at ``fit`` (numeric columns as they are, text columns one-hot on the categories seen in
training) and applies unchanged at scoring time, so a covariate missing or a category unseen at scoring time is an
error there too, never a silently different model input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from marquee.errors import DataError

__all__ = ["Covariates", "SurvivalTable", "event_column", "numeric_column", "read_table"]


def read_table(path: str | Path) -> pa.Table:
    """Read a CSV or Parquet file into an Arrow table (``DataError`` naming the file if it cannot be read)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file; pass the path of a CSV or Parquet table", source=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pacsv

        return pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot be read as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: "
                        f"{str(exc).splitlines()[0]}", source=str(path)) from None  # fmt: skip


def _first_bad(mask: np.ndarray) -> int:
    """1-based row of the first True in ``mask``."""
    return int(np.flatnonzero(mask)[0]) + 1


def _column(table: pa.Table, name: str, source: str) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise DataError(
            f"has no column {name!r} (columns: {', '.join(table.column_names)})", source=source, column=name
        )
    return table.column(name)


def _refuse_nulls(col: pa.ChunkedArray, name: str, source: str, message: str) -> None:
    """A null in ``col`` is a :class:`DataError` naming its first row."""
    if col.null_count:
        row = _first_bad(np.asarray(col.is_null().to_numpy(zero_copy_only=False)))
        raise DataError(message, source=source, row=row, column=name)


def numeric_column(col: pa.ChunkedArray, name: str, source: str) -> np.ndarray:
    """(n,) float64 of a numeric column; a null or non-numeric value is an error naming its row."""
    _refuse_nulls(col, name, source, "is missing; fill it or drop the row before fitting or scoring")
    if pa.types.is_boolean(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False), np.float64)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
        values = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    else:
        text = np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        values = np.empty(text.size)
        for i, v in enumerate(text):
            try:
                values[i] = float(v)
            except (TypeError, ValueError):
                raise DataError(f"is {v!r}, not a number", source=source, row=i + 1, column=name) from None
    if not np.isfinite(values).all():
        raise DataError("is not a finite number", source=source, row=_first_bad(~np.isfinite(values)), column=name)
    return values


@dataclass(frozen=True)
class Covariates:
    """The encoding of a table's covariates into a model's design matrix, learned once from training data.

    Attributes:
        columns: the input columns, in order.
        categories: per column, the sorted categories of a text column (one-hot, the first one dropped as the
            reference level) or ``None`` for a numeric column.
    """

    columns: tuple[str, ...]
    categories: tuple[tuple[str, ...] | None, ...]

    @classmethod
    def learn(cls, table: pa.Table, columns: Sequence[str], *, source: str = "<table>") -> Covariates:
        cats: list[tuple[str, ...] | None] = []
        for name in columns:
            col = _column(table, name, source)
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_dictionary(col.type):
                col = col.cast(pa.string())
                _refuse_nulls(col, name, source, "is missing; fill it or drop the row")
                cats.append(tuple(sorted(pc.unique(col).to_pylist())))
            else:
                numeric_column(col, name, source)
                cats.append(None)
        return cls(tuple(columns), tuple(cats))

    @property
    def names(self) -> tuple[str, ...]:
        """The design matrix's column names (``column=category`` for one-hot columns)."""
        out: list[str] = []
        for name, cats in zip(self.columns, self.categories, strict=True):
            out.extend([name] if cats is None else [f"{name}={c}" for c in cats[1:]])
        return tuple(out)

    @property
    def numeric(self) -> np.ndarray:
        """(p,) bool: which design columns are numeric (not one-hot indicators)."""
        flags: list[bool] = []
        for cats in self.categories:
            flags.extend([True] if cats is None else [False] * (len(cats) - 1))
        return np.asarray(flags, bool)

    def encode(self, table: pa.Table, *, source: str = "<table>") -> np.ndarray:
        """(n, p) float64 design matrix of ``table``; a missing column or value, or an unseen category, is an error."""
        parts: list[np.ndarray] = []
        for name, cats in zip(self.columns, self.categories, strict=True):
            col = _column(table, name, source)
            if cats is None:
                parts.append(numeric_column(col, name, source)[:, None])
                continue
            _refuse_nulls(col, name, source, "is missing; fill it or drop the row before scoring")
            text = np.asarray(col.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
            code = np.searchsorted(np.asarray(cats, dtype=object), text)
            code = np.minimum(code, len(cats) - 1)
            unseen = np.asarray(cats, dtype=object)[code] != text
            if unseen.any():
                i = _first_bad(unseen)
                known = ", ".join(cats[:10]) + (f", ... ({len(cats)} in all)" if len(cats) > 10 else "")
                raise DataError(f"is {text[i - 1]!r}, a category the model never saw (known: {known})",
                                source=source, row=i, column=name)  # fmt: skip
            onehot = np.zeros((len(text), len(cats) - 1))
            rows = np.flatnonzero(code > 0)
            onehot[rows, code[rows] - 1] = 1.0
            parts.append(onehot)
        return np.hstack(parts) if parts else np.zeros((table.num_rows, 0))

    def to_dict(self) -> dict[str, object]:
        return {"columns": list(self.columns), "categories": [None if c is None else list(c) for c in self.categories]}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Covariates:
        cols = tuple(str(c) for c in data["columns"])  # type: ignore[union-attr]
        cats = tuple(None if c is None else tuple(str(x) for x in c) for c in data["categories"])  # type: ignore[union-attr]
        return cls(cols, cats)


@dataclass(frozen=True)
class SurvivalTable:
    """Members with their observed duration, whether they left, and the covariates models read.

    Attributes:
        table: the Arrow table (every column, covariates included, as given).
        duration: (n,) float64 time observed, in periods (e.g. billing months); >= 0.
        event: (n,) int8, 1 = the member left at ``duration``, 0 = still subscribed (censored) then.
        covariates: the covariate column names.
        source: where the table came from (a path or ``"<name>"``), used in error messages.
    """

    table: pa.Table
    duration: np.ndarray
    event: np.ndarray
    covariates: tuple[str, ...]
    source: str = "<table>"

    @classmethod
    def from_arrow(
        cls,
        table: pa.Table,
        *,
        duration: str = "duration",
        event: str = "event",
        covariates: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        source: str = "<table>",
    ) -> SurvivalTable:
        """Check and wrap an Arrow table.

        Args:
            duration: the column of observed durations (numbers >= 0).
            event: the column of event flags (0/1, or true/false, or "Yes"/"No").
            covariates: the covariate columns (default: every other column not in ``exclude``).
            exclude: columns that are not covariates (ids, dates).
        """
        dur = numeric_column(_column(table, duration, source), duration, source)
        if (dur < 0).any():
            i = _first_bad(dur < 0)
            raise DataError(f"is {dur[i - 1]:g}, a negative duration; durations are time observed, >= 0",
                            source=source, row=i, column=duration)  # fmt: skip
        ev = event_column(_column(table, event, source), event, source)
        if covariates is None:
            covariates = [c for c in table.column_names if c not in {duration, event, *exclude}]
        for name in covariates:
            _column(table, name, source)
        return cls(table, dur, ev, tuple(covariates), source)

    def __len__(self) -> int:
        return int(self.duration.size)

    def take(self, rows: np.ndarray) -> SurvivalTable:
        """The table restricted to (or resampled at) ``rows``."""
        rows = np.asarray(rows, np.int64)
        return SurvivalTable(self.table.take(pa.array(rows)), self.duration[rows], self.event[rows], self.covariates,
                             self.source)  # fmt: skip

    def learn_covariates(self) -> Covariates:
        return Covariates.learn(self.table, self.covariates, source=self.source)


_TRUE = {"1", "1.0", "true", "yes", "y"}
_FALSE = {"0", "0.0", "false", "no", "n"}


def event_column(col: pa.ChunkedArray, name: str, source: str) -> np.ndarray:
    """(n,) int8 0/1 event flags; anything else is an error naming its row."""
    _refuse_nulls(col, name, source, "is missing; an event flag is 1 (left) or 0 (still subscribed)")
    if pa.types.is_boolean(col.type):
        return np.asarray(col.to_numpy(zero_copy_only=False), np.int8)
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        v = np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False))
        bad = (v != 0) & (v != 1)
        if bad.any():
            i = _first_bad(bad)
            raise DataError(f"is {v[i - 1]:g}; an event flag is 1 (left) or 0 (still subscribed)", source=source,
                            row=i, column=name)  # fmt: skip
        return v.astype(np.int8)
    text = [str(x).strip().lower() for x in col.cast(pa.string()).to_pylist()]
    out = np.empty(len(text), np.int8)
    for i, t in enumerate(text):
        if t in _TRUE:
            out[i] = 1
        elif t in _FALSE:
            out[i] = 0
        else:
            raise DataError(f"is {t!r}; an event flag is 1/0, true/false or yes/no", source=source, row=i + 1,
                            column=name)  # fmt: skip
    return out
