"""An experiment's HTML report: the decision, the table, lift with intervals, sequences over time."""

from __future__ import annotations

import base64
import html
import io
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from marquee.experiment.analysis import Comparison
from marquee.experiment.decision import Decision, level_text
from marquee.experiment.readout import Readout

__all__ = ["write_html_report"]

_COLOURS = {
    Decision.SHIP: "#1b7f3b", Decision.KEEP_RUNNING: "#8a6d00", Decision.NO_DETECTABLE_EFFECT: "#1f5fa8",
    Decision.STOP_FOR_HARM: "#b20710", Decision.INVALID: "#555555",
}  # fmt: skip
_PALETTE = ("#b20710", "#1f5fa8", "#2e8b57", "#8a4fb3", "#d2691e", "#555555")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _lift_plot(readout: Readout) -> str:
    """Relative lift per metric × treatment: fixed-horizon interval and confidence sequence."""
    plt = _pyplot()
    rows = [(c.metric, c.variant) for c in readout.fixed]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(rows) + 1.4))
    for k, (label, comps, offset, colour) in enumerate(
        (("fixed-horizon (Welch)", readout.fixed, -0.14, "#1f5fa8"), ("confidence sequence", readout.sequential, 0.14, "#b20710"))
    ):
        pts = [(rows.index((c.metric, c.variant)), c.relative) for c in comps if (c.metric, c.variant) in rows]
        finite = [(y, iv) for y, iv in pts if all(math.isfinite(x) for x in (iv.estimate, iv.low, iv.high))]
        if not finite:
            continue
        ys = [len(rows) - 1 - y + offset for y, _ in finite]
        est = [100 * iv.estimate for _, iv in finite]
        err = [[100 * (iv.estimate - iv.low) for _, iv in finite], [100 * (iv.high - iv.estimate) for _, iv in finite]]
        ax.errorbar(est, ys, xerr=err, fmt="o", capsize=3, color=colour, label=label, zorder=3 + k)
    for g in readout.config.guardrails:
        sign = -1 if readout.config.metric(g.metric).higher_is_better else 1
        ys = [len(rows) - 1 - i for i, (m, _) in enumerate(rows) if m == g.metric]
        if ys:
            ax.vlines(100 * sign * g.margin, min(ys) - 0.4, max(ys) + 0.4, colors="#8a6d00", linestyles="dashed", label=f"margin ({g.metric})")
    ax.axvline(0, color="#141414", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{m} · {v}" for m, v in rows][::-1])
    ax.set_xlabel(f"relative lift vs {readout.config.control} (%), {1 - readout.config.alpha:.0%} intervals")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def _sequence_plot(readout: Readout) -> str:
    """One panel per metric: each treatment's relative lift and confidence sequence by day."""
    plt = _pyplot()
    metrics = [m.name for m in readout.config.metrics]
    cols = 2 if len(metrics) > 1 else 1
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 2.8 * nrows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        for i, variant in enumerate(readout.config.treatments):
            pts = readout.trajectories.get((metric, variant), ())
            pts = [p for p in pts if all(math.isfinite(x) for x in (p.estimate, p.low, p.high))]
            if not pts:
                continue
            days = [p.day + 1 for p in pts]
            colour = _PALETTE[i % len(_PALETTE)]
            ax.fill_between(days, [100 * p.low for p in pts], [100 * p.high for p in pts], color=colour, alpha=0.18, lw=0)
            ax.plot(days, [100 * p.estimate for p in pts], color=colour, marker=".", label=variant)
        ax.axhline(0, color="#141414", lw=0.8)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("day of the experiment (look at its end)")
        ax.set_ylabel("relative lift (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


def _fmt(x: float | None, pct: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:+.2%}" if pct else f"{x:.4g}"


def _corrected(c: Comparison) -> str:
    iv = c.relative_adjusted
    if iv is None or c.tests == 0:
        return "not tested"
    return f"[{_fmt(iv.low, True)}, {_fmt(iv.high, True)}] at {level_text(iv.level)}"


def _variance_change(c: Comparison, idle: bool) -> str:
    """CUPED's change in the variance of the difference: -49% = 49% less (the command line's convention too)."""
    if idle:
        return "none: no covariate data"
    return f"{-c.variance_reduction:+.1%}" if c.variance_reduction is not None else ""


def write_html_report(readout: Readout, path: str | os.PathLike[str]) -> Path:
    """Write a self-contained HTML page (plots embedded) and return its path."""
    cfg = readout.config
    esc = html.escape
    status = {(g.metric, g.variant): str(g.status) for g in readout.guardrails}
    rows = []
    for c in readout.comparisons:
        fixed = readout.comparison(c.metric, c.variant, "fixed")
        rows.append(
            "<tr>" + "".join(f"<td>{esc(x)}</td>" for x in (
                c.metric, c.variant, f"{c.control_mean:.4g}", f"{c.variant_mean:.4g}",
                f"{_fmt(c.absolute.estimate)} [{_fmt(c.absolute.low)}, {_fmt(c.absolute.high)}]",
                f"{_fmt(c.relative.estimate, True)} [{_fmt(c.relative.low, True)}, {_fmt(c.relative.high, True)}]",
                _corrected(c), f"{c.p_value:.3g}", f"{c.p_adjusted:.3g}", f"{fixed.p_value:.3g}",
                _variance_change(c, c.metric in readout.cuped_idle), status.get((c.metric, c.variant), ""),
            )) + "</tr>"
        )  # fmt: skip
        if c.plain is not None:  # the same quantity without CUPED: reported beside it, never tested
            q, qf = c.plain, fixed.plain
            rows.append(
                '<tr class="plain">' + "".join(f"<td>{esc(x)}</td>" for x in (
                    "\u2003without CUPED", q.variant, f"{q.control_mean:.4g}", f"{q.variant_mean:.4g}",
                    f"{_fmt(q.absolute.estimate)} [{_fmt(q.absolute.low)}, {_fmt(q.absolute.high)}]",
                    f"{_fmt(q.relative.estimate, True)} [{_fmt(q.relative.low, True)}, {_fmt(q.relative.high, True)}]",
                    "not tested", f"{q.p_value:.3g}", "not tested", f"{qf.p_value:.3g}" if qf is not None else "", "", "",
                )) + "</tr>"
            )  # fmt: skip
    method = "anytime-valid confidence sequences (safe to look daily)" if cfg.sequential else "fixed-horizon Welch tests"
    day0 = datetime.fromtimestamp(readout.start, UTC).strftime("%Y-%m-%d")
    members = ", ".join(f"{esc(k)} {v:,}" for k, v in readout.members.items())
    notes = "".join(f"<li>{esc(n)}</li>" for n in readout.notes)
    colour = _COLOURS[readout.decision.decision]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment {esc(cfg.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #141414; max-width: 78rem; }}
table {{ border-collapse: collapse; font-size: .9rem; }} th, td {{ padding: .3rem .6rem; border-bottom: 1px solid #ddd; text-align: left; }}
.decision {{ border-left: .5rem solid {colour}; padding: .6rem 1rem; background: #f6f6f6; }}
.decision b {{ color: {colour}; text-transform: uppercase; }} figure {{ margin: 1rem 0; }}
tr.plain td {{ color: #666; }} .caption {{ font-size: .85rem; color: #444; max-width: 70rem; }}
</style></head><body>
<h1>Experiment {esc(cfg.name)}</h1>
<p class="decision"><b>{esc(str(readout.decision.decision))}</b> — {esc(readout.decision.reason)}</p>
<p>Members: {members}. Sample-ratio check: {esc(readout.srm.describe())} ({"mismatch" if readout.srm.mismatch else "ok"} at {cfg.srm_alpha:g}).
{readout.days} days from {day0} (UTC). Decisions from {method}, alpha {cfg.alpha:g}, {esc(cfg.correction)} correction across
success metrics × variants (guardrails are non-inferiority tests, which need none). Primary metric: <b>{esc(cfg.primary)}</b>.
Analysed in {readout.seconds:.2f} s. Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}.</p>
{f"<ul>{notes}</ul>" if notes else ""}
<table><thead><tr><th>metric</th><th>variant</th><th>{esc(cfg.control)} mean</th><th>variant mean</th><th>absolute lift ({level_text(1 - cfg.alpha)})</th>
<th>relative lift ({level_text(1 - cfg.alpha)})</th><th>relative lift, decision's interval</th><th>p</th><th>adjusted p</th><th>fixed-horizon p</th>
<th>CUPED variance change</th><th>guardrail</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<p class="caption">Lift intervals are {level_text(1 - cfg.alpha)} intervals of each comparison alone ({esc(cfg.relative_interval)} for the
relative lift). The decision's interval is the set of relative lifts the comparison's own test does not reject (Fieller's
construction) at the level its adjusted p-value implies (1 &minus; alpha&middot;p/adjusted p): it excludes 0 exactly when the adjusted
p-value is below {cfg.alpha:g}, as the decision reads it. Guardrails are read from the {level_text(1 - cfg.alpha)} relative interval.
CUPED variance change: the change in the variance of the difference (&minus;49% = 49% less). A CUPED metric's row "without CUPED"
is the same quantity without the covariate, reported for reference and not tested.</p>
<h2>Lift per metric</h2>
<figure><img alt="relative lift with intervals" src="data:image/png;base64,{_lift_plot(readout)}"></figure>
<h2>Confidence sequences over time</h2>
<p>Each day's look at the cumulative data; the band covers the true lift at every look at once with probability {1 - cfg.alpha:.0%}.</p>
<figure><img alt="confidence sequences" src="data:image/png;base64,{_sequence_plot(readout)}"></figure>
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
