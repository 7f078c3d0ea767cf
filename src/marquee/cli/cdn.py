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


def _shares(text: str, option: str) -> tuple[float, ...]:
    out = []
    for item in _list(text, option):
        try:
            value = float(item.rstrip("%")) / (100.0 if item.endswith("%") else 1.0)
        except ValueError:
            raise ConfigError(f"{option}: {item!r} is not a share (e.g. 2% or 0.02)") from None
        if not 0 < value <= 1:
            raise ConfigError(f"{option}: {item!r} must be above 0 and at most 100%")
        out.append(value)
    return tuple(out)


@app.command("fill")
@errors_to_exit
def fill(
    members: int = typer.Option(20_000, "--members", min=100, help="Members in the region (a world calibrated on "
                                "MovieLens-100K, fetched on first use)."),
    capacity: str = typer.Option("2%,5%,10%", "--capacity", help="Site capacities as shares of the catalog's bytes."),
    policy: str = typer.Option("lru,fifo,arc,s3fifo,sieve,lfu,gdsf,wtinylfu", "--policy",
                               help="Reactive policies to compare (cached at chunk granularity, warmed on the day "
                               "before)."),
    seed: int = typer.Option(0, "--seed", help="Seeds the world, the days and the bootstrap."),
    home: Path | None = typer.Option(None, "--home", help="Marquee's data home (default: MARQUEE_HOME or "  # noqa: B008
                                     "~/.cache/marquee)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the study as JSON."),  # noqa: B008
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report (hit ratio over the day per "  # noqa: B008
                                       "plan and policy, the table with intervals)."),
) -> None:
    """Proactive fill on a new-release day: plans from yesterday's popularity, the ranker's predicted demand, the
    expected demand and the oracle, against reactive policies of the same capacity, with intervals."""
    from marquee import cdn
    from marquee._html import write_text_atomic
    from marquee.cdn.report import render_fill_report
    from marquee.cli._common import load_dataset
    from marquee.data.movielens import NAME
    from marquee.sim.delivery import fill_study, release_scenario

    shares = _shares(capacity, "--capacity")
    policies = tuple(_list(policy, "--policy"))
    for spec in policies:
        cdn.make(spec)
    data = load_dataset(NAME, home)
    err_console.print(f"world of {members:,} members, ranker and playback pool", highlight=False)
    region = release_scenario(data.interactions, members, seed=seed)
    err_console.print("days 0 and 1, plans and replays", highlight=False)
    study = fill_study(region, 1, shares, policies=policies, seed=seed)
    record = study.to_dict()
    page = render_fill_report(record) if report is not None else None
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(record, indent=2) + "\n")
    if page is not None and report is not None:
        write_text_atomic(report, page)
    table = Table("plan / policy", *[f"{s:.0%} of catalog" for s in shares],
                  title=f"byte hit ratio on the release day ({record['new_release_share']:.0%} of bytes new)")
    for name, ivs in study.hit.items():
        table.add_row(name, *[str(i) for i in ivs])
    for (a, b), ivs in study.margin.items():
        table.add_row(f"{a} − {b}", *[str(i) for i in ivs])
    table.add_row("predicted / oracle", *[str(i) for i in study.of_oracle])
    console.print(table)


@app.command("plan")
@errors_to_exit
def plan(
    event: str = typer.Option("live", "--event", help="live (concurrent streams ramping to a peak) or launch (a "
                              "new-release day of a simulated region)."),
    viewers: int = typer.Option(50_000, "--viewers", min=1, help="live: forecast peak concurrent viewers."),
    spread: float = typer.Option(0.25, "--spread", min=0.0, help="live: log-normal spread of the audience around "
                                 "the forecast (each draw scales it by exp(N(0, spread)))."),
    members: int = typer.Option(20_000, "--members", min=100, help="launch: members in the region."),
    draws: int = typer.Option(5, "--draws", min=1, help="Independent draws of the demand (the interval's basis)."),
    target: float = typer.Option(0.95, "--target", help="Share of bytes to serve inside the ISP at peak."),
    flash: str = typer.Option("0,1,2,4,8", "--flash", help="Candidate counts of flash appliances."),
    storage: str = typer.Option("1,2,4,8", "--storage", help="Candidate counts of storage appliances."),
    seed: int = typer.Option(0, "--seed", help="Seeds the draws."),
    home: Path | None = typer.Option(None, "--home", help="Marquee's data home (launch)."),  # noqa: B008
    json_out: Path | None = typer.Option(None, "--json", help="Write the plan as JSON."),  # noqa: B008
    report: Path | None = typer.Option(None, "--report", help="Write an HTML report (offered vs served load, "  # noqa: B008
                                       "every candidate)."),
) -> None:
    """Capacity planning: the appliances a site needs to keep a target share of bytes inside the ISP at peak."""
    import numpy as np

    from marquee._html import write_text_atomic
    from marquee.cdn.capacity import live_event, plan_capacity
    from marquee.cdn.report import render_plan_report

    counts = {}
    for option, text in (("--flash", flash), ("--storage", storage)):
        try:
            counts[option] = tuple(int(x) for x in _list(text, option))
        except ValueError:
            raise ConfigError(f"{option} takes comma-separated whole numbers, got {text!r}") from None
        if any(c < 0 for c in counts[option]):
            raise ConfigError(f"{option} counts cannot be negative")
    rng = np.random.default_rng(seed)
    if event == "live":
        rungs = np.array([300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0])
        mix = np.array([0.04, 0.08, 0.12, 0.18, 0.24, 0.34])  # a broadband-heavy audience; see the docs
        demands = []
        for k in range(draws):
            audience = max(1, round(viewers * float(np.exp(rng.normal(0.0, spread)))))
            catalog, demand = live_event(rungs, mix, peak_viewers=audience, ramp_min=20, hold_min=20, seed=seed + k)
            demands.append(demand)
            err_console.print(f"  draw {k + 1}/{draws}: {audience:,} viewers at peak", highlight=False)
        fill_plan = np.arange(catalog.n_files)
        result = plan_capacity(catalog, demands, fill_plan, target=target, flash=counts["--flash"],
                               storage=counts["--storage"], replicas=64, replicate_share=1.0, window_s=600.0)
    elif event == "launch":
        from marquee.cli._common import load_dataset
        from marquee.data.movielens import NAME
        from marquee.sim.delivery import fill_plan as make_plan
        from marquee.sim.delivery import release_scenario

        region = release_scenario(load_dataset(NAME, home).interactions, members, seed=seed)
        yesterday = region.day(0, seed=seed)
        plan_files = make_plan(region.predicted_bytes(1, yesterday), region.catalog.size)
        demands = []
        for k in range(draws):
            today = region.day(1, seed=seed + 1 + k)
            demands.append(region.chunk_demand(today))
            err_console.print(f"  draw {k + 1}/{draws}: {demands[-1].time.size:,} chunk requests", highlight=False)
        result = plan_capacity(region.catalog, demands, plan_files, target=target, flash=counts["--flash"],
                               storage=counts["--storage"])
    else:
        raise ConfigError(f"--event must be live or launch, not {event!r}")
    record = result.to_dict()
    page = None
    if report is not None:
        page = render_plan_report(record, result.offered_s, result.offered_gbps, result.served_gbps)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(record, indent=2) + "\n")
    if page is not None and report is not None:
        write_text_atomic(report, page)
    table = Table("flash", "storage", "offload at peak", "content misses", "health misses", "peak Gbps",
                  title=f"{record['demand']}: target {target:.0%} inside the ISP")
    for c in result.candidates:
        mark = " ←" if result.chosen is not None and (c.flash, c.storage) == (result.chosen.flash,
                                                                             result.chosen.storage) else ""
        table.add_row(str(c.flash), str(c.storage), f"{c.offload}{mark}", f"{c.content_miss:.3f}",
                      f"{c.health_miss:.3f}", f"{c.peak_offered_gbps:.1f}")
    console.print(table)
    if result.chosen is None:
        err_console.print("no candidate clears the target: widen --flash/--storage", highlight=False)
    else:
        err_console.print(f"needed: {result.chosen.flash} flash + {result.chosen.storage} storage; appliances "
                          f"across the draws {result.appliances_needed}", highlight=False)
