"""HTML reports a retention analyst reads: survival by segment with bands, calibration, model scores, Qini curves
and the plan's expected value. One self-contained page each (plots inlined as PNG), written atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from marquee._html import esc, fmt, page, png, pyplot, table, write_text_atomic
from marquee.retention.qini import UpliftCurve
from marquee.retention.survival import KaplanMeier

__all__ = ["render_fit_report", "render_plan_report", "write_report"]

_PALETTE = ("#b20710", "#1f5fa8", "#2e8b57", "#8a4fb3", "#d2691e", "#555555", "#008b8b", "#8a6d00")


def _img(fig: object, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{png(fig)}">'


def _survival_plot(km: KaplanMeier, label: str) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for k, name in enumerate(km.segments_):
        t, s = km.curves_[name]
        lo, hi = km.bands_[name]
        colour = _PALETTE[k % len(_PALETTE)]
        ax.step(t, s, where="post", color=colour, label=name)
        ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.15)
    ax.set_xlabel(f"tenure ({label})")
    ax.set_ylabel("still subscribed")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title=km.config.segment)
    fig.tight_layout()
    return _img(fig, "Kaplan-Meier survival by segment with 95% bands")


def _calibration_plot(cal: object, horizon: float) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    pred, obs = np.asarray(cal.predicted), np.asarray(cal.observed)  # type: ignore[attr-defined]
    lo, hi = np.asarray(cal.low), np.asarray(cal.high)  # type: ignore[attr-defined]
    top = float(max(pred.max(initial=0), hi.max(initial=0))) * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="#999", lw=1, ls="--")
    ax.errorbar(pred, obs, yerr=[obs - lo, hi - obs], fmt="o", color=_PALETTE[0], ms=4, capsize=2)
    ax.set_xlabel(f"predicted P(leave within {horizon:g})")
    ax.set_ylabel("observed (Kaplan-Meier)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _img(fig, "calibration: predicted against observed churn per decile")


def render_fit_report(
    *,
    title: str,
    summary: Sequence[tuple[str, object]],
    scores: Sequence[Sequence[object]],
    km: KaplanMeier | None,
    calibration: object | None,
    horizon: float,
    unit: str = "periods",
    bands: Mapping[str, object] | None = None,
) -> str:
    """The churn model's page: data summary, held-out scores with intervals, survival by segment, calibration."""
    parts = ["<h2>Data</h2>", table(["", "value"], [[k, v] for k, v in summary])]
    parts += [
        "<h2>Held-out scores</h2>",
        (
            "<p>Concordance (Harrell's and Uno's) and the integrated Brier score on the held-out members, each with "
            "a 95% bootstrap interval over them. Higher concordance and lower Brier are better.</p>"
        ),
        table(["model", "Harrell's C", "Uno's C", "integrated Brier", "fit s"], scores),
    ]
    if km is not None:
        parts += [f"<h2>Survival by {esc(str(km.config.segment or 'everyone'))}</h2>", _survival_plot(km, unit)]
    if calibration is not None:
        parts += [
            f"<h2>Calibration at {horizon:g} {esc(unit)}</h2>",
            (
                "<p>Held-out members in deciles of predicted churn; observed churn by Kaplan-Meier within each, "
                "with its 95% interval.</p>"
            ),
            _calibration_plot(calibration, horizon),
        ]
    if bands:
        parts += ["<h2>Per-member bands</h2>", table(["", "value"], [[k, v] for k, v in bands.items()])]
    return page(title, "\n".join(parts))


def _qini_plot(curves: Mapping[str, UpliftCurve]) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.8), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items(), strict=True):
        ax.plot(c.fraction, c.incremental, color=_PALETTE[1], label="model")
        ax.fill_between(c.fraction, c.lower, c.upper, color=_PALETTE[1], alpha=0.2)
        ax.plot(c.fraction, c.random, color="#999", ls="--", label="random")
        ax.set_title(f"{name}: Qini {c.qini.estimate:.4f}", fontsize=10)
        ax.set_xlabel("share targeted (highest estimated gain first)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("extra members retained per member")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return _img(fig, "Qini curves per intervention with bootstrap bands")


def render_plan_report(
    *,
    title: str,
    summary: Sequence[tuple[str, object]],
    plans: Sequence[Sequence[object]],
    qini: Mapping[str, UpliftCurve],
    note: str = "",
) -> str:
    """The plan's page: the budget and what it buys, plans side by side, Qini curves per intervention."""
    parts = ["<h2>Plan</h2>", table(["", "value"], [[k, v] for k, v in summary])]
    if note:
        parts.append(f"<p>{esc(note)}</p>")
    parts += ["<h2>Plans compared</h2>", table(["plan", "members treated", "spent", "extra members kept", "by intervention"],
                                                plans)]  # fmt: skip
    parts += [
        "<h2>Qini curves (held-out trial members)</h2>",
        (
            "<p>Members ranked by the model's estimated gain; the curve is the extra members retained per member "
            "of the population when the top share gets the intervention, with a 90% bootstrap band. Above the "
            "dashed line the model ranks better than chance.</p>"
        ),
        _qini_plot(qini),
    ]
    return page(title, "\n".join(parts))


def write_report(path: str | os.PathLike[str], html: str) -> Path:
    return write_text_atomic(path, html)


def interval_text(iv: object, digits: int = 3) -> str:
    """``estimate [low, high]`` of an :class:`~marquee.metrics.intervals.Interval`."""
    return f"{fmt(iv.estimate, digits)} [{fmt(iv.low, digits)}, {fmt(iv.high, digits)}]"  # type: ignore[attr-defined]
