"""An HTML report of a leaderboard: the table and one plot per metric with its interval."""

from __future__ import annotations

import base64
import html
import io
import os
from datetime import UTC, datetime
from pathlib import Path

from marquee.evaluate.protocols import Leaderboard

__all__ = ["write_html_report"]


def _metric_plot(board: Leaderboard, metric: str, n_bootstrap: int, seed: int) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked = board.ranked(metric)
    names = [r.name for r in ranked][::-1]
    intervals = [r.evaluation.interval(metric, n_bootstrap=n_bootstrap, seed=seed) for r in ranked][::-1]
    est = [iv.estimate for iv in intervals]
    err = [[iv.estimate - iv.low for iv in intervals], [iv.high - iv.estimate for iv in intervals]]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(names) + 1.2))
    ax.errorbar(est, range(len(names)), xerr=err, fmt="o", capsize=4, color="#b20710")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(f"{metric} (test, 95% bootstrap interval over members)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_html_report(
    board: Leaderboard, path: str | os.PathLike[str], *, dataset: str, n_bootstrap: int = 1000, seed: int = 0
) -> Path:
    """Write a self-contained HTML page (plots embedded) and return its path."""
    metrics = board.results[0].evaluation.metrics
    rows = []
    for r in board.ranked(board.tuned_on):
        cells = "".join(f"<td>{html.escape(str(r.evaluation.interval(m, n_bootstrap=n_bootstrap, seed=seed)))}</td>" for m in metrics)
        config = html.escape(", ".join(f"{k}={v}" for k, v in vars(r.config).items()))
        rows.append(f"<tr><th>{html.escape(r.name)}</th>{cells}<td>{r.fit_seconds:.2f}</td><td><code>{config}</code></td></tr>")
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    plots = "".join(
        f'<figure><img alt="{html.escape(m)}" src="data:image/png;base64,{_metric_plot(board, m, n_bootstrap, seed)}">'
        f"<figcaption>{html.escape(m)}</figcaption></figure>"
        for m in metrics
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marquee leaderboard — {html.escape(dataset)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #141414; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .3rem .7rem; border-bottom: 1px solid #ddd; text-align: left; }}
code {{ font-size: .8rem; }} figure {{ display: inline-block; margin: 1rem; }}
</style></head><body>
<h1>Marquee leaderboard — {html.escape(dataset)}</h1>
<p>Protocol <b>{html.escape(board.protocol)}</b>, split fingerprint <code>{html.escape(board.split_fingerprint)}</code>;
hyperparameters tuned on validation {html.escape(board.tuned_on)}, figures from a refit on train+validation, evaluated on test.
Each cell: mean over members [95% percentile bootstrap interval, {n_bootstrap} resamples].
Generated {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}.</p>
<table><thead><tr><th>model</th>{head}<th>fit s</th><th>chosen config</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
{plots}
</body></html>
"""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
