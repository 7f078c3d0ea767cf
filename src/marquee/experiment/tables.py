"""Exposure and event tables in, per-variant daily sufficient statistics out — with DuckDB.

Input is checked once, here: a missing column, a column of the wrong type, a missing value or an
unknown variant stops the analysis with an error naming the file, the row (1-based within that
file) and the column. Then one pass of SQL turns tens of millions of rows into a few numbers per
variant and day:

* a member enters on the day of their first exposure (members exposed to two variants are
  excluded and counted); their metric is the aggregate of their events from that moment to the
  end of the window (members without events count as 0);
* for every look ``d`` (end of day ``d``) the statistics are those of each member's cumulative
  value up to then. A member's cumulative value only changes on days with events, so the sums of
  values, squares and cross products are accumulated from per-member, per-day *changes*
  (``c_d² - c_{d-1}²`` …): one window over (member, day) rows instead of one pass per day;
* CUPED covariates are the same metrics over ``pre_period_days`` before the first exposure.
"""

from __future__ import annotations

import functools
import glob
import math
import os
from dataclasses import dataclass, field
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


def _open(con: duckdb.DuckDBPyConnection, view: str, path: str | None, table: pa.Table | None, what: str) -> _Source:
    if table is not None:
        if not isinstance(table, pa.Table):
            raise DataError(f"{what} must be a pyarrow.Table, got {type(table).__name__}", source=f"<{what} table>")
        con.register(f"{view}_arrow", table.append_column("__marquee_row", pa.array(np.arange(1, table.num_rows + 1))))
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {view}_arrow")
        label, file_expr, row_expr = f"<{what} table>", _lit(f"<{what} table>"), "__marquee_row"
        files = ()
    else:
        if path is None:
            raise DataError(f"no {what} table: set [{what}].path in the config or pass the table", source="config")
        p = Path(path)
        if any(ch in path for ch in "*?["):
            pattern = path
        elif p.is_dir():
            if not any(p.glob("*.parquet")):
                raise DataError("the directory holds no .parquet files", source=path)
            pattern = str(p / "*.parquet")
        elif p.is_file():
            if p.suffix.lower() not in (".parquet", ".pq"):
                raise DataError(
                    f"{what} must be Parquet (a .parquet file, a directory of them or a glob); convert a CSV with "
                    f"duckdb -c \"COPY (FROM '{p.name}') TO '{p.stem}.parquet'\"",
                    source=path,
                )
            pattern = path
        else:
            raise DataError("file does not exist", source=path)
        try:
            con.execute(
                f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet({_lit(pattern)}, file_row_number = true, filename = '__marquee_file')"
            )
        except Exception as exc:  # duckdb raises its own hierarchy; the file is what matters
            raise DataError(f"cannot be read as Parquet: {exc}", source=path) from None
        label, file_expr, row_expr = path, "__marquee_file", "file_row_number + 1"
        files = tuple(sorted(glob.glob(pattern, recursive=True)))
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
    except Exception as exc:
        raise DataError(f"cannot be read as Parquet: {exc}", source=label) from None
    types = {row[0]: str(row[1]) for row in described if row[0] not in ("__marquee_row", "__marquee_file", "file_row_number")}
    return _Source(view, label, file_expr, row_expr, types, table, files)


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

    @property
    def n_days(self) -> int:
        return int(self.n.shape[1])

    def members(self, day: int = -1) -> dict[str, int]:
        return {v: int(self.n[i, day]) for i, v in enumerate(self.variants)}

    def statistic(self, metric: Metric, variant: str, day: int | None = -1) -> Statistic:
        """The metric's statistic for one variant at ``day`` (``None``: arrays over every day)."""
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
        if metric.cuped:
            return AdjustedStats(post, MeanStats(n, get("x", name), get("xx", name)), get("xy", name))
        return post


def _agg(metric: Metric, value: str = "value") -> str:
    events = ", ".join(_lit(e) for e in metric.events)
    if metric.aggregate == "sum":
        return f"CAST(coalesce(sum({value}) FILTER (WHERE event IN ({events})), 0) AS DOUBLE)"
    return f"CAST(count(*) FILTER (WHERE event IN ({events})) AS DOUBLE)"


def aggregate(
    config: ExperimentConfig,
    *,
    exposures: pa.Table | None = None,
    events: pa.Table | None = None,
    threads: int | None = None,
) -> Totals:
    """Check the tables and reduce them to :class:`Totals` (see the module docstring).

    Args:
        config: the plan; its tables' paths are read unless ``exposures``/``events`` are given.
        exposures, events: in-memory Arrow tables with the configured column names.
        threads: DuckDB threads (default: every core).
    """
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    try:
        return _aggregate(con, config, exposures, events)
    finally:
        con.close()


@dataclass(frozen=True)
class _Columns:
    """SQL expressions for the checked input columns, in Marquee's terms."""

    x_member: str
    x_variant: str
    x_ts: str
    x_filter: str
    e_member: str
    e_event: str
    e_ts: str
    e_value: str
    used: str


def _columns(config: ExperimentConfig, xs: _Source, es: _Source) -> _Columns:
    """Check that every configured column exists with a usable type; build the expressions that read them."""
    xt, et = config.exposures, config.events
    plain = [m for m in config.metrics if not m.is_ratio]
    mk_x, mk_e = _member_kind(xs, xt.member_id), _member_kind(es, et.member_id)
    if mk_x != mk_e:
        raise DataError(
            f"member ids are {mk_x} in the exposures ({xs.label}) but {mk_e} in the events ({es.label}); store them the same way",
            source=es.label, column=et.member_id,
        )  # fmt: skip
    _column(xs, xt.variant, "variant")
    x_ts, e_ts = _time_expr(xs, xt.timestamp), _time_expr(es, et.timestamp)
    event_kind = _column(es, et.event, "event")
    x_filter = "TRUE"
    if xt.experiment is not None:
        _column(xs, xt.experiment, "experiment")
        x_filter = f"CAST({_ident(xt.experiment)} AS VARCHAR) = {_lit(config.name)}"
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


def _aggregate(con: duckdb.DuckDBPyConnection, config: ExperimentConfig, exposures: pa.Table | None, events: pa.Table | None) -> Totals:
    xt = config.exposures
    xs = _open(con, "exposures_raw", xt.path, exposures, "exposures")
    es = _open(con, "events_raw", config.events.path, events, "events")
    plain = [m for m in config.metrics if not m.is_ratio]
    c = _columns(config, xs, es)
    deferred = _check_rows(con, config, xs, es, c)

    con.execute(f"CREATE TEMP VIEW x AS SELECT {c.x_member} AS member_id, CAST({c.x_variant} AS VARCHAR) AS variant, {c.x_ts} AS ts FROM exposures_raw WHERE {c.x_filter}")
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
    names = [p.name for p in plain]
    cols = [f"a{i}" for i in range(len(plain))]
    cuped = [i for i, p in enumerate(plain) if p.cuped]
    aggs = ", ".join(f"{_agg(p)} AS {col}" for p, col in zip(plain, cols, strict=True))
    lookback = config.pre_period_days * DAY if cuped else 0.0
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
    pre_cols_sql = ", ".join(f"CAST(a{i} > 0 AS DOUBLE) AS x{i}" if plain[i].aggregate == "any" else f"a{i} AS x{i}" for i in cuped)
    con.execute(f"CREATE TEMP VIEW pre AS SELECT member_id{', ' if cuped else ''}{pre_cols_sql} FROM member_days WHERE day = -1")

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
        f"  SELECT d.variant, d.day, {', '.join(cols)}, {windows}{pre_cols} FROM daily d LEFT JOIN pre USING (member_id)"
        f"  WINDOW w AS (PARTITION BY member_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        f") GROUP BY ALL"
    ).fetchnumpy()
    entry_cols = "".join(f", sum(coalesce(x{i}, 0)) AS \"x:{i}\", sum(coalesce(x{i}, 0) ^ 2) AS \"xx:{i}\"" for i in cuped)
    entries = con.execute(
        f"SELECT variant, {day_of('t0')} AS day, CAST(count(*) AS DOUBLE) AS n{entry_cols} FROM valid LEFT JOIN pre USING (member_id) GROUP BY ALL"
    ).fetchnumpy()
    counts = con.execute(f"SELECT {', '.join(f'count(*) FILTER (WHERE {col} <> 0)' for col in cols)} FROM daily").fetchone()
    nonzero = {n: int(k) for n, k in zip(names, counts or (), strict=True)}

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
        for kind in ("s", "q"):
            sums.setdefault((kind, p.name), np.zeros((len(variants), n_days)))
    return Totals(variants, float(start), float(end), sums[("n",)], sums, int(excluded), int(outside), nonzero)
