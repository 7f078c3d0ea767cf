"""``marquee playback``: compare adaptive-bitrate (ABR) schemes on network traces, per device class."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from marquee.cli._common import console, err_console, errors_to_exit, progress
from marquee.errors import ConfigError

if TYPE_CHECKING:
    from marquee.playback import SessionConfig

app = typer.Typer(
    help="Adaptive-bitrate playback: simulate ABR schemes over network traces and a video ladder, per device class, "
    "and compare QoE, rebuffering, bitrate, start-up, switches, quality and bytes.",
    no_args_is_help=True,
)

_QOE = (
    "QoE_lin per chunk = bitrate (Mbps) - mu * stall (s) - smooth_penalty * |bitrate change| (Mbps), averaged over "
    "chunks from qoe_from_chunk on (Pensieve's conventions: mu = the ladder's top bitrate in Mbps, smooth_penalty 1, "
    "the first chunk is start-up and not scored)."
)


def _names(text: str, option: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ConfigError(f"{option} needs at least one comma-separated name, got {text!r}")
    return names


def _schemes(abr: str | None) -> list[str]:
    from marquee.playback import SCHEMES

    if abr is None:
        return [n for n, cls in SCHEMES.items() if not cls.needs_future]
    names = _names(abr, "--abr")
    unknown = [n for n in names if n not in SCHEMES]
    if unknown:
        raise ConfigError(
            f"unknown scheme(s) {', '.join(map(repr, unknown))} in --abr; known: {', '.join(sorted(SCHEMES))}"
        )
    return names


def _devices(text: str | None) -> list[str | None]:
    from marquee.playback import DEVICES, device

    if text is None:
        return [None]
    if text.strip() == "all":
        return list(DEVICES)
    names = _names(text, "--device")
    for n in names:
        device(n)  # an unknown name raises, naming the known ones
    return list(names)


def _session_config(path: Path | None, chunks: int | None) -> SessionConfig:
    """``[session]`` of the config file (if any), then ``--chunks`` over it."""
    from marquee.config import load_config_file
    from marquee.playback import SessionConfig

    cfg = SessionConfig()
    if path is not None:
        data = load_config_file(path)
        unknown = sorted(set(data) - {"session"})
        if unknown:
            raise ConfigError(f"config file {path}: unknown table(s) {unknown}; known: ['session']")
        table = data.get("session", {})
        if not isinstance(table, dict):
            raise ConfigError(f"config file {path}: 'session' must be a table of SessionConfig fields, got {table!r}")
        try:
            cfg = SessionConfig.from_dict(table)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}, [session]: {exc}") from None
    if chunks is not None:
        try:
            cfg = dataclasses.replace(cfg, n_chunks=chunks)
        except ConfigError as exc:
            raise ConfigError(f"--chunks {chunks}: {exc}") from None
    return cfg


def _write_outputs(json_path: Path | None, rows: list[dict[str, Any]], report: Path | None, page: str | None) -> None:
    """Everything is rendered before anything is written; each file is replaced atomically."""
    from marquee.playback.report import write_text_atomic

    if json_path is not None:
        write_text_atomic(json_path, json.dumps(rows, indent=2) + "\n")
        console.print(f"json: {json_path}", highlight=False)
    if report is not None and page is not None:
        write_text_atomic(report, page)
        console.print(f"report: {report}", highlight=False)


def _f(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


@app.command("evaluate")
@errors_to_exit
def evaluate(
    traces: str = typer.Option(
        ...,
        "--traces",
        help="Network traces, one session per trace (per piece, with --cut): a shipped set (fcc_pensieve88, "
        "hsdpa_pensieve80; pensieve_train127, their training half) or a path: a "
        "trace file (Pensieve text 'seconds Mbps' per line, or Sabre JSON), a directory of them or a .tar.xz archive.",
    ),
    video: str = typer.Option(
        ...,
        "--video",
        help="The ladder: a shipped video (envivio, sabre_bbb, sabre_bbb4k) or a file: CSV in the Envivio layout "
        "(chunk_index,bytes_<kbps>kbps,...) or JSON (Sabre's, or per-rung chunk_bytes).",
    ),
    abr: str | None = typer.Option(
        None,
        "--abr",
        help="Comma-separated schemes from the registry (see 'marquee playback schemes'), e.g. rb,bba,bola,robustmpc. "
        "[default: every registered online scheme; offline ones such as an optimum are run only when named]",
    ),
    device: str | None = typer.Option(
        None,
        "--device",
        help="Device class(es), comma-separated, or 'all' (see 'marquee playback devices'): each run gets the ladder "
        "offered to the device (rungs above its cap dropped), its quality model and its player's buffer and "
        "start/resume thresholds. [default: no device: the whole ladder, default VMAF, the session conventions]",
    ),
    chunks: int | None = typer.Option(
        None,
        "--chunks",
        min=1,
        help="Play only the first N chunks (SessionConfig.n_chunks; overrides the config file).",
    ),
    config: Path | None = typer.Option(  # noqa: B008
        None,
        "--config",
        help="A TOML (or JSON) file with a [session] table of SessionConfig fields, e.g. rtt_s, buffer_cap_s, "
        "rebuffer_penalty, smooth_penalty, qoe_from_chunk, wrap_to; an unknown field is an error.",
    ),
    chunk_seconds: float = typer.Option(
        4.0, "--chunk-seconds", help="Chunk length of a CSV ladder (JSON ladders carry their own)."
    ),
    json_path: Path | None = typer.Option(  # noqa: B008
        None,
        "--json",
        help="Write the summary here: a JSON list, one object per (scheme, device), means over sessions: scheme, device, "
        "sessions, qoe_per_chunk, rebuffer_s, rebuffer_ratio, avg_bitrate_mbps, startup_s, switches, bytes, quality_mean, "
        "quality_p5 (quality null when the ladder has none).",
    ),
    report: Path | None = typer.Option(  # noqa: B008
        None,
        "--report",
        help="Write a self-contained HTML report here (tables, QoE distributions, one session over time, devices).",
    ),
    session: str | None = typer.Option(
        None,
        "--session",
        help="The session drawn over time in the report: a 0-based index or a trace name. "
        "[default: the session with the median QoE under the first scheme]",
    ),
    fit_on: str | None = typer.Option(
        None,
        "--fit-on",
        help="Fit the Marquee scheme's hyperparameters on these traces first (a set name or path, like --traces), "
        "choosing the best of its tuning grid by mean QoE_lin; refused if any of them is also in --traces. "
        "[default: the shipped defaults]",
    ),
    cut: float | None = typer.Option(
        None,
        "--cut",
        help="Cut every trace (of --traces and --fit-on) into sessions of this many seconds, one starting every "
        "--cut-every seconds, so that a long log gives many sessions rather than one that plays its first "
        "minutes; a trace no longer than this stays whole. [default: one session per trace]",
    ),
    cut_every: float | None = typer.Option(
        None, "--cut-every", help="With --cut: seconds between the starts of two sessions. [default: --cut's value]"
    ),
) -> None:
    """Simulate each ABR scheme (on each device) over every trace and compare them.

    One session per trace plays the video chunk by chunk; the simulator follows Pensieve's conventions (start at
    the trace's first sample, 95% payload, 80 ms round trip per chunk, 60 s buffer cap with 0.5 s sleeps, the
    first chunk at rung 1 and counted as start-up; each a SessionConfig field, settable with --config).
    QoE_lin per chunk = bitrate (Mbps) - mu * stall (s) - smooth_penalty * |bitrate change| (Mbps), averaged over
    chunks 2..N; mu is the top bitrate in Mbps of the ladder played (4.3 on Envivio; on a device, the top of the
    ladder it is offered) unless rebuffer_penalty is set. Quality is VMAF through the device's quality model.
    Figures are means over sessions; the JSON and the report are written only once every run has succeeded.
    """
    from marquee import playback
    from marquee.playback.report import render_report, session_index

    scheme_names = _schemes(abr)
    device_names = _devices(device)
    cfg = _session_config(config, chunks)
    if cut_every is not None and cut is None:
        raise ConfigError("--cut-every needs --cut SECONDS (the length of each session)")
    trace_set = _cut(playback.load_traces(traces), cut, cut_every)
    ladder = playback.load_video(video, chunk_seconds=chunk_seconds)
    if cfg.n_chunks is not None and cfg.n_chunks > ladder.n_chunks:
        raise ConfigError(
            f"--chunks/[session] n_chunks={cfg.n_chunks} but video {ladder.name!r} has {ladder.n_chunks} chunks"
        )

    session_index([t.name for t in trace_set], session)  # a bad --session fails before any run
    factories = {name: playback.SCHEMES[name] for name in scheme_names}
    if fit_on is not None and "marquee" in factories:
        factories["marquee"] = _fitted_marquee(playback, fit_on, trace_set, ladder, cfg, cut, cut_every)
    runs = [(s, d) for s in scheme_names for d in device_names]
    results = []
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task("playback", total=len(runs), note=f"{len(trace_set)} traces x {ladder.name}")
        for name, dev in runs:
            tick = time.perf_counter()
            res = playback.simulate(trace_set, ladder, factories[name](), cfg, device=dev)
            results.append(res)
            label = name if dev is None else f"{name}@{dev}"
            bar.update(task, advance=1, note=f"{label}: QoE {res.qoe.mean():.3f} in {time.perf_counter() - tick:.2f} s")

    rows = [r.summary() for r in results]
    page = None
    if report is not None:
        page = render_report(results, traces=traces, video=video, config=cfg, session=session)

    table = Table(
        title=f"playback · {trace_set.name} ({len(trace_set)} sessions) · {ladder.name} ({results[0].rung.shape[1]} chunks)"
    )
    for col in (
        "scheme",
        "device",
        "QoE/chunk",
        "rebuffer s",
        "bitrate Mbps",
        "start-up s",
        "switches",
        "quality",
        "MB",
    ):
        table.add_column(col, justify="left" if col in ("scheme", "device") else "right")
    for m in rows:
        table.add_row(
            escape(m["scheme"]), escape(m["device"] or "–"), f"{m['qoe_per_chunk']:.3f}", f"{m['rebuffer_s']:.2f}",
            f"{m['avg_bitrate_mbps']:.3f}", f"{m['startup_s']:.2f}", f"{m['switches']:.2f}", _f(m["quality_mean"], ".1f"),
            f"{m['bytes'] / 1e6:.2f}",
        )  # fmt: skip
    console.print(table)
    console.print(f"[dim]{escape(_QOE)} Means over sessions.[/]", highlight=False)
    _write_outputs(json_path, rows, report, page)
    err_console.print(f"simulated {len(runs)} run(s) in {time.perf_counter() - start:.2f} s", highlight=False)


def _cut(traces, length_s: float | None, every_s: float | None):
    return traces if length_s is None else traces.cut(length_s, every_s=every_s)


def _fitted_marquee(playback, fit_on: str, scored, ladder, cfg, cut: float | None, cut_every: float | None):
    """The Marquee scheme fitted on ``fit_on``, as a factory; a trace shared with the scored set is refused."""
    train = _cut(playback.load_traces(fit_on), cut, cut_every)

    def key(t):
        return (t.times_s.tobytes(), t.mbps.tobytes())

    shared = {key(t) for t in train} & {key(t) for t in scored}
    if shared:
        raise ConfigError(
            f"--fit-on {fit_on} shares {len(shared)} trace(s) with --traces; fit on traces you do not score on"
        )
    err_console.print(f"fitting marquee on {len(train)} traces of {train.name}...", highlight=False)
    fitted = playback.StochasticMPC().fit(train, ladder, cfg)
    from marquee.playback.stochastic import TUNING_GRID

    chosen = {k: v for k, v in fitted.config.to_dict().items() if k in TUNING_GRID}
    err_console.print(f"marquee fitted: {chosen}", highlight=False)
    return lambda: playback.StochasticMPC.from_config(fitted.config)


@app.command("devices")
@errors_to_exit
def devices(
    as_json: bool = typer.Option(False, "--json", help="Print the device classes as JSON instead of a table."),
) -> None:
    """The built-in device classes: ladder cap, quality model, player buffer and start/resume thresholds, networks."""
    from marquee.playback import DEVICES

    rows = [d.to_dict() for d in DEVICES.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("device", "cap kbps", "quality model", "buffer s", "start s", "resume s", "networks", "description")
    for r in rows:
        cap = "none" if r["max_bitrate_kbps"] is None else f"{r['max_bitrate_kbps']:g}"
        table.add_row(
            r["name"], cap, r["quality_model"], f"{r['buffer_cap_s']:g}", f"{r['start_threshold_s']:g}",
            f"{r['resume_threshold_s']:g}", ", ".join(r["networks"]), escape(r["description"]),
        )  # fmt: skip
    console.print(table)


@app.command("schemes")
@errors_to_exit
def schemes(
    as_json: bool = typer.Option(False, "--json", help="Print the schemes as JSON instead of a table."),
) -> None:
    """The registered ABR schemes (the names --abr takes), whether each plays online or plans offline, and its defaults."""
    from marquee.playback import SCHEMES

    rows = []
    for name, cls in SCHEMES.items():
        scheme = cls()
        conf = getattr(scheme, "config", None)
        defaults = conf.to_dict() if hasattr(conf, "to_dict") else {}
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        rows.append({
            "name": name, "class": f"{cls.__module__}.{cls.__qualname__}", "offline": bool(cls.needs_future),
            "config": defaults, "description": " ".join(doc.split()),
        })  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table("scheme", "kind", "defaults", "description")
    for r in rows:
        defaults = ", ".join(f"{k}={v}" for k, v in r["config"].items())
        table.add_row(r["name"], "offline" if r["offline"] else "online", escape(defaults), escape(r["description"]))
    console.print(table)
