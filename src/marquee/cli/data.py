"""``marquee data``: fetch public datasets, import your own log, inspect what is stored."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import HOME_OPTION, console, err_console, errors_to_exit, load_dataset
from marquee.errors import ConfigError

app = typer.Typer(help="Fetch, import and inspect datasets.", no_args_is_help=True)

FETCHABLE = ("movielens-100k", "open-bandit", "telco")


@app.command("fetch")
@errors_to_exit
def fetch(
    name: str = typer.Argument(..., help=f"Dataset to fetch: {', '.join(FETCHABLE)}."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if cached."),
    home: Path = HOME_OPTION,
) -> None:
    """Fetch a public dataset, verify its checksum and cache it (later calls are offline)."""
    from marquee.data.movielens import NAME, fetch_movielens_100k

    if name in ("open-bandit", "telco"):
        from marquee.data import open_bandit, telco

        summary_lines = open_bandit.summary_lines if name == "open-bandit" else telco.summary_lines
        for line in summary_lines(home, force=force, log=lambda m: err_console.print(m, highlight=False)):
            console.print(line, highlight=False)
        return
    if name != NAME:
        raise ConfigError(f"unknown dataset {name!r}; fetchable: {', '.join(FETCHABLE)}")
    ds = fetch_movielens_100k(home, force=force, log=lambda m: err_console.print(m, highlight=False))
    _print_info(ds)


@app.command("import")
@errors_to_exit
def import_(
    path: Path = typer.Argument(..., help="CSV (with a header) or Parquet file of interactions."),
    name: str = typer.Option(..., "--name", "-n", help="Name to store the dataset under."),
    member_col: str = typer.Option("member_id", help="Column holding member ids (non-negative integers or text such as UUIDs)."),
    title_col: str = typer.Option("title_id", help="Column holding title ids (non-negative integers or text such as 'tt0111161')."),
    ids: str = typer.Option(
        "auto", "--ids", help="How to read id columns: auto (integers when every value is one, else text), int (refuse non-integers) or string."
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace a dataset already stored under --name (refused without it)."),
    timestamp_col: str = typer.Option("timestamp", help="Column holding event times."),
    event_col: str | None = typer.Option(None, help="Column holding the event kind (play, rating, ...)."),
    rating_col: str | None = typer.Option(None, help="Column holding explicit ratings."),
    device_col: str | None = typer.Option(None, help="Column holding the device class."),
    hour_col: str | None = typer.Option(None, help="Column holding the member's local hour (0-23)."),
    completion_col: str | None = typer.Option(None, help="Column holding the completion fraction (0-1)."),
    timestamp_format: str | None = typer.Option(None, help="strptime format for text timestamps [default: unix seconds or ISO-8601, naive = UTC]."),
    timestamp_unit: str = typer.Option("s", help="Unit of numeric timestamps: s or ms."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Drop bad rows and report them, instead of stopping at the first."),
    home: Path = HOME_OPTION,
) -> None:
    """Import your own interaction log. Bad values stop the import with the file, row and column;
    duplicates and (with --skip-bad-rows) dropped rows are counted and reported. A dataset already
    stored under the same name is kept unless --replace is given; names of fetchable datasets are refused."""
    from marquee.data import dataset_dir
    from marquee.data.importer import ColumnMapping, import_log

    if name in FETCHABLE:
        raise ConfigError(f"{name!r} is the name of a dataset Marquee fetches (`marquee data fetch {name}`); import your log under another --name")
    target = dataset_dir(name, home)
    if (target / "manifest.json").is_file() and not replace:
        raise ConfigError(f"a dataset named {name!r} is already stored at {target}; pass --replace to replace it, or choose another --name")
    mapping = ColumnMapping(member_col, title_col, timestamp_col, event_col, rating_col, device_col, hour_col, completion_col)
    ds, report = import_log(
        path, name, mapping, timestamp_format=timestamp_format, timestamp_unit=timestamp_unit, skip_bad_rows=skip_bad_rows, ids=ids
    )
    target = ds.save(target)
    console.print(f"read {report.rows_read} rows, kept {report.rows_kept}, removed {report.duplicates} exact duplicates")
    for column, kind in report.id_kinds.items():
        console.print(f"{column}: {kind}", highlight=False)
    for reason, count in report.dropped.items():
        console.print(f"[yellow]dropped {count} rows[/]: {reason}")
    for example in report.examples:
        console.print(f"  e.g. {example}", highlight=False)
    console.print(f"stored at {target}")


@app.command("info")
@errors_to_exit
def info(name: str = typer.Argument("movielens-100k", help="Dataset name."), home: Path = HOME_OPTION) -> None:
    """Show a stored dataset's size, provenance and fingerprint."""
    _print_info(load_dataset(name, home))


@app.command("query")
@errors_to_exit
def query(
    sql: str = typer.Argument(..., help="DuckDB SQL over the tables interactions, catalog and members."),
    name: str = typer.Option("movielens-100k", "--dataset", "-d", help="Dataset name."),
    limit: int = typer.Option(50, help="Rows to print at most."),
    home: Path = HOME_OPTION,
) -> None:
    """Query a stored dataset with SQL (DuckDB over its Parquet tables)."""
    import duckdb

    from marquee.data import open_dataset

    try:
        result = open_dataset(name, home).query(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"the query failed: {exc}") from None
    table = Table(*result.column_names)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*[str(v) for v in row.values()])
    console.print(table)
    if result.num_rows > limit:
        console.print(f"({result.num_rows - limit} more rows)")


def _print_info(ds) -> None:  # type: ignore[no-untyped-def]
    table = Table(title=f"dataset {ds.name}", show_header=False)
    inter = ds.interactions
    ts = inter.timestamps
    import datetime as _dt

    span = f"{_dt.datetime.fromtimestamp(ts.min(), _dt.UTC):%Y-%m-%d} .. {_dt.datetime.fromtimestamp(ts.max(), _dt.UTC):%Y-%m-%d}"
    for key, value in [
        ("interactions", f"{len(inter):,}"),
        ("members", f"{inter.n_members:,}"),
        ("titles", f"{len(ds.catalog):,}"),
        ("ids", f"members {'text' if inter.members.is_string else 'integer'}, titles {'text' if inter.titles.is_string else 'integer'}"),
        ("time span", span),
        ("fingerprint", inter.fingerprint()),
        *[(k, str(v)) for k, v in ds.info.items()],
    ]:
        table.add_row(key, value)
    console.print(table)
