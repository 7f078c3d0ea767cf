"""Import a user's own interaction log (CSV or Parquet) with a column mapping.

Every value is parsed here, once, at the edge. A bad value stops the import with an error that
names the file, the row (1-based data row; the header is not counted) and the column, unless
``skip_bad_rows`` is set, in which case the rows are dropped and counted per reason. Exact
duplicates (same member, title, timestamp and event) are removed and counted. Nothing is
dropped silently.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from marquee.data.catalog import Catalog
from marquee.data.dataset import Dataset
from marquee.data.ids import MAX_ID_LENGTH, IdIndex
from marquee.data.interactions import Interactions
from marquee.errors import DataError

__all__ = ["ID_KINDS", "ColumnMapping", "ImportReport", "import_log", "read_log"]

#: How id columns are read: ``auto`` (integers when every value is one, else text), ``int`` or ``string``.
ID_KINDS = ("auto", "int", "string")

_INT = r"^\s*-?\d+\s*$"
#: An integer as an id column must spell it to be read as one under ``--ids auto``: no leading zeros
#: ("007" and "7" are different ids), so nothing is merged by reading text as numbers.
_CANONICAL_INT = r"^\s*-?(0|[1-9]\d*)\s*$"
_INT64_MAX = "9223372036854775807"
_FLOAT = r"^\s*-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column holds each field. ``None`` means the source lacks that field."""

    member_id: str = "member_id"
    title_id: str = "title_id"
    timestamp: str = "timestamp"
    event: str | None = None
    rating: str | None = None
    device: str | None = None
    local_hour: str | None = None
    completion: str | None = None

    def columns(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and dropped, and why."""

    source: str
    rows_read: int
    rows_kept: int
    duplicates: int
    dropped: dict[str, int] = field(default_factory=dict)
    examples: tuple[str, ...] = ()
    #: How each id column was read ("int" or "string"), and why when ``auto`` chose text.
    id_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def rows_dropped(self) -> int:
        return sum(self.dropped.values())


class _Problems:
    """Bad rows found so far: the first one raises, unless bad rows are to be skipped."""

    def __init__(self, source: str, n: int, skip: bool) -> None:
        self.source, self.skip = source, skip
        self.bad = np.zeros(n, bool)
        self.reasons: Counter[str] = Counter()
        self.examples: list[str] = []

    def flag(self, mask: np.ndarray, column: str, what: str, values: pa.ChunkedArray | np.ndarray) -> None:
        mask = np.asarray(mask, bool) & ~self.bad
        if not mask.any():
            return
        row = int(np.argmax(mask))
        value = values[row]
        value = value.as_py() if hasattr(value, "as_py") else value
        if not self.skip:
            raise DataError(
                f"{what}, got {value!r} (pass skip_bad_rows / --skip-bad-rows to drop such rows and count them)",
                source=self.source,
                row=row + 1,
                column=column,
            )
        self.reasons[f"{column}: {what}"] += int(mask.sum())
        if len(self.examples) < 5:
            self.examples.append(f"row {row + 1}, column {column!r}: {what}, got {value!r}")
        self.bad |= mask


def _read(path: Path, wanted: list[str]) -> pa.Table:
    if not path.is_file():
        raise DataError("file does not exist", source=str(path))
    if path.stat().st_size == 0:
        raise DataError("the file is empty", source=str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            # Read every column as text: parsing (and its errors) is ours, with row numbers.
            opts = pacsv.ConvertOptions(
                column_types={c: pa.string() for c in wanted}, strings_can_be_null=True, quoted_strings_can_be_null=True
            )
            table = pacsv.read_csv(path, convert_options=opts)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot be read as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: {exc}", source=str(path)) from None
    missing = [c for c in wanted if c not in table.column_names]
    if missing:
        raise DataError(f"missing column; the file has {table.column_names}", source=str(path), column=missing[0])
    if table.num_rows == 0:
        raise DataError("the file has a header but no data rows", source=str(path))
    return table


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    return col if pa.types.is_string(col.type) or pa.types.is_large_string(col.type) else col.cast(pa.string())


def _parse_numeric(col: pa.ChunkedArray, name: str, problems: _Problems, *, integer: bool, required: bool) -> pa.Array:
    target = pa.int64() if integer else pa.float64()
    if pa.types.is_integer(col.type) or (not integer and pa.types.is_floating(col.type)):
        if col.type == pa.uint64():  # the one integer type that can exceed int64
            big = pc.fill_null(pc.greater(col, pa.scalar(2**63 - 1, pa.uint64())), False).to_numpy(zero_copy_only=False)
            problems.flag(big, name, "integer outside -2**63..2**63-1", col)
            col = pc.if_else(pa.array(big), pa.scalar(None, pa.uint64()), col)
        parsed = col.cast(target)
    else:
        text = _as_text(col)
        empty = pc.or_kleene(pc.is_null(text), pc.equal(pc.utf8_trim_whitespace(text), "")).to_numpy(zero_copy_only=False)
        matched = pc.match_substring_regex(text, _INT if integer else _FLOAT)
        ok = pc.fill_null(matched, False).to_numpy(zero_copy_only=False)
        if required:
            problems.flag(empty, name, "value is missing", text)
        problems.flag(~ok & ~empty, name, f"not {'an integer' if integer else 'a number'}", text)
        if integer:
            problems.flag(ok & ~empty & _beyond_int64(text), name, "integer outside -2**63..2**63-1", text)
        good = ok & ~empty & (~_beyond_int64(text) if integer else True)
        clean = pc.if_else(pa.array(good), pc.utf8_trim_whitespace(text), pa.scalar(None, pa.string()))
        parsed = clean.cast(target)
    if required:
        problems.flag(pc.is_null(parsed).to_numpy(zero_copy_only=False), name, "value is missing", parsed)
    return parsed


def _parse_timestamp(col: pa.ChunkedArray, name: str, problems: _Problems, fmt: str | None, unit: str) -> pa.Array:
    if pa.types.is_timestamp(col.type):
        return col.cast(pa.timestamp("s", tz="UTC") if col.type.tz else pa.timestamp("s")).cast(pa.int64())
    if pa.types.is_integer(col.type) and fmt is None:
        values = col.cast(pa.int64())
        problems.flag(pc.is_null(values).to_numpy(zero_copy_only=False), name, "value is missing", values)
        return pc.divide(values, 1000) if unit == "ms" else values
    text = _as_text(col)
    empty = pc.or_kleene(pc.is_null(text), pc.equal(pc.utf8_trim_whitespace(text), "")).to_numpy(zero_copy_only=False)
    problems.flag(empty, name, "value is missing", text)
    values = text.to_pylist()
    out = np.zeros(len(values), np.int64)
    bad = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        if v is None or not v.strip():
            continue
        v = v.strip()
        try:
            if fmt is not None:
                dt = datetime.strptime(v, fmt)
            elif v.lstrip("-").isdigit():
                out[i] = int(v) // (1000 if unit == "ms" else 1)
                continue
            else:
                dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
            # Naive timestamps are read as UTC whatever the machine's zone, so a file imports
            # the same way everywhere.
            out[i] = int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())
        except ValueError:
            bad[i] = True
    expected = f"format {fmt!r}" if fmt else "unix seconds or ISO-8601"
    problems.flag(bad, name, f"not a timestamp ({expected})", text)
    return pa.array(out)


def read_log(
    path: str | os.PathLike[str],
    mapping: ColumnMapping | None = None,
    *,
    timestamp_format: str | None = None,
    timestamp_unit: str = "s",
    skip_bad_rows: bool = False,
    ids: str = "auto",
) -> tuple[pa.Table, ImportReport]:
    """Parse a CSV or Parquet log into a table with Marquee's column names, and a report.

    Args:
        path: the file; ``.parquet``/``.pq`` is read as Parquet, anything else as CSV with a header.
        mapping: source column names (defaults: ``member_id``, ``title_id``, ``timestamp``).
        timestamp_format: a ``strptime`` format for text timestamps; default accepts unix seconds
            and ISO-8601 (naive values are UTC).
        timestamp_unit: ``"s"`` or ``"ms"`` for numeric timestamps.
        skip_bad_rows: drop and count bad rows instead of stopping at the first.
        ids: how to read the id columns, one of :data:`ID_KINDS`: ``auto`` reads a column as
            integers when every value is one and as text otherwise (``"tt0111161"``, UUIDs);
            the report says which it chose and why.
    """
    mapping = mapping or ColumnMapping()
    if ids not in ID_KINDS:
        raise DataError(f"ids must be one of {ID_KINDS}, got {ids!r}")
    if timestamp_unit not in ("s", "ms"):
        raise DataError(f"timestamp_unit must be 's' or 'ms', got {timestamp_unit!r}")
    p = Path(path)
    cols = mapping.columns()
    raw = _read(p, list(cols.values()))
    problems = _Problems(str(p), raw.num_rows, skip_bad_rows)
    out: dict[str, pa.Array | pa.ChunkedArray] = {}
    id_kinds: dict[str, str] = {}
    for field_name in ("member_id", "title_id"):
        src = cols[field_name]
        kind, why = _id_kind(raw.column(src), ids)
        id_kinds[field_name] = kind + (f" ({why})" if why else "")
        if kind == "string":
            out[field_name] = _parse_text_ids(raw.column(src), src, problems)
            continue
        parsed = _parse_numeric(raw.column(src), src, problems, integer=True, required=True)
        neg = pc.fill_null(pc.less(parsed, 0), False).to_numpy(zero_copy_only=False)
        problems.flag(neg, src, "ids must be non-negative", parsed)
        out[field_name] = parsed
    out["timestamp"] = _parse_timestamp(raw.column(cols["timestamp"]), cols["timestamp"], problems, timestamp_format, timestamp_unit)
    for field_name, integer in (("rating", False), ("local_hour", True), ("completion", False)):
        if field_name in cols:
            out[field_name] = _parse_numeric(raw.column(cols[field_name]), cols[field_name], problems, integer=integer, required=False)
    if "local_hour" in out:
        h = out["local_hour"]
        problems.flag(pc.fill_null(pc.or_(pc.less(h, 0), pc.greater(h, 23)), False).to_numpy(zero_copy_only=False), cols["local_hour"], "hour must lie in 0..23", h)
    if "completion" in out:
        c = out["completion"]
        problems.flag(pc.fill_null(pc.or_(pc.less(c, 0), pc.greater(c, 1)), False).to_numpy(zero_copy_only=False), cols["completion"], "completion must lie in [0, 1]", c)
    for field_name in ("event", "device"):
        if field_name in cols:
            out[field_name] = _as_text(raw.column(cols[field_name]))
    table = pa.table({k: (v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v) for k, v in out.items()})
    if problems.bad.any():
        table = table.filter(pa.array(~problems.bad))
    if table.num_rows == 0:
        raise DataError("every row was dropped as bad; see the reasons above", source=str(p))
    if "event" not in table.column_names:
        table = table.append_column("event", pa.array(["interaction"] * table.num_rows))
    before = table.num_rows
    keys = ["member_id", "title_id", "timestamp", "event"]
    table = table.group_by(keys, use_threads=False).aggregate([(c, "first") for c in table.column_names if c not in keys])
    table = table.rename_columns([c.removesuffix("_first") for c in table.column_names])
    report = ImportReport(
        str(p), raw.num_rows, table.num_rows, before - table.num_rows, dict(problems.reasons), tuple(problems.examples), id_kinds
    )
    return table, report


def _id_kind(col: pa.ChunkedArray, requested: str) -> tuple[str, str]:
    """``("int" | "string", why)`` for an id column under ``requested`` (see :data:`ID_KINDS`)."""
    if requested != "auto":
        return requested, ""
    if pa.types.is_integer(col.type):
        return "int", ""
    text = _as_text(col)
    present = pc.drop_null(pc.utf8_trim_whitespace(text))
    present = pc.filter(present, pc.not_equal(present, ""))
    ok = pc.match_substring_regex(present, _CANONICAL_INT).to_numpy(zero_copy_only=False) & ~_beyond_int64(present)
    if ok.all():
        return "int", ""
    first = present[int(np.argmin(ok))].as_py()
    return "string", f"values such as {first!r} are not canonical 64-bit integers; pass --ids int to require integer ids"


def _beyond_int64(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(n,) bool: integer text whose magnitude exceeds int64 (which a cast would refuse with a traceback)."""
    digits = pc.utf8_ltrim(pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"^-", ""), characters="0")
    length = pc.fill_null(pc.utf8_length(digits), 0).to_numpy(zero_copy_only=False)
    same = pc.fill_null(pc.greater(digits, _INT64_MAX), False).to_numpy(zero_copy_only=False)
    return (length > len(_INT64_MAX)) | ((length == len(_INT64_MAX)) & same)


def _parse_text_ids(col: pa.ChunkedArray, name: str, problems: _Problems) -> pa.ChunkedArray:
    text = pc.utf8_trim_whitespace(_as_text(col))
    lengths = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
    problems.flag(lengths == 0, name, "value is missing", text)
    problems.flag(lengths > MAX_ID_LENGTH, name, f"ids must be at most {MAX_ID_LENGTH} bytes", text)
    return text


def import_log(
    path: str | os.PathLike[str],
    name: str,
    mapping: ColumnMapping | None = None,
    *,
    timestamp_format: str | None = None,
    timestamp_unit: str = "s",
    skip_bad_rows: bool = False,
    ids: str = "auto",
) -> tuple[Dataset, ImportReport]:
    """Read a log with :func:`read_log` and build a :class:`Dataset` named ``name``.

    The catalog is the set of titles in the log. The dataset is returned, not stored: call
    ``dataset.save(dataset_dir(name))``, which replaces an existing one only when complete.
    """
    if not name or "/" in name or name.startswith("."):
        raise DataError(f"dataset name must be a plain, non-empty name, got {name!r}")
    table, report = read_log(
        path, mapping, timestamp_format=timestamp_format, timestamp_unit=timestamp_unit, skip_bad_rows=skip_bad_rows, ids=ids
    )
    catalog = Catalog.from_arrays(IdIndex.from_values(table.column("title_id"), "title").ids)
    interactions = Interactions.from_table(table, catalog=catalog, source=str(path))
    info = {"source": str(Path(path).resolve()), "rows_read": report.rows_read, "duplicates": report.duplicates, "dropped": report.dropped}
    return Dataset(name, interactions, catalog, None, info), report
