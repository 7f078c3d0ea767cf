"""``marquee experiment``: analyse an A/B test, simulate one to try it, look up assignments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import console, err_console, errors_to_exit
from marquee.errors import ConfigError

app = typer.Typer(help="Analyse A/B tests (CUPED, confidence sequences, guardrails), simulate one, look up assignments.", no_args_is_help=True)

_STYLE = {"ship": "bold green", "keep running": "bold yellow", "stop for harm": "bold red", "invalid": "bold magenta"}


def _pct(x: float) -> str:
    return f"{x:+.2%}" if math.isfinite(x) else "–"


@app.command("analyze")
@errors_to_exit
def analyze(
    config: Path = typer.Argument(..., help="The analysis plan: a TOML or JSON file naming tables, variants, metrics, guardrails, alpha."),
    report: Path | None = typer.Option(None, "--report", "-r", help="HTML report to write [default: reports/experiment-NAME.html]."),
    no_report: bool = typer.Option(False, "--no-report", help="Print the table only."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the full readout as JSON here."),
    threads: int | None = typer.Option(None, help="DuckDB threads [default: every core]."),
) -> None:
    """Analyse an experiment: per-variant means, lifts with intervals, CUPED, the confidence sequence,
    the sample-ratio check, guardrails, and the decision (ship / keep running / stop for harm / invalid)."""
    from marquee.experiment import analyze as run_analysis
    from marquee.experiment import write_html_report

    readout = run_analysis(config, threads=threads)
    cfg = readout.config
    method = "confidence sequence" if cfg.sequential else "fixed-horizon"
    table = Table(title=f"experiment {cfg.name} · {method} · alpha {cfg.alpha:g} · {cfg.correction} correction")
    for col in ("metric", "variant", f"{cfg.control} mean", "variant mean", "relative lift", "interval", "p", "adj. p", "CUPED", "guardrail"):
        table.add_column(col, justify="left" if col in ("metric", "variant", "guardrail") else "right")
    status = {(g.metric, g.variant): str(g.status) for g in readout.guardrails}
    for c in readout.comparisons:
        sig = c.significant(cfg.alpha) and c.metric not in {g.metric for g in cfg.guardrails}
        table.add_row(
            c.metric + (" (primary)" if c.metric == cfg.primary else ""), c.variant, f"{c.control_mean:.4g}", f"{c.variant_mean:.4g}",
            f"[bold]{_pct(c.relative.estimate)}[/]" if sig else _pct(c.relative.estimate),
            f"[{_pct(c.relative.low)}, {_pct(c.relative.high)}]", f"{c.p_value:.3g}", f"{c.p_adjusted:.3g}",
            f"-{c.variance_reduction:.0%} var" if c.variance_reduction is not None else "", status.get((c.metric, c.variant), ""),
        )  # fmt: skip
    console.print(table)
    members = ", ".join(f"{k} {v:,}" for k, v in readout.members.items())
    console.print(f"members: {members} · sample ratio: {readout.srm.describe()}", highlight=False)
    for note in readout.notes:
        console.print(f"[yellow]note[/]: {note}", highlight=False)
    d = readout.decision
    console.print(f"[{_STYLE[str(d.decision)]}]{str(d.decision).upper()}[/] — {d.reason}", highlight=False)
    if not no_report:
        out = write_html_report(readout, report or Path("reports") / f"experiment-{cfg.name}.html")
        console.print(f"report: {out}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(readout.to_dict(), indent=2, default=str) + "\n")
        console.print(f"json: {json_path}")
    err_console.print(f"analysed in {readout.seconds:.2f} s", highlight=False)


@app.command("simulate")
@errors_to_exit
def simulate(
    directory: Path = typer.Argument(..., help="Where to write exposures.parquet, events.parquet and experiment.json."),
    members: int = typer.Option(20_000, help="Members enrolled."),
    variants: str = typer.Option("control,treatment", help="Comma-separated variant names, control first (equal weights)."),
    lift: float = typer.Option(0.03, help="Relative change of every treatment's session rate (0.03 = +3%)."),
    harm: float = typer.Option(0.0, help="Relative change of every treatment's rebuffer rate (a guardrail)."),
    days: int = typer.Option(14, help="Experiment length in days."),
    seed: int = typer.Option(0, help="Random seed: the same seed writes the same data."),
) -> None:
    """Write a synthetic streaming experiment with known effects, and a plan to analyse it."""
    from marquee.experiment import write_demo

    names = [v.strip() for v in variants.split(",") if v.strip()]
    if len(names) < 2:
        raise ConfigError(f"--variants needs at least two comma-separated names, got {variants!r}")
    config = write_demo(
        directory, members, variants=names, lift={v: lift for v in names[1:]}, harm={v: harm for v in names[1:]}, days=days, seed=seed
    )
    console.print(f"wrote {directory}/exposures.parquet, events.parquet and {config.name}")
    console.print(f"next: marquee experiment analyze {config}", highlight=False)


@app.command("assign")
@errors_to_exit
def assign(
    config: Path = typer.Argument(..., help="Allocation file (TOML/JSON) with [[layers]] of experiments and optional [[holdouts]]."),
    member: list[str] = typer.Option(..., "--member", "-m", help="Member id (repeat for several)."),
) -> None:
    """Show which variant of every experiment a member gets (deterministic; the same in every process)."""
    from marquee.config import load_config_file
    from marquee.experiment import Allocator

    allocator = Allocator.from_dict(load_config_file(config))
    table = Table("member", "layer", "experiment", "variant")
    for m in allocator.assign(member):  # "42" and 42 hash alike
        if m.holdouts:
            table.add_row(str(m.member_id), "", f"holdout: {', '.join(m.holdouts)}", "")
        for a in m.assignments:
            table.add_row(str(m.member_id), a.layer, a.experiment, a.variant)
        if not m.assignments and not m.holdouts:
            table.add_row(str(m.member_id), "", "(no experiment)", "")
    console.print(table)
