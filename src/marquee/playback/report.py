"""A playback run's HTML report: the summary table, QoE distributions, one session over time, devices side by side.

One self-contained page (plots are embedded PNGs drawn with matplotlib's Agg backend) for a player engineer
comparing schemes, and devices, on one trace set and one video::

    from marquee import playback
    from marquee.playback.report import write_report

    traces, video = playback.load_traces("fcc_pensieve88"), playback.load_video("envivio")
    runs = [playback.simulate(traces, video, playback.SCHEMES[n]()) for n in ("rb", "bba")]
    write_report("reports/playback.html", runs, traces="fcc_pensieve88", video="envivio")
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from marquee._html import esc as _esc
from marquee._html import png as _png
from marquee._html import pyplot as _pyplot
from marquee._html import table as _table
from marquee._html import write_text_atomic
from marquee.errors import ConfigError
from marquee.playback.device import DEVICES
from marquee.playback.session import SessionConfig, Sessions

__all__ = ["median_session", "render_report", "resolve_session", "session_index", "write_report", "write_text_atomic"]

_PALETTE = ("#b20710", "#1f5fa8", "#2e8b57", "#8a4fb3", "#d2691e", "#555555", "#008b8b", "#8a6d00")


def median_session(sessions: Sessions) -> int:
    """Index of the session with the median QoE (the lower of the two middle ones for an even count)."""
    order = np.argsort(sessions.qoe, kind="stable")
    return int(order[(len(order) - 1) // 2])


def session_index(trace_names: Sequence[str], session: int | str | None) -> int | None:
    """``session`` as an index into ``trace_names``: an index (or its digits) or a trace name; ``None`` stays ``None``.

    Raises:
        ConfigError: the index is out of range or no trace has that name.
    """
    if session is None:
        return None
    n = len(trace_names)
    if isinstance(session, str) and not session.lstrip("-").isdigit():
        if session not in trace_names:
            shown = ", ".join(trace_names[:5]) + (", ..." if n > 5 else "")
            raise ConfigError(
                f"session {session!r} names no trace of the run; pass an index 0..{n - 1} or a trace name ({shown})"
            )
        return list(trace_names).index(session)
    k = int(session)
    if not 0 <= k < n:
        raise ConfigError(f"session index {k} is out of range; the run has sessions 0..{n - 1}")
    return k


def resolve_session(sessions: Sessions, session: int | str | None) -> int:
    """The session to draw: :func:`session_index`, or :func:`median_session` for ``None``."""
    k = session_index(sessions.trace_names, session)
    return median_session(sessions) if k is None else k


def _label(s: Sessions, several_devices: bool) -> str:
    return f"{s.scheme}@{s.device}" if several_devices and s.device is not None else s.scheme


def _colours(results: Sequence[Sessions]) -> dict[str, str]:
    schemes = list(dict.fromkeys(s.scheme for s in results))
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(schemes)}


def _devices(results: Sequence[Sessions]) -> list[str | None]:
    return list(dict.fromkeys(s.device for s in results))


def _mu(s: Sessions) -> float:
    return float(s.video.bitrates_mbps[-1] if s.config.rebuffer_penalty is None else s.config.rebuffer_penalty)


def _qoe_plot(results: Sequence[Sessions]) -> str:
    """Box plot of per-session QoE for every run; beside it the CDF for the first device's runs."""
    plt = _pyplot()
    several = len(_devices(results)) > 1
    colours = _colours(results)
    fig, (cdf, box) = plt.subplots(1, 2, figsize=(11, max(3.2, 0.32 * len(results) + 1.4)))
    first = results[0].device
    for s in results:
        if s.device != first:
            continue
        q = np.sort(s.qoe)
        cdf.plot(q, np.arange(1, q.size + 1) / q.size, drawstyle="steps-post", color=colours[s.scheme], label=s.scheme)
    cdf.set_xlabel("QoE_lin per chunk (session mean)")
    cdf.set_ylabel("share of sessions")
    cdf.set_title(f"CDF{'' if first is None else f' on {first}'}", fontsize=10)
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=8)
    labels = [_label(s, several) for s in results][::-1]
    # Matplotlib 3.10 replaced vert=False by orientation="horizontal" (and deprecated vert in 3.11).
    horizontal = (
        {"orientation": "horizontal"} if "orientation" in inspect.signature(box.boxplot).parameters else {"vert": False}
    )
    parts = box.boxplot([s.qoe for s in results][::-1], patch_artist=True, widths=0.6, **horizontal)
    for patch, s in zip(parts["boxes"], results[::-1], strict=True):
        patch.set_facecolor(colours[s.scheme])
        patch.set_alpha(0.45)
    box.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    box.set_xlabel("QoE_lin per chunk (session mean); box: quartiles, whiskers: 1.5 IQR")
    box.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _session_plot(results: Sequence[Sessions], k: int, device: str | None) -> str:
    """Buffer level (top) and bitrate (bottom) over time for session ``k`` of each scheme on ``device``."""
    plt = _pyplot()
    colours = _colours(results)
    runs = [s for s in results if s.device == device]
    fig, (buf, rate) = plt.subplots(2, 1, figsize=(11, 5.6), sharex=True)
    stalled = False
    for s in runs:
        c = colours[s.scheme]
        t = s.time_s[k]
        buf.plot(t, s.buffer_s[k], color=c, marker=".", ms=3, lw=1.2, label=s.scheme)
        # Bitrate of chunk i holds while it downloads, up to its arrival at t[i] - sleep[i].
        arrive = t - s.sleep_s[k]
        start = np.concatenate(([0.0], t[:-1]))
        rate.step(np.append(start, t[-1]), np.append(s.bitrate_mbps[k], s.bitrate_mbps[k, -1]), where="post", color=c,
                  lw=1.2 + 1.6 * (len(runs) - 1 - runs.index(s)) / max(len(runs) - 1, 1), alpha=0.8, label=s.scheme)  # fmt: skip
        for i in np.flatnonzero(s.stall_s[k] > 0):
            stalled = True
            for ax in (buf, rate):
                ax.axvspan(arrive[i] - s.stall_s[k, i], arrive[i], color=c, alpha=0.18, lw=0)
            buf.plot([arrive[i]], [0.0], marker="x", color=c, ms=7, mew=2)
        buf.axvline(float(s.startup_s[k]), color=c, ls=":", lw=1)
    buf.set_ylabel("buffer after each chunk (s)")
    buf.grid(alpha=0.3)
    buf.legend(fontsize=8, ncol=min(len(runs), 6), loc="upper left")
    title = f"session {k}: {runs[0].trace_names[k]}" + ("" if device is None else f" on {device}")
    buf.set_title(
        title + (" (shaded / x: stalls)" if stalled else " (no stall)") + "; dotted: playback starts", fontsize=10
    )
    rate.set_ylabel("chunk bitrate (Mbps)")
    rate.set_xlabel("time since the session began (s)")
    rate.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _device_plot(results: Sequence[Sessions]) -> str:
    """Grouped bars per device: mean QoE, quality, rebuffer seconds and MB per session, one bar per scheme."""
    plt = _pyplot()
    colours = _colours(results)
    devices = _devices(results)
    schemes = list(colours)
    panels: list[tuple[str, Any]] = [
        ("QoE_lin per chunk", lambda s: float(s.qoe.mean())),
        ("quality (device model)", lambda s: None if s.video.quality is None else float(s.quality_mean.mean())),
        ("rebuffer per session (s)", lambda s: float(s.rebuffer_s.mean())),
        ("MB per session", lambda s: float(s.bytes.mean()) / 1e6),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
    width = 0.8 / max(len(schemes), 1)
    by = {(s.scheme, s.device): s for s in results}
    for ax, (title, value) in zip(axes, panels, strict=True):
        drawn = False
        for j, name in enumerate(schemes):
            xs, ys = [], []
            for i, d in enumerate(devices):
                s = by.get((name, d))
                v = None if s is None else value(s)
                if v is not None:
                    xs.append(i + (j - (len(schemes) - 1) / 2) * width)
                    ys.append(v)
            if xs:
                drawn = True
                ax.bar(xs, ys, width=width, color=colours[name], label=name)
        ax.set_xticks(range(len(devices)), [str(d) for d in devices], fontsize=8)
        ax.set_title(title if drawn else f"{title}: the ladder has none", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(len(labels), 1), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _png(fig)


def render_report(
    results: Sequence[Sessions],
    *,
    traces: str,
    video: str,
    config: SessionConfig | None = None,
    session: int | str | None = None,
    title: str | None = None,
) -> str:
    """The report's HTML (see :func:`write_report`)."""
    results = list(results)
    if not results:
        raise ConfigError("a playback report needs at least one run, got none")
    names = results[0].trace_names
    for s in results[1:]:
        if s.trace_names != names:
            raise ConfigError(f"every run of a report must play the same traces; {s.scheme!r} played others")
    k = resolve_session(results[0], session)
    devices = _devices(results)
    several = len(devices) > 1
    cfg = config or results[0].config
    n_chunks = results[0].rung.shape[1]

    summary_rows = []
    for s in results:
        m = s.summary()
        summary_rows.append([
            m["scheme"], m["device"] or "–", m["sessions"], m["qoe_per_chunk"], m["rebuffer_s"], m["rebuffer_ratio"],
            m["avg_bitrate_mbps"], m["startup_s"], f"{m['switches']:.2f}", m["quality_mean"], m["quality_p5"],
            f"{m['bytes'] / 1e6:.2f}", f"{_mu(s):g}",
        ])  # fmt: skip
    summary = _table(
        ["scheme", "device", "sessions", "QoE/chunk", "rebuffer s", "rebuffer ratio", "bitrate Mbps", "start-up s",
         "switches", "quality", "quality p5", "MB", "mu"],
        summary_rows,
    )  # fmt: skip

    conventions = _table(["field", "value"], [[key, repr(v)] for key, v in cfg.to_dict().items()])
    ladders = []
    for s in results:
        v = s.video
        row = [
            v.name,
            "/".join(f"{r:g}" for r in v.bitrates_kbps),
            f"{v.chunk_seconds:g}",
            v.n_chunks,
            "yes" if v.quality is not None else "no",
        ]
        if row not in ladders:
            ladders.append(row)
    ladder = _table(["ladder played", "rungs (kbps)", "chunk s", "chunks", "quality"], ladders)
    profiles = [DEVICES[d].to_dict() for d in devices if d is not None and d in DEVICES]
    device_table = ""
    if profiles:
        device_table = "<h2>Device profiles</h2>" + _table(
            ["device", "description", "cap (kbps)", "quality model", "buffer s", "start s", "resume s", "networks"],
            [[p["name"], p["description"], "none" if p["max_bitrate_kbps"] is None else f"{p['max_bitrate_kbps']:g}",
              p["quality_model"], f"{p['buffer_cap_s']:g}", f"{p['start_threshold_s']:g}", f"{p['resume_threshold_s']:g}",
              ", ".join(p["networks"])] for p in profiles],
        ) + "<p class=\"caption\">A device's buffer and start/resume thresholds replace the conventions' on its runs; " \
            "its cap drops rungs above it, and its quality model maps the ladder's VMAF to what its screen shows.</p>"  # fmt: skip
    unknown = [d for d in devices if d is not None and d not in DEVICES]
    if unknown:
        device_table += f"<p>Devices without a built-in profile: {_esc(', '.join(unknown))}.</p>"

    over_time = "".join(
        f'<figure><img alt="buffer and bitrate over time{"" if d is None else " on " + _esc(d)}" '
        f'src="data:image/png;base64,{_session_plot(results, k, d)}"></figure>'
        for d in devices
    )
    device_section = ""
    if several:
        device_section = (
            "<h2>Devices side by side</h2><p>Means over sessions per device; quality is scored by each device's model.</p>"
            f'<figure><img alt="per-device QoE, quality, rebuffer and MB" src="data:image/png;base64,{_device_plot(results)}"></figure>'
        )
    heading = title or f"Playback: {traces} × {video}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_esc(heading)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #141414; max-width: 80rem; }}
table {{ border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }}
th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }} .caption {{ font-size: .85rem; color: #444; max-width: 70rem; }}
</style></head><body>
<h1>{_esc(heading)}</h1>
<p>Traces <b>{_esc(traces)}</b> ({len(names)} sessions, one per trace), video <b>{_esc(video)}</b> ({n_chunks} chunks played).
Schemes: {_esc(", ".join(dict.fromkeys(s.scheme for s in results)))}. Devices: {_esc(", ".join(str(d) for d in devices) if devices != [None] else "none")}.
Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}.</p>
<h2>Summary</h2>
{summary}
<p class="caption">Means over sessions. QoE_lin per chunk = bitrate (Mbps) &minus; mu &middot; stall (s) &minus;
smooth_penalty &middot; |bitrate change| (Mbps), averaged over chunks from qoe_from_chunk on (the first chunk is start-up);
mu is the ladder's top bitrate in Mbps unless rebuffer_penalty is set (so it depends on the ladder a device is offered).
Rebuffer: stall seconds after start-up; ratio: stall / (stall + played). Start-up: seconds until playback began.
Switches: rung changes between consecutive chunks. Quality: mean perceptual quality (VMAF, through the device's model) and
its 5th percentile over chunks. MB: megabytes downloaded per session.</p>
<h2>QoE distribution</h2>
<figure><img alt="QoE distribution per scheme" src="data:image/png;base64,{_qoe_plot(results)}"></figure>
<h2>One session over time</h2>
<p>Session {k} (trace <code>{_esc(names[k])}</code>){" — the median QoE of " + _esc(results[0].scheme) if session is None else ""}:
buffer after each chunk arrived and the bitrate of each chunk while it downloaded; stalls shaded.</p>
{over_time}
{device_section}
<h2>Conventions</h2>
{conventions}
{ladder}
{device_table}
</body></html>
"""


def write_report(
    path: str | os.PathLike[str],
    results: Sequence[Sessions],
    *,
    traces: str,
    video: str,
    config: SessionConfig | None = None,
    session: int | str | None = None,
    title: str | None = None,
) -> Path:
    """Write a self-contained HTML report of playback runs and return its path.

    Args:
        path: where to write it; the page is rendered first and replaces ``path`` atomically (a temporary file in
            the same directory, then a rename), so a failure leaves what was there.
        results: runs of :func:`marquee.playback.simulate` over the same traces (one per scheme and device).
        traces: the trace set's name or path, as shown.
        video: the video's name or path, as shown.
        config: the conventions to show (default: the first run's, which a device may have changed).
        session: the session drawn over time: an index, a trace name, or ``None`` for the first run's median QoE.
        title: the page's heading.

    Raises:
        ConfigError: no runs, runs over different traces, or ``session`` names no session.
    """
    page = render_report(results, traces=traces, video=video, config=config, session=session, title=title)
    return write_text_atomic(path, page)
