"""``marquee page``: learn the homepage's page model in the simulated world, and compare page policies."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import DATASET_OPTION, HOME_OPTION, console, err_console, errors_to_exit, load_dataset

app = typer.Typer(
    help="The homepage's page policies: fit the page model (how members respond to a whole page of rows) on "
    "logged impressions in the simulated world, and compare the learned page with the rule template.",
    no_args_is_help=True,
)


def default_model_path(home: Path | None) -> Path:
    """Where `marquee page fit` writes the model and `marquee serve` looks for it."""
    from marquee import config

    return config.home(home) / "page" / "model.json"


@app.command("fit")
@errors_to_exit
def fit(
    dataset: str = DATASET_OPTION,
    members: int = typer.Option(3000, min=100, help="Members of the simulated world (one logged page and one evaluated page each)."),
    seed: int = typer.Option(0, help="Seeds the world, its log and the sessions."),
    out: Path | None = typer.Option(None, help="Where to write the fitted model (JSON) [default: $MARQUEE_HOME/page/model.json]."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the comparison as JSON here."),
    home: Path = HOME_OPTION,
) -> None:
    """Fit the page model on impressions logged in a world calibrated on DATASET, save it for `marquee serve`,
    and print expected plays per page of the template and the learned page (the world's truth, 95% intervals).

    The logging policy shows each member the template's rows in a random order, so the model can tell a
    row's position from its appeal. About a minute on MovieLens-100K with 3,000 members."""
    from dataclasses import asdict

    from marquee.sim.page import run_page_study

    ds = load_dataset(dataset, home)
    run = run_page_study(ds.interactions, members=members, seed=seed, progress=lambda m: err_console.print(f"  {m}", highlight=False))
    path = run.model.save(out or default_model_path(home))
    params = Table(title=f"page model fitted on {run.impressions:,} impressions ({run.play_rate:.1%} played)")
    for col in ("alpha (score)", "beta", "resume", "intent", "eta_row", "eta_col"):
        params.add_column(col, justify="right")
    params.add_row(*(f"{v:.3f}" for v in asdict(run.model.params_).values()))
    console.print(params)
    summary = run.study.summary()
    table = Table(title=f"expected plays per page, {run.members:,} sessions of the simulated world (paired, 95% intervals)")
    for col in ("policy", "plays / page", "vs template", "lift", "rows", "genres covered"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for r in summary:
        table.add_row(str(r["policy"]), f"{r['plays_per_page']:.4f} [{r['low']:.4f}, {r['high']:.4f}]",
                      f"{r['diff']:+.4f} [{r['diff_low']:+.4f}, {r['diff_high']:+.4f}]", f"{r['lift']:+.1%}",
                      f"{r['rows']:.1f}", f"{r['distinct_genres']:.1f}")  # fmt: skip
    console.print(table)
    err_console.print(f"page model written to {path}; `marquee serve` uses it for the learned page", highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"params": asdict(run.model.params_), "impressions": run.impressions, "summary": summary}, indent=2))
