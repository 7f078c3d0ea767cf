"""HTML report of cache replays: miss-ratio curves over cache size per policy, and the table behind them."""

from __future__ import annotations

import os
from pathlib import Path

from marquee._html import esc, page, png, pyplot, table, write_text_atomic
from marquee.cdn.replay import ReplayResult

__all__ = ["render_fill_report", "render_plan_report", "render_replay_report", "write_replay_report"]

_PALETTE = ("#b20710", "#1f5fa8", "#2e8b57", "#8a4fb3", "#d2691e", "#555555", "#008b8b", "#8a6d00", "#c71585", "#4b0082")


def _curves(result: ReplayResult, working_set: int | None) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    policies = list(dict.fromkeys(r.policy for r in result.runs))
    for k, name in enumerate(policies):
        runs = sorted((r for r in result.runs if r.policy == name), key=lambda r: r.cache_bytes)
        x = [r.cache_bytes / working_set if working_set else r.cache_bytes for r in runs]
        colour = _PALETTE[k % len(_PALETTE)]
        axes[0].plot(x, [r.miss_ratio for r in runs], marker="o", ms=3, color=colour, label=name)
        axes[1].plot(x, [r.byte_miss_ratio for r in runs], marker="o", ms=3, color=colour, label=name)
    for ax, label in zip(axes, ("miss ratio", "byte miss ratio"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("cache size (share of the working set)" if working_set else "cache size (bytes)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def render_replay_report(result: ReplayResult, *, working_set_bytes: int | None = None, title: str | None = None,
                         n_objects: int | None = None, n_resized: int | None = None) -> str:
    """The report's HTML: the miss-ratio curves (when more than one size ran) and every run's figures."""
    heading = title or f"Cache replay: {result.source}"
    sizes = {r.cache_bytes for r in result.runs}
    figure = ""
    if len(sizes) > 1:
        figure = (f'<figure><img alt="miss ratio and byte miss ratio over cache size per policy" '
                  f'src="data:image/png;base64,{_curves(result, working_set_bytes)}"></figure>')
    rows = [
        (r.policy, r.cache_bytes, f"{r.cache_bytes / working_set_bytes:.4%}" if working_set_bytes else "–",
         r.requests, r.miss_ratio, r.byte_miss_ratio, f"{r.requests_per_s / 1e6:.2f}")
        for r in result.runs
    ]
    facts = []
    if n_objects is not None:
        facts.append(f"{n_objects:,} objects")
    if working_set_bytes is not None:
        facts.append(f"working set {working_set_bytes:,} bytes")
    if n_resized:
        facts.append(f"{n_resized:,} requests re-sized to their object's first-seen size")
    return page(heading, f"""<p>{esc(", ".join(facts))}. Conventions are libCacheSim 0.3.5's: cache size in bytes, no per-object metadata, an object
larger than the cache is never inserted, an object keeps its first-seen size; miss ratio = misses / requests, byte miss
ratio = missed bytes / requested bytes. Requests per second time the compiled replay loop alone, one core.</p>
{figure}
{table(("policy", "cache bytes", "share of working set", "requests", "miss ratio", "byte miss ratio", "M requests/s"),
       rows, digits=4)}
""")


def write_replay_report(path: str | os.PathLike[str], result: ReplayResult, **kwargs) -> Path:
    """Render :func:`render_replay_report` and write it atomically."""
    return write_text_atomic(path, render_replay_report(result, **kwargs))


def _iv(d: dict) -> str:
    return f"{d['estimate']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def render_fill_report(study: dict, *, title: str | None = None) -> str:
    """A fill study (``marquee.sim.delivery.FillStudy.to_dict()``): hit ratio over the day per plan and policy,
    the table with intervals, and the margins."""
    heading = title or f"Proactive fill on day {study['day']}"
    caps = study["capacity_bytes"]
    plt = pyplot()
    figs = []
    hourly = study.get("hourly_byte_hit_ratio", {})
    for j, cap in enumerate(caps):
        fig, ax = plt.subplots(figsize=(9, 3.6))
        for k, (name, curves) in enumerate(hourly.items()):
            style = "-" if name in ("yesterday", "predicted", "oracle", "expected") else ":"
            ax.plot(range(len(curves[j])), curves[j], style, color=_PALETTE[k % len(_PALETTE)], label=name)
        ax.set_xlabel("hour of the day")
        ax.set_ylabel("byte hit ratio")
        ax.set_title(f"capacity {cap / study['catalog_bytes']:.0%} of the catalog ({cap / 1e12:.2f} TB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, ncol=4)
        fig.tight_layout()
        figs.append(f'<figure><img alt="byte hit ratio by hour per fill plan and reactive policy at '
                    f'{cap / study["catalog_bytes"]:.0%} of the catalog" src="data:image/png;base64,{png(fig)}">'
                    f"</figure>")
    head = ("plan or policy", *[f"{c / study['catalog_bytes']:.0%} of catalog" for c in caps])
    rows = [(name, *[_iv(i) for i in ivs]) for name, ivs in study["hit"].items()]
    rows += [(f"margin {k}", *[_iv(i) for i in v]) for k, v in study["margin"].items()]
    rows.append(("predicted / oracle", *[_iv(i) for i in study["predicted_of_oracle"]]))
    return page(heading, f"""<p>Catalog {study['catalog_bytes'] / 1e12:.2f} TB; the day requested {study['requested_bytes'] / 1e12:.2f} TB,
{study['new_release_share']:.0%} of it from the titles released that day. Fill plans (solid lines) fill an empty site
the night before from yesterday's popularity, the ranker's predicted demand, the expected demand (the mean of
independent draws of the day: the ceiling of any predictor) and the oracle (the day itself); reactive policies
(dotted) cache chunks as requested, warmed on the day before. Byte hit ratio with 95% intervals (bootstrap over
members).</p>
{''.join(figs)}
{table(head, rows)}
""")


def render_plan_report(plan: dict, offered_s, offered_gbps, served_gbps, *, title: str | None = None) -> str:
    """A capacity plan (``CapacityPlan.to_dict()`` and its offered/served series): offered vs served load over the
    event through the chosen site, and every candidate's offload at peak."""
    heading = title or f"Capacity plan: {plan['demand']}"
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6))
    minutes = (offered_s - offered_s[0]) / 60.0 if len(offered_s) else offered_s
    ax.plot(minutes, offered_gbps, color=_PALETTE[0], label="offered")
    ax.plot(minutes, served_gbps, color=_PALETTE[1], label="served inside the ISP")
    lo, hi = plan["window_s"]
    ax.axvspan((lo - offered_s[0]) / 60.0, (hi - offered_s[0]) / 60.0, color="#ddd", alpha=0.5, label="peak window")
    ax.set_xlabel("minutes")
    ax.set_ylabel("Gbps")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    chosen = plan["chosen"]
    verdict = ("no candidate clears the target: widen the grid" if chosen is None else
               f"{chosen['flash']} flash + {chosen['storage']} storage appliances "
               f"(offload at peak {_iv(chosen['offload'])}); appliances needed across the draws: "
               f"{_iv(plan['appliances_needed']) if plan['appliances_needed'] else 'n/a'}")
    rows = [(c["flash"], c["storage"], _iv(c["offload"]), f"{c['content_miss']:.3f}", f"{c['health_miss']:.3f}",
             f"{c['peak_offered_gbps']:.1f}") for c in plan["candidates"]]
    return page(heading, f"""<p>Target: {plan['target']:.0%} of the bytes served inside the ISP at peak. Chosen: {esc(verdict)}.</p>
<figure><img alt="offered and served load over the event" src="data:image/png;base64,{png(fig)}"></figure>
{table(("flash", "storage", "offload at peak [95% over draws]", "content misses", "health misses",
        "peak offered Gbps"), rows)}
""")
