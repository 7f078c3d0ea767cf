"""``marquee scale``: score every member in bulk (serially, on a process pool, or on Ray Data) into the
precomputed table the service serves as its fallback tier."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import HOME_OPTION, console, err_console, errors_to_exit

app = typer.Typer(
    help="Beyond one process: batch-score every member with a registered model into a precomputed top-k table "
    "(`marquee serve --precomputed DIR` answers from it when the online tiers cannot).",
    no_args_is_help=True,
)


def default_table(home: Path | None, ref: str) -> Path:
    from marquee import config

    return config.home(home) / "precomputed" / ref.replace("@", "-").replace(":", "-")


@app.command("score")
@errors_to_exit
def score(
    ref: str = typer.Argument(..., help="Registered model: name@alias, name:version or name."),
    k: int = typer.Option(100, min=1, help="Titles per member."),
    engine: str = typer.Option("process", help="serial (one process), process (a local pool) or ray (Ray Data; pip install 'marquee[ray]')."),
    workers: int = typer.Option(2, min=1, help="Worker processes (process) or actors (ray)."),
    block: int = typer.Option(1024, min=1, help="Members per block."),
    out: Path | None = typer.Option(None, help="Output directory [default: $MARQUEE_HOME/precomputed/<model>]."),
    ray_address: str | None = typer.Option(None, envvar="RAY_ADDRESS", help="An existing Ray cluster (auto, ray://host:10001); default: a local one."),
    home: Path = HOME_OPTION,
) -> None:
    """Score every member of REF's training data and write the top-k table (Parquet + manifest with the
    model's provenance and a checksum) for `marquee serve --precomputed`."""
    from marquee import config
    from marquee.scale import batch_score
    from marquee.serve.precomputed import write_precomputed

    result = batch_score(config.home(home) / "registry", ref, k, engine=engine, workers=workers, block=block, ray_address=ray_address,
                         progress=lambda m: err_console.print(f"  {m}", highlight=False))  # fmt: skip
    path = write_precomputed(out or default_table(home, ref), result.table, result.provenance)
    table = Table(title=f"precomputed {result.provenance['model_version']} -> {path}")
    for col in ("members", "rows", "k", "engine", "workers", "seconds", "members/s"):
        table.add_column(col, justify="right")
    p = result.provenance
    table.add_row(f"{p['members']:,}", f"{result.table.num_rows:,}", str(p["k"]), p["engine"], str(p["workers"]), f"{result.seconds:.2f}",
                  f"{result.members_per_s:,.0f}")  # fmt: skip
    console.print(table)


@app.command("capacity")
@errors_to_exit
def capacity(
    peak_rps: float = typer.Option(..., "--peak-rps", help="Peak requests per second the tier must serve."),
    replica_rps: float = typer.Option(..., "--replica-rps", help="What one replica completes per second at saturation (bench/scale.py measures the heavy tier's)."),
    budget_ms: float = typer.Option(50.0, help="Latency budget for the quantile."),
    quantile: float = typer.Option(0.99, help="Response-time quantile that must fit the budget."),
    check: bool = typer.Option(True, "--check/--no-check", help="Check the plan by simulating the queue (200,000 requests)."),
) -> None:
    """How many replicas a tier needs: the M/M/c queue (Erlang C) at the peak, checked by simulation."""
    import numpy as np

    from marquee.scale.capacity import replicas_needed, response_quantile, simulate

    plan = replicas_needed(peak_rps, replica_rps, budget_ms, q=quantile)
    table = Table(title=f"replicas for {peak_rps:,.0f} req/s at {replica_rps:,.0f} req/s each, p{100 * quantile:g} within {budget_ms:g} ms")
    for col in ("replicas", "utilisation", f"p{100 * quantile:g} ms (queue)", f"p{100 * quantile:g} ms (simulated)", "P(wait)"):
        table.add_column(col, justify="right")
    for c in range(max(1, plan.replicas - 1), plan.replicas + 2):
        t = response_quantile(c, peak_rps, replica_rps, quantile)
        sim = np.percentile(simulate(c, peak_rps, 1000.0 / replica_rps, seed=0), 100 * quantile) if check and np.isfinite(t) else float("nan")
        mark = " <- needed" if c == plan.replicas else ""
        table.add_row(f"{c}{mark}", f"{peak_rps / (c * replica_rps):.0%}", f"{1000 * t:.1f}", f"{sim:.1f}",
                      f"{plan.p_wait:.1%}" if c == plan.replicas else "")  # fmt: skip
    console.print(table)
