"""``marquee cdn``: replay cache traces through eviction policies (libCacheSim's conventions), compiled per request."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import console, err_console, errors_to_exit
from marquee.errors import ConfigError

app = typer.Typer(
    help="Edge delivery: replay request traces through cache eviction and admission policies and compare miss "
    "ratios (requests and bytes) over cache sizes.",
    no_args_is_help=True,
)


def _list(text: str, option: str) -> list[str]:
    items = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    if not items:
        raise ConfigError(f"{option} needs at least one comma-separated value, got {text!r}")
    return items


def _load(trace: str, fmt: str | None):
    from marquee.cdn import FORMATS, SHIPPED_TRACES, load_requests

    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    if trace in SHIPPED_TRACES:
        return load_requests(trace, fmt)  # type: ignore[arg-type]
    if fmt is None:
        raise ConfigError(f"give --format for {trace} ({', '.join(FORMATS)}); only shipped traces "
                          f"({', '.join(SHIPPED_TRACES)}) are known by name")
    return load_requests(trace, fmt)  # type: ignore[arg-type]


@app.command("replay")
@errors_to_exit
def replay(
    trace: str = typer.Argument(
        ...,
        help="The request trace: a file, or a shipped trace by name (cache2k_web07, cache2k_web12, adapt_size).",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        help="oraclegeneral (libCacheSim's binary: <u4 time, <u8 id, <u4 size, <i8 next>), txt ('time id size' per "
        "line), u32be (big-endian uint32 keys, no sizes: every object 1 byte), csv or parquet (columns time, id, "
        "size). .xz/.gz/.bz2 files are decompressed on the fly. [default: the shipped trace's own format]",
    ),
    policy: str = typer.Option(
        "lru,fifo",
        "--policy",
        help="Comma-separated policies, each optionally with an admission filter: lru, fifo, lru+bloom, ... "
        "(see 'marquee cdn policies').",
    ),
    cache_size: str = typer.Option(
        "1%",
        "--cache-size",
        help="Comma-separated cache sizes: bytes (1048576, 64MiB, 2GB) or a percentage of the trace's working set "
        "in bytes (the sum of each object's first-seen size), rounded down, at least 1 byte: 0.1%,1%,10%.",
    ),
    json_out: Path | None = typer.Option(  # noqa: B008
        None, "--json", help="Write per policy and size {policy, cache_bytes, requests, miss_ratio, byte_miss_ratio, "
        "requests_per_s} as a JSON list."),
    report: Path | None = typer.Option(  # noqa: B008
        None, "--report", help="Write an HTML report: miss-ratio curves over cache size (with several sizes) and "
        "the table."),
) -> None:
    """Replay a trace through cache policies at one or more sizes; print a table, optionally JSON and HTML."""
    from marquee import cdn
    from marquee._html import write_text_atomic
    from marquee.cdn.report import render_replay_report

    policies = _list(policy, "--policy")
    for spec in policies:
        cdn.make(spec)  # an unknown name fails before the trace is read
    sizes = _list(cache_size, "--cache-size")
    requests = _load(trace, fmt)
    if len(requests) == 0:
        raise ConfigError(f"{trace} has no requests")
    capacities = [requests.cache_bytes(s) for s in sizes]
    if requests.n_resized:
        err_console.print(f"note: {requests.n_resized:,} requests name an object with another size than its first; "
                          "they count the first-seen size", highlight=False)
    err_console.print(f"{requests.source}: {len(requests):,} requests, {requests.n_objects:,} objects, working set "
                      f"{requests.working_set_bytes:,} bytes", highlight=False)
    runs = []
    for spec in policies:
        result = cdn.replay(requests, [spec], capacities)
        runs.extend(result.runs)
        err_console.print(f"  {spec}: {len(capacities)} size(s) done", highlight=False)
    result = cdn.ReplayResult(tuple(runs), source=requests.source)
    # Everything is rendered before anything is written; each file is replaced atomically.
    page = None
    if report is not None:
        page = render_replay_report(result, working_set_bytes=requests.working_set_bytes,
                                    n_objects=requests.n_objects, n_resized=requests.n_resized)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(result.to_records(), indent=2) + "\n")
    if page is not None and report is not None:
        write_text_atomic(report, page)
    console.print(result.table())


@app.command("policies")
@errors_to_exit
def policies() -> None:
    """The registered eviction policies and admission filters, with their options."""
    from dataclasses import fields

    from marquee import cdn

    table = Table("name", "kind", "options (defaults)", "description")
    for name, cls in sorted(cdn.POLICIES.items()):
        opts = ", ".join(f"{f.name}={f.default!r}" for f in fields(cls.Config)) or "–"
        kind = "eviction (offline bound)" if cls.needs_future else "eviction"
        table.add_row(name, kind, opts, (cls.__doc__ or "").strip().splitlines()[0])
    for name, cls in sorted(cdn.ADMISSIONS.items()):
        opts = ", ".join(f"{f.name}={f.default!r}" for f in fields(cls.Config)) or "–"
        table.add_row(name, "admission (policy+name)", opts, (cls.__doc__ or "").strip().splitlines()[0])
    console.print(table)
