"""Exposure and event tables in, per-variant daily sufficient statistics out — with DuckDB.

Tables are Parquet (read by DuckDB in place) or CSV/TSV (read by pyarrow as text, then typed by
the role each column plays: a value must parse as a number, a timestamp as a date/time or as unix
seconds, member ids as integers where the other tables hold integers). Event tables are *long*
(one row per event: member, event name, value, time) or *wide* (one row per member and time, one
numeric column per measure; unpivoted here into the long form, rows whose measure is 0 dropped).

Input is checked once, here, whatever its format: a missing column, a column of the wrong type, a
missing or unparsable value or an unknown variant stops the analysis with an error naming the
file, the row (1-based data row within that file, the header not counted) and the column. Then
one pass of SQL turns tens of millions of rows into a few numbers per variant and day:

* a member enters on the day of their first exposure (members exposed to two variants are
  excluded and counted); their metric is the aggregate of their events from that moment to the
  end of the window (members without events count as 0);
* for every look ``d`` (end of day ``d``) the statistics are those of each member's cumulative
  value up to then. A member's cumulative value only changes on days with events, so the sums of
  values, squares and cross products are accumulated from per-member, per-day *changes*
  (``c_d² - c_{d-1}²`` …): one window over (member, day) rows instead of one pass per day;
* CUPED covariates are the same metrics over ``pre_period_days`` before the first exposure, or
  the columns of a covariate table (one row per member; members without a row count as 0).
"""

from __future__ import annotations

import csv
import functools
import glob
import gzip
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marquee.errors import DataError
from marquee.experiment.analysis import MeanStats, RatioStats, Statistic
from marquee.experiment.config import ExperimentConfig, Metric
from marquee.experiment.cuped import AdjustedStats

if TYPE_CHECKING:
    import duckdb

__all__ = ["Totals", "aggregate"]

DAY = 86400.0
_TIME_TYPES = ("TIMESTAMP", "DATE")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_INTEGER = _NUMERIC[:10]
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_FILE, _ROW = "__marquee_file", "__marquee_row"
_HIDDEN = (_ROW, _FILE, "file_row_number")
_DIGITS = r"\s*[+-]?[0-9]+\s*"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _num(x: float) -> str:
    return repr(float(x))


@dataclass(frozen=True)
class _Source:
    """A registered view with a row locator: ``file`` and 1-based ``row`` expressions for errors."""

    view: str
    label: str
    file_expr: str
    row_expr: str
    types: dict[str, str]
    table: pa.Table | None = None
    files: tuple[str, ...] = ()
    text: str | None = None  # CSV: the view of the columns as read (text), before typing

    @property
    def csv(self) -> bool:
        return self.text is not None

    def null_free(self, column: str) -> bool:
        """True when metadata proves ``column`` has no nulls (Arrow null counts, Parquet row-group statistics)."""
        if self.table is not None:
            return self.table.column(column).null_count == 0
        return bool(self.files) and all(_parquet_nulls(f, os.stat(f).st_mtime_ns).get(column, 1) == 0 for f in self.files)


@functools.lru_cache(maxsize=1024)
def _parquet_nulls(path: str, mtime_ns: int) -> dict[str, int]:
    """Null count per top-level column from a Parquet footer; a column without statistics counts as 1 (unknown)."""
    meta = pq.read_metadata(path)
    out: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            chunk = group.column(i)
            stats = chunk.statistics
            known = stats is not None and stats.has_null_count
            out[chunk.path_in_schema] = out.get(chunk.path_in_schema, 0) + (stats.null_count if known else 1)
    return out


def _format(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


def _find(path: str, what: str) -> tuple[str, str, tuple[str, ...]]:
    """``(format, DuckDB pattern, files)`` for a file, a directory of parts or a glob."""
    p = Path(path)
    if any(ch in path for ch in "*?["):
        files = tuple(sorted(glob.glob(path, recursive=True)))
        # A glob of CSV files is read as CSV; anything else goes to DuckDB's Parquet reader, as it always has.
        return ("csv" if files and all(_format(f) == "csv" for f in files) else "parquet"), path, files
    if p.is_dir():
        if any(p.glob("*.parquet")):
            pattern = str(p / "*.parquet")
            return "parquet", pattern, tuple(sorted(glob.glob(pattern)))
        parts = tuple(sorted(str(f) for f in p.iterdir() if f.is_file() and _format(f.name) == "csv"))
        if parts:
            return "csv", path, parts
        raise DataError("the directory holds no .parquet files (nor .csv or .tsv files)", source=path)
    if p.is_file():
        kind = _format(p.name)
        if kind is None:
            raise DataError(
                f"{what} must be Parquet or CSV: a .parquet, .csv or .tsv file (.csv.gz and .tsv.gz too), a directory "
                f"of them or a glob; convert other formats with duckdb -c \"COPY (FROM '{p.name}') TO '{p.stem}.parquet'\"",
                source=path,
            )
        return kind, path, (path,)
    raise DataError("file does not exist", source=path)


def _csv_header(path: str, delimiter: str) -> list[str]:
    try:
        with (gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.lower().endswith(".gz")
              else open(path, encoding="utf-8-sig", newline="")) as fh:  # fmt: skip
            header = next(csv.reader(fh, delimiter=delimiter), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot be read as CSV: {exc}", source=path) from None
    if not header:
        raise DataError("the file is empty; a CSV table needs a header row naming its columns", source=path)
    seen: set[str] = set()
    for name in header:
        if name in seen or name in _HIDDEN:
            raise DataError("the header names this column twice" if name in seen else "a column name Marquee reserves", source=path, column=name)
        seen.add(name)
    return header


def _read_csv(path: str) -> pa.Table:
    """One CSV/TSV file, every column as text (empty = missing); a malformed row stops with its row number."""
    import pyarrow.csv as pacsv

    delimiter = "\t" if ".tsv" in Path(path).name.lower() else ","
    names = _csv_header(path, delimiter)

    def read(threads: bool) -> tuple[pa.Table, list[Any]]:
        bad: list[Any] = []

        def handler(row: Any) -> str:
            bad.append(row)
            return "skip"

        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=threads),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=handler),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )  # fmt: skip
        return table, bad

    try:
        table, bad = read(True)
        if bad:  # threads see rows out of order and without numbers: find the first one alone
            _, bad = read(False)
            row = bad[0]
            raise DataError(
                f"has {row.actual_columns} fields where the header has {row.expected_columns}",
                source=path, row=row.number - 1 if row.number is not None else None,
            )  # fmt: skip
    except pa.ArrowInvalid as exc:
        raise DataError(f"cannot be read as CSV: {exc}", source=path) from None
    return table


def _open_csv(con: duckdb.DuckDBPyConnection, view: str, label: str, files: tuple[str, ...]) -> _Source:
    parts = []
    for i, f in enumerate(files, 1):
        t = _read_csv(f)
        t = t.append_column(_FILE, pa.array(np.full(t.num_rows, i, np.int32)))
        parts.append(t.append_column(_ROW, pa.array(np.arange(1, t.num_rows + 1, dtype=np.int64))))
    table = parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="default")
    con.register(f"{view}_text", table)
    con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {view}_text")
    file_expr = _lit(files[0]) if len(files) == 1 else f"[{', '.join(_lit(f) for f in files)}][{_FILE}]"
    types = {n: "VARCHAR" for n in table.column_names if n not in _HIDDEN}
    return _Source(view, label, file_expr, _ROW, types, table, files, text=f"{view}_text")


def _open(con: duckdb.DuckDBPyConnection, view: str, path: str | None, table: pa.Table | None, what: str) -> _Source:
    if table is not None:
        if not isinstance(table, pa.Table):
            raise DataError(f"{what} must be a pyarrow.Table, got {type(table).__name__}", source=f"<{what} table>")
        con.register(f"{view}_arrow", table.append_column(_ROW, pa.array(np.arange(1, table.num_rows + 1))))
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {view}_arrow")
        label, file_expr, row_expr = f"<{what} table>", _lit(f"<{what} table>"), _ROW
        files: tuple[str, ...] = ()
    else:
        if path is None:
            raise DataError(f"no {what} table: set [{what}].path in the config or pass the table", source="config")
        kind, pattern, files = _find(path, what)
        if kind == "csv":
            return _open_csv(con, view, path, files)
        try:
            con.execute(
                f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet({_lit(pattern)}, file_row_number = true, filename = '{_FILE}')"
            )
        except Exception as exc:  # duckdb raises its own hierarchy; the file is what matters
            raise DataError(f"cannot be read as Parquet: {exc}", source=path) from None
        label, file_expr, row_expr = path, _FILE, "file_row_number + 1"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    except Exception as exc:
        raise DataError(f"cannot be read as Parquet: {exc}", source=label) from None
    types = {row[0]: str(row[1]) for row in described if row[0] not in _HIDDEN}
    return _Source(view, label, file_expr, row_expr, types, table, files)


# -- CSV: every column arrives as text and is typed by the role it plays -------------------------


def _csv_first(con: duckdb.DuckDBPyConnection, src: _Source, column: str, condition: str, message: str, where: str = "TRUE") -> None:
    """Raise for the first row (file order) whose text in ``column`` meets ``condition``."""
    _first_bad(con, replace(src, view=src.text), [(condition, column, message, _ident(column))], where)  # type: ignore[arg-type]


def _csv_all(con: duckdb.DuckDBPyConnection, src: _Source, conditions: dict[str, str]) -> dict[str, bool]:
    """For each named condition, whether every row meets it (one pass over the text)."""
    if not conditions:
        return {}
    row = con.execute(f"SELECT {', '.join(f'coalesce(bool_and({c}), true)' for c in conditions.values())} FROM {src.text}").fetchone()
    return dict(zip(conditions, row or (), strict=True))


def _parses(column: str, kind: str) -> str:
    c = _ident(column)
    if kind == "integer":
        return f"({c} IS NULL OR (regexp_full_match({c}, '{_DIGITS}') AND TRY_CAST({c} AS BIGINT) IS NOT NULL))"
    if kind == "time":
        return f"({c} IS NULL OR coalesce(isfinite(TRY_CAST({c} AS TIMESTAMPTZ)), false))"
    return f"({c} IS NULL OR TRY_CAST({c} AS DOUBLE) IS NOT NULL)"


def _type_csv(con: duckdb.DuckDBPyConnection, src: _Source, kinds: dict[str, str]) -> _Source:
    """Re-create the source's view with ``kinds`` (column -> SQL type); other columns stay text."""
    cols = []
    for name in src.types:
        kind = kinds.get(name, "VARCHAR")
        if kind == "VARCHAR":
            cols.append(_ident(name))
        elif kind == "DOUBLE":  # validated where it matters; text elsewhere (a non-summed event's value) reads as missing
            cols.append(f"TRY_CAST({_ident(name)} AS DOUBLE) AS {_ident(name)}")
        else:
            cols.append(f"CAST({_ident(name)} AS {kind}) AS {_ident(name)}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {src.view} AS SELECT {', '.join(cols)}, {_ROW}, {_FILE} FROM {src.text}")
    return replace(src, types=src.types | kinds)


def _csv_time(con: duckdb.DuckDBPyConnection, src: _Source, column: str) -> str:
    """Unix seconds (DOUBLE) when every value is a number, else date/times (TIMESTAMPTZ, naive = UTC)."""
    ok = _csv_all(con, src, {"number": _parses(column, "number"), "time": _parses(column, "time")})
    if ok["number"]:
        return "DOUBLE"
    if ok["time"]:
        return "TIMESTAMPTZ"
    c = _ident(column)
    _csv_first(con, src, column, f"NOT {_parses(column, 'number')} AND NOT {_parses(column, 'time')}",
               "timestamp is neither a date/time nor unix seconds, got {value!r}")  # fmt: skip
    first = con.execute(f"SELECT TRY_CAST({c} AS DOUBLE) IS NOT NULL FROM {src.text} WHERE {c} IS NOT NULL ORDER BY {_FILE}, {_ROW} LIMIT 1").fetchone()
    numeric_first = bool(first and first[0])
    _csv_first(
        con, src, column, f"NOT {_parses(column, 'number' if numeric_first else 'time')}",
        "timestamp is a " + ("date/time where earlier rows hold unix seconds" if numeric_first else "number where earlier rows hold date/times")
        + "; use one kind, got {value!r}",
    )  # fmt: skip
    return "VARCHAR"  # unreachable: one of the two checks raised


def _type_inputs(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, xs: _Source, es: _Source, cs: _Source | None
) -> tuple[_Source, _Source, _Source | None]:
    """Give CSV sources the types their roles need, checking every value they read; Parquet passes through."""
    sources = [s for s in (xs, es, cs) if s is not None]
    if not any(s.csv for s in sources):
        return xs, es, cs
    xt, et, ct = config.exposures, config.events, config.covariates
    plain = [m for m in config.metrics if not m.is_ratio]
    # Member ids: integers or text, the same in every table; a CSV column follows the typed tables.
    members = [(xs, xt.member_id, "exposures"), (es, et.member_id, "events")] + ([(cs, ct.member_id, "covariates")] if cs else [])
    fixed = [(s, _member_kind(s, col), what) for s, col, what in members if not s.csv]
    capable = {id(s): _csv_all(con, s, {"i": _parses(col, "integer")})["i"] for s, col, _ in members if s.csv and col in s.types}
    target = fixed[0][1] if fixed else ("integer" if all(capable.values()) else "text")
    kinds: dict[int, dict[str, str]] = {id(s): {} for s in sources}
    for s, col, _what in members:
        if s.csv and col in s.types:
            if target == "integer" and not capable[id(s)]:
                other = fixed[0][0].label
                _csv_first(con, s, col, f"NOT {_parses(col, 'integer')}", f"member id is not an integer, as the member ids in {other} are; got {{value!r}}")
            kinds[id(s)][col] = "BIGINT" if target == "integer" else "VARCHAR"

    def number(s: _Source, col: str, noun: str, where: str = "TRUE") -> None:
        if s.csv and col in s.types:
            _csv_first(con, s, col, f"NOT {_parses(col, 'number')}", noun + " is not a number, got {value!r}", where)
            kinds[id(s)][col] = "DOUBLE"

    for s, col in ((xs, xt.timestamp), (es, et.timestamp)):
        if s.csv and col in s.types:
            kinds[id(s)][col] = _csv_time(con, s, col)
    if et.layout == "wide":
        for col in sorted({m.column for m in plain if m.column is not None}):
            number(es, col, "value")
    elif et.value is not None and et.event in es.types:
        summed = sorted({e for m in plain if m.aggregate == "sum" for e in m.events})
        if summed:
            number(es, et.value, "value", f"{_ident(et.event)} IN ({', '.join(_lit(e) for e in summed)})")
    if cs is not None:
        for col in sorted({m.covariate for m in plain if m.covariate is not None}):
            number(cs, col, "covariate")
    typed = [_type_csv(con, s, kinds[id(s)]) if s.csv else s for s in sources]
    return typed[0], typed[1], (typed[2] if cs is not None else None)


def _floating(kind: str) -> bool:
    return kind.startswith(("FLOAT", "DOUBLE"))


def _column(src: _Source, column: str, role: str) -> str:
    if column not in src.types:
        raise DataError(f"missing {role} column; the table has {sorted(src.types)} (set the column name in the config)", source=src.label, column=column)
    return src.types[column]


def _time_expr(src: _Source, column: str) -> str:
    kind = _column(src, column, "timestamp")
    if kind.startswith(_TIME_TYPES):
        return f"epoch({_ident(column)})"
    if kind.startswith(_NUMERIC):
        return f"CAST({_ident(column)} AS DOUBLE)"
    raise DataError(f"must hold timestamps or numeric unix seconds, got {kind}", source=src.label, column=column)


def _member_kind(src: _Source, column: str) -> str:
    kind = _column(src, column, "member id")
    if kind.startswith(_INTEGER):
        return "integer"
    if kind == "VARCHAR":
        return "text"
    raise DataError(f"member ids must be integers or text, got {kind}", source=src.label, column=column)


def _first_bad(con: duckdb.DuckDBPyConnection, src: _Source, checks: list[tuple[str, str, str, str]], where: str = "TRUE") -> None:
    """Raise for the first row failing a check. ``checks``: (condition, column, message, shown value expr)."""
    if not checks:
        return
    any_bad = " OR ".join(f"({c})" for c, *_ in checks)
    which = " ".join(f"WHEN {c} THEN {i}" for i, (c, *_) in enumerate(checks))
    shown = " ".join(f"WHEN {c} THEN CAST({v} AS VARCHAR)" for c, _, _, v in checks)
    row = con.execute(
        f"SELECT {src.file_expr}, {src.row_expr}, CASE {which} END, CASE {shown} END FROM {src.view} "
        f"WHERE ({where}) AND ({any_bad}) ORDER BY 1, 2 LIMIT 1"
    ).fetchone()
    if row is not None:
        file, line, i, value = row
        _, column, message, _ = checks[i]
        raise DataError(message.format(value=value), source=file, row=int(line), column=column)


@dataclass(frozen=True)
class Totals:
    """Per variant and day, the cumulative sufficient statistics of every metric (arrays ``(V, D)``).

    Day ``d`` covers ``[start + d·86400, start + (d+1)·86400)``; statistics at index ``d`` are those
    of a look at the end of that day.
    """

    variants: tuple[str, ...]
    start: float
    end: float
    n: np.ndarray
    sums: dict[tuple[str, ...], np.ndarray]
    excluded_members: int = 0
    outside_window: int = 0
    nonzero_rows: dict[str, int] = field(default_factory=dict)
    covariate_missing: int = 0  # analysed members without a row in the covariate table

    @property
    def n_days(self) -> int:
        return int(self.n.shape[1])

    def members(self, day: int = -1) -> dict[str, int]:
        return {v: int(self.n[i, day]) for i, v in enumerate(self.variants)}

    def statistic(self, metric: Metric, variant: str, day: int | None = -1, *, cuped: bool = True) -> Statistic:
        """The metric's statistic for one variant at ``day`` (``None``: arrays over every day).

        A CUPED metric's is :class:`AdjustedStats` unless ``cuped=False`` (then its plain statistic).
        """
        i = self.variants.index(variant)
        sl: Any = slice(None) if day is None else day

        def get(*key: str) -> Any:
            x = self.sums[key][i, sl]
            return x if day is None else float(x)

        n = get("n")
        if metric.is_ratio:
            num, den = metric.numerator, metric.denominator
            return RatioStats(MeanStats(n, get("s", num), get("q", num)), MeanStats(n, get("s", den), get("q", den)), get("c", num, den))  # type: ignore[arg-type]
        name = metric.name
        post = MeanStats(n, get("s", name), get("q", name))
        if metric.cuped and cuped:
            return AdjustedStats(post, MeanStats(n, get("x", name), get("xx", name)), get("xy", name))
        return post

    def covariate_variance(self, metric: Metric) -> float:
        """Sample variance of a CUPED metric's covariate over every analysed member (0: nothing to adjust with)."""
        n, x, xx = (float(self.sums[k][:, -1].sum()) for k in (("n",), ("x", metric.name), ("xx", metric.name)))
        if n < 2:
            return 0.0
        spread = xx - x * x / n
        return max(spread, 0.0) / (n - 1) if spread > 1e-12 * max(xx, 1e-300) else 0.0


def _agg(metric: Metric, value: str = "value") -> str:
    events = ", ".join(_lit(e) for e in metric.sources)
    if metric.aggregate == "sum":
        return f"CAST(coalesce(sum({value}) FILTER (WHERE event IN ({events})), 0) AS DOUBLE)"
    return f"CAST(count(*) FILTER (WHERE event IN ({events})) AS DOUBLE)"


def aggregate(
    config: ExperimentConfig,
    *,
    exposures: pa.Table | None = None,
    events: pa.Table | None = None,
    covariates: pa.Table | None = None,
    threads: int | None = None,
) -> Totals:
    """Check the tables and reduce them to :class:`Totals` (see the module docstring).

    Args:
        config: the plan; its tables' paths are read unless ``exposures``/``events``/``covariates`` are given.
        exposures, events, covariates: in-memory Arrow tables with the configured column names
            (``covariates`` is read only when a metric names a covariate).
        threads: DuckDB threads (default: every core).
    """
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")  # a CSV's date/times without an offset are UTC, as in the config
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    try:
        return _aggregate(con, config, exposures, events, covariates)
    finally:
        con.close()


@dataclass(frozen=True)
class _Columns:
    """SQL expressions for the checked input columns, in Marquee's terms (wide tables: no event/value)."""

    x_member: str
    x_variant: str
    x_ts: str
    x_filter: str
    e_member: str
    e_event: str
    e_ts: str
    e_value: str
    used: str
    wide: tuple[str, ...] = ()  # a wide table's measure columns that metrics read


def _same_members(xs: _Source, x_col: str, other: _Source, o_col: str, what: str) -> None:
    mk_x, mk_o = _member_kind(xs, x_col), _member_kind(other, o_col)
    if mk_x != mk_o:
        raise DataError(
            f"member ids are {mk_x} in the exposures ({xs.label}) but {mk_o} in the {what} ({other.label}); store them the same way",
            source=other.label, column=o_col,
        )  # fmt: skip


def _columns(config: ExperimentConfig, xs: _Source, es: _Source) -> _Columns:
    """Check that every configured column exists with a usable type; build the expressions that read them."""
    xt, et = config.exposures, config.events
    plain = [m for m in config.metrics if not m.is_ratio]
    _same_members(xs, xt.member_id, es, et.member_id, "events")
    _column(xs, xt.variant, "variant")
    x_ts, e_ts = _time_expr(xs, xt.timestamp), _time_expr(es, et.timestamp)
    x_filter = "TRUE"
    if xt.experiment is not None:
        _column(xs, xt.experiment, "experiment")
        x_filter = f"CAST({_ident(xt.experiment)} AS VARCHAR) = {_lit(config.name)}"
    if et.layout == "wide":
        wide = tuple(sorted({m.column for m in plain if m.column is not None}))
        for col in wide:
            kind = _column(es, col, "measure")
            if not kind.startswith(_NUMERIC):
                raise DataError(f"a wide table's measures must be numeric, got {kind}", source=es.label, column=col)
        used = ", ".join(_lit(col) for col in wide)
        return _Columns(_ident(xt.member_id), _ident(xt.variant), x_ts, x_filter, _ident(et.member_id), "event", e_ts, "value", used, wide)
    event_kind = _column(es, et.event, "event")
    value = "1.0"
    if any(m.aggregate == "sum" for m in plain):
        if et.value is None:
            raise DataError("a 'sum' metric needs a value column; set [events].value", source=es.label)
        kind = _column(es, et.value, "value")
        if not kind.startswith(_NUMERIC):
            raise DataError(f"values must be numeric, got {kind}", source=es.label, column=et.value)
        value = f"CAST({_ident(et.value)} AS DOUBLE)"
    # A bare text column lets DuckDB push the event filter into the Parquet scan.
    event = _ident(et.event) if event_kind == "VARCHAR" else f"CAST({_ident(et.event)} AS VARCHAR)"
    used = ", ".join(_lit(e) for e in sorted({e for p in plain for e in p.events}))
    return _Columns(_ident(xt.member_id), _ident(xt.variant), x_ts, x_filter, _ident(et.member_id), event, e_ts, value, used)


def _check_rows(con: duckdb.DuckDBPyConnection, config: ExperimentConfig, xs: _Source, es: _Source, c: _Columns) -> list[tuple[str, str, str, str]]:
    """Stop at the first bad row; return the checks on values that are cheaper to run after aggregating."""
    xt, et = config.exposures, config.events
    designed = ", ".join(_lit(n) for n in (x.name for x in config.variants))
    t = _ident(xt.timestamp)
    _first_bad(con, xs, [
        (f"{c.x_member} IS NULL", xt.member_id, "member id is missing", "NULL"),
        (f"{c.x_variant} IS NULL", xt.variant, "variant is missing", "NULL"),
        (f"{t} IS NULL", xt.timestamp, "timestamp is missing", "NULL"),
        (f"CAST({c.x_variant} AS VARCHAR) NOT IN ({designed})", xt.variant,
         "unknown variant {value!r}; the design has " + str([x.name for x in config.variants]) + " (fix the data or the config's variants)", c.x_variant),
        (f"NOT isfinite({c.x_ts})", xt.timestamp, "timestamp is not finite, got {value}", t),
    ], c.x_filter)  # fmt: skip
    # The events table is the big one: checks that metadata (null counts) or column types rule out are skipped.
    checks, deferred = [], []
    if not es.null_free(et.member_id):
        checks.append((f"{c.e_member} IS NULL", et.member_id, "member id is missing", "NULL"))
    if not es.null_free(et.timestamp):
        checks.append((f"{_ident(et.timestamp)} IS NULL", et.timestamp, "timestamp is missing", "NULL"))
    if _floating(es.types[et.timestamp]):
        checks.append((f"NOT isfinite({c.e_ts})", et.timestamp, "timestamp is not finite, got {value}", _ident(et.timestamp)))
    if c.wide:  # every measure a metric reads is checked on every row: a wide row has no event name to filter on
        for col in c.wide:
            if not es.null_free(col):
                checks.append((f"{_ident(col)} IS NULL", col, "value is missing (write 0 for none)", "NULL"))
            if _floating(es.types[col]):
                checks.append((f"NOT isfinite({_ident(col)})", col, "value is not finite, got {value}", _ident(col)))
        _first_bad(con, es, checks)
        return []
    summed = ", ".join(_lit(e) for e in sorted({e for p in config.metrics if p.aggregate == "sum" and not p.is_ratio for e in p.events}))
    if summed:
        value = _ident(et.value)  # type: ignore[arg-type]
        if not es.null_free(et.value):  # type: ignore[arg-type]
            checks.append((f"{c.e_event} IN ({summed}) AND {value} IS NULL", et.value, "value is missing", "NULL"))  # type: ignore[arg-type]
        if _floating(es.types[et.value]):  # type: ignore[index]
            # A non-finite value makes its member's sum non-finite: found cheaply after aggregating, located only then.
            deferred.append((f"{c.e_event} IN ({summed}) AND NOT isfinite({c.e_value})", et.value, "value is not finite, got {value}", value))  # type: ignore[arg-type]
    _first_bad(con, es, checks, f"{c.e_event} IN ({c.used})")
    return deferred  # type: ignore[return-value]


def _covariates(con: duckdb.DuckDBPyConnection, config: ExperimentConfig, xs: _Source, cs: _Source, names: list[str]) -> None:
    """Check the covariate table (one row per member, finite numbers) and create the view ``cov`` (member_id, x<i>)."""
    ct, plain = config.covariates, [m for m in config.metrics if not m.is_ratio]
    _same_members(xs, config.exposures.member_id, cs, ct.member_id, "covariates")
    member = _ident(ct.member_id)
    checks = [(f"{member} IS NULL", ct.member_id, "member id is missing", "NULL")]
    for col in sorted({m.covariate for m in plain if m.covariate is not None}):
        kind = _column(cs, col, "covariate")
        if not kind.startswith(_NUMERIC):
            raise DataError(f"covariates must be numeric, got {kind}", source=cs.label, column=col)
        checks.append((f"{_ident(col)} IS NULL", col, "covariate is missing", "NULL"))
        if _floating(kind):
            checks.append((f"NOT isfinite({_ident(col)})", col, "covariate is not finite, got {value}", _ident(col)))
    _first_bad(con, cs, checks)
    again = con.execute(
        f"SELECT f, r, m, r0 FROM (SELECT {cs.file_expr} AS f, {cs.row_expr} AS r, CAST({member} AS VARCHAR) AS m, "
        f"row_number() OVER w AS k, first_value({cs.row_expr}) OVER w AS r0 FROM {cs.view} "
        f"WINDOW w AS (PARTITION BY {member} ORDER BY {cs.file_expr}, {cs.row_expr})) WHERE k = 2 ORDER BY f, r LIMIT 1"
    ).fetchone()
    if again is not None:
        file, row, who, first = again
        raise DataError(f"member {who} has a second row (the first is row {first}); a covariate table holds one row per member",
                        source=file, row=int(row), column=ct.member_id)  # fmt: skip
    cols = ", ".join(f"CAST({_ident(m.covariate)} AS DOUBLE) AS x{names.index(m.name)}" for m in plain if m.covariate is not None)
    con.execute(f"CREATE TEMP VIEW cov AS SELECT {member} AS member_id, {cols} FROM {cs.view}")


def _aggregate(
    con: duckdb.DuckDBPyConnection, config: ExperimentConfig, exposures: pa.Table | None, events: pa.Table | None, covariates: pa.Table | None
) -> Totals:
    xt = config.exposures
    plain = [m for m in config.metrics if not m.is_ratio]
    names = [p.name for p in plain]
    xs = _open(con, "exposures_raw", xt.path, exposures, "exposures")
    es = _open(con, "events_raw", config.events.path, events, "events")
    cs = None
    if any(m.covariate is not None for m in plain):
        if covariates is None and config.covariates.path is None:
            m = next(m for m in plain if m.covariate is not None)
            raise DataError(f"metric {m.name!r} names covariate {m.covariate!r}, but there is no covariate table: set [covariates].path or pass the table", source="config")
        cs = _open(con, "covariates_raw", config.covariates.path, covariates, "covariates")
    xs, es, cs = _type_inputs(con, config, xs, es, cs)
    c = _columns(config, xs, es)
    deferred = _check_rows(con, config, xs, es, c)
    if cs is not None:
        _covariates(con, config, xs, cs, names)

    con.execute(f"CREATE TEMP VIEW x AS SELECT {c.x_member} AS member_id, CAST({c.x_variant} AS VARCHAR) AS variant, {c.x_ts} AS ts FROM exposures_raw WHERE {c.x_filter}")
    if c.wide:  # unpivot: one (member, measure, time, amount) row per non-zero cell
        con.execute("CREATE TEMP VIEW e AS " + " UNION ALL ".join(
            f"SELECT {c.e_member} AS member_id, {_lit(col)} AS event, {c.e_ts} AS ts, CAST({_ident(col)} AS DOUBLE) AS value "
            f"FROM events_raw WHERE {_ident(col)} <> 0" for col in c.wide))  # fmt: skip
    else:
        con.execute(
            f"CREATE TEMP VIEW e AS SELECT {c.e_member} AS member_id, {c.e_event} AS event, {c.e_ts} AS ts, {c.e_value} AS value "
            f"FROM events_raw WHERE {c.e_event} IN ({c.used})"
        )
    con.execute("CREATE TEMP TABLE units AS SELECT member_id, min(variant) AS variant, min(ts) AS t0, count(DISTINCT variant) AS k FROM x GROUP BY member_id")
    first, n_units = con.execute("SELECT min(t0), count(*) FROM units").fetchone()  # type: ignore[misc]
    if not n_units:
        where = f" with {xt.experiment} = {config.name!r}" if xt.experiment else ""
        raise DataError(f"no exposures{where}", source=xs.label)
    start = config.start if config.start is not None else math.floor(first / DAY) * DAY
    window = f"t0 >= {_num(start)}" + (f" AND t0 < {_num(config.end)}" if config.end is not None else "")
    con.execute(f"CREATE TEMP TABLE valid AS SELECT * FROM units WHERE k = 1 AND {window}")
    excluded, outside = con.execute(f"SELECT count(*) FILTER (WHERE k > 1), count(*) FILTER (WHERE k = 1 AND NOT ({window})) FROM units").fetchone()  # type: ignore[misc]

    # One pass over the events: per member and day after exposure, and (day -1) the pre-period.
    cols = [f"a{i}" for i in range(len(plain))]
    cuped = [i for i, p in enumerate(plain) if p.cuped]
    window_cuped = [i for i in cuped if plain[i].covariate is None]  # the others' covariates come from the table
    aggs = ", ".join(f"{_agg(p)} AS {col}" for p, col in zip(plain, cols, strict=True))
    lookback = config.pre_period_days * DAY if window_cuped else 0.0
    until = f" AND e.ts < {_num(config.end)}" if config.end is not None else ""
    con.execute(
        f"CREATE TEMP TABLE member_days AS SELECT e.member_id, any_value(u.variant) AS variant, "
        f"CASE WHEN e.ts >= u.t0 THEN CAST(floor((e.ts - {_num(start)}) / {DAY}) AS INTEGER) ELSE -1 END AS day, {aggs}, max(e.ts) AS last_ts "
        f"FROM e JOIN valid u ON e.member_id = u.member_id WHERE e.ts >= u.t0 - {_num(lookback)}{until} GROUP BY e.member_id, day"
    )
    summed_cols = [col for p, col in zip(plain, cols, strict=True) if p.aggregate == "sum"]
    if deferred and con.execute(f"SELECT count(*) FROM member_days WHERE NOT ({' AND '.join(f'isfinite({col})' for col in summed_cols)})").fetchone()[0]:  # type: ignore[index]
        _first_bad(con, es, deferred, f"{c.e_event} IN ({c.used})")
    if config.end is not None:
        end = config.end
    else:
        last_exposure, last_event = con.execute("SELECT (SELECT max(t0) FROM valid), (SELECT max(last_ts) FROM member_days WHERE day >= 0)").fetchone()  # type: ignore[misc]
        end = max(x for x in (last_exposure, last_event, start) if x is not None) + 1.0
    n_days = max(1, math.ceil((end - start) / DAY))

    def day_of(expr: str) -> str:
        return f"least(greatest(CAST(floor(({expr} - {_num(start)}) / {DAY}) AS INTEGER), 0), {n_days - 1})"

    con.execute(f"CREATE TEMP VIEW daily AS SELECT member_id, variant, day, {', '.join(cols)} FROM member_days WHERE day >= 0")
    pre_cols_sql = ", ".join(f"CAST(a{i} > 0 AS DOUBLE) AS x{i}" if plain[i].aggregate == "any" else f"a{i} AS x{i}" for i in window_cuped)
    con.execute(f"CREATE TEMP VIEW pre AS SELECT member_id{', ' if window_cuped else ''}{pre_cols_sql} FROM member_days WHERE day = -1")
    joins = " LEFT JOIN pre USING (member_id)" + (" LEFT JOIN cov USING (member_id)" if cs is not None else "")

    def now(i: int) -> str:
        return f"(CAST(c{i} > 0 AS DOUBLE))" if plain[i].aggregate == "any" else f"c{i}"

    def before(i: int) -> str:
        return f"(CAST(c{i} - a{i} > 0 AS DOUBLE))" if plain[i].aggregate == "any" else f"(c{i} - a{i})"

    deltas = []
    for i, p in enumerate(plain):
        deltas += [f"sum({now(i)} - {before(i)}) AS \"s:{i}\"", f"sum({now(i)} * {now(i)} - {before(i)} * {before(i)}) AS \"q:{i}\""]
        if p.cuped:
            deltas.append(f"sum(({now(i)} - {before(i)}) * coalesce(x{i}, 0)) AS \"xy:{i}\"")
    pairs = sorted({(names.index(r.numerator), names.index(r.denominator)) for r in config.metrics if r.is_ratio})  # type: ignore[arg-type]
    for i, j in pairs:
        deltas.append(f"sum({now(i)} * {now(j)} - {before(i)} * {before(j)}) AS \"c:{i}|{j}\"")
    windows = ", ".join(f"sum({col}) OVER w AS c{i}" for i, col in enumerate(cols))
    pre_cols = "".join(f", x{i}" for i in cuped)
    changes = con.execute(
        f"SELECT variant, day, {', '.join(deltas)} FROM ("
        f"  SELECT d.variant, d.day, {', '.join(cols)}, {windows}{pre_cols} FROM daily d{joins}"
        f"  WINDOW w AS (PARTITION BY member_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        f") GROUP BY ALL"
    ).fetchnumpy()
    entry_cols = "".join(f", sum(coalesce(x{i}, 0)) AS \"x:{i}\", sum(coalesce(x{i}, 0) ^ 2) AS \"xx:{i}\"" for i in cuped)
    entries = con.execute(
        f"SELECT variant, {day_of('t0')} AS day, CAST(count(*) AS DOUBLE) AS n{entry_cols} FROM valid{joins} GROUP BY ALL"
    ).fetchnumpy()
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {col} <> 0)' for col in cols)} FROM daily").fetchone()
    nonzero = {n: int(k) for n, k in zip(names, counts or (), strict=True)}
    missing = 0
    if cs is not None:
        missing = con.execute("SELECT count(*) FROM valid WHERE member_id NOT IN (SELECT member_id FROM cov WHERE member_id IS NOT NULL)").fetchone()[0]  # type: ignore[index]

    variants = tuple(x.name for x in config.variants)
    sums: dict[tuple[str, ...], np.ndarray] = {}
    for table in (entries, changes):
        vi = np.array([variants.index(str(s)) for s in table["variant"]], np.int64)
        di = np.asarray(table["day"], np.int64)
        for name in list(table)[2:]:
            kind, _, idx = name.partition(":")
            key = (kind, *(names[int(k)] for k in idx.split("|") if k))
            grid = np.zeros((len(variants), n_days))
            np.add.at(grid, (vi, di), np.nan_to_num(np.ma.filled(table[name], 0.0).astype(np.float64)))
            sums[key] = np.cumsum(grid, axis=1)
    for p in plain:  # members with no events at all: zero change, but the keys must exist
        for kind in ("s", "q", "x", "xx", "xy") if p.cuped else ("s", "q"):
            sums.setdefault((kind, p.name), np.zeros((len(variants), n_days)))
    return Totals(variants, float(start), float(end), sums[("n",)], sums, int(excluded), int(outside), nonzero, int(missing))
