"""``marquee experiment``: analyse an A/B test, simulate one to try it, look up assignments."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from marquee.cli._common import console, err_console, errors_to_exit
from marquee.errors import ConfigError

app = typer.Typer(help="Analyse A/B tests (CUPED, confidence sequences, guardrails), simulate one, look up assignments.", no_args_is_help=True)

_STYLE = {"ship": "bold green", "keep running": "bold yellow", "no detectable effect": "bold cyan", "stop for harm": "bold red", "invalid": "bold magenta"}


def _pct(x: float) -> str:
    return f"{x:+.2%}" if math.isfinite(x) else "–"


def _interval(iv) -> str:  # type: ignore[no-untyped-def]
    return f"[{_pct(iv.low)}, {_pct(iv.high)}]"


def level_of(level: float) -> str:
    from marquee.experiment.decision import level_text

    return level_text(level)


def _variance_change(c, idle: bool) -> str:  # type: ignore[no-untyped-def]
    """CUPED's change in the variance of the difference: -49% = 49% less (the HTML report's convention too)."""
    if idle:
        return "no data"
    return f"{-c.variance_reduction:+.0%}" if c.variance_reduction is not None else ""


@app.command("analyze")
@errors_to_exit
def analyze(
    config: Path = typer.Argument(..., help="The analysis plan: a TOML or JSON file naming tables, variants, metrics, guardrails, alpha."),
    report: Path | None = typer.Option(None, "--report", "-r", help="Write the HTML report here (e.g. reports/experiment-NAME.html); none is written unless named."),
    no_report: bool = typer.Option(False, "--no-report", help="Print the table only (the default; kept for scripts that pass it)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the full readout as JSON here."),
    threads: int | None = typer.Option(None, help="DuckDB threads [default: every core]."),
) -> None:
    """Analyse an experiment: per-variant means, lifts with intervals, CUPED, the confidence sequence,
    the sample-ratio check, guardrails, and the decision (ship / keep running / no detectable effect /
    stop for harm / invalid). Tables may be Parquet or CSV, events long or wide (see examples/experiment/)."""
    from marquee.experiment import analyze as run_analysis
    from marquee.experiment import write_html_report

    readout = run_analysis(config, threads=threads)
    cfg = readout.config
    method = "confidence sequence" if cfg.sequential else "fixed-horizon"
    tests = max((c.tests for c in readout.comparisons), default=1)
    family = f"{cfg.correction} correction over {tests} tests" if cfg.correction != "none" else "no correction"
    table = Table(title=f"experiment {cfg.name} · {method} · alpha {cfg.alpha:g} · {family}")
    for col in ("metric", "variant", f"{cfg.control} mean", "variant mean", "lift", "interval", "level", "p", "adj. p", "CUPED var.", "guardrail"):
        table.add_column(col, justify="left" if col in ("metric", "variant", "guardrail") else "right", no_wrap=col in ("metric", "interval"))
    status = {(g.metric, g.variant): str(g.status) for g in readout.guardrails}
    guarded = {g.metric for g in cfg.guardrails}
    for c in readout.comparisons:
        sig = c.significant(cfg.alpha) and c.metric not in guarded
        shown = c.relative_adjusted if c.relative_adjusted is not None else c.relative  # what the decision agrees with
        table.add_row(
            c.metric + (" (primary)" if c.metric == cfg.primary else ""), c.variant, f"{c.control_mean:.4g}", f"{c.variant_mean:.4g}",
            f"[bold]{_pct(c.relative.estimate)}[/]" if sig else _pct(c.relative.estimate), _interval(shown), level_of(shown.level),
            f"{c.p_value:.3g}", f"{c.p_adjusted:.3g}", _variance_change(c, c.metric in readout.cuped_idle), status.get((c.metric, c.variant), ""),
        )  # fmt: skip
        if c.plain is not None:  # the same quantity without CUPED: reported, not tested
            q = c.plain
            table.add_row(
                "  without CUPED", q.variant, f"{q.control_mean:.4g}", f"{q.variant_mean:.4g}", f"[dim]{_pct(q.relative.estimate)}[/]",
                f"[dim]{_interval(q.relative)}[/]", f"[dim]{level_of(q.relative.level)}[/]", f"[dim]{q.p_value:.3g}[/]", "[dim]untested[/]", "", "",
            )  # fmt: skip
    console.print(table)
    console.print(
        "[dim]lift: relative to the control mean. interval: the lifts the decision's test does not reject, at the level its adj. p implies (1 - alpha·p/adj. p): it "
        f"excludes 0 exactly when adj. p < {cfg.alpha:g}; guardrails: the {level_of(1 - cfg.alpha)} interval they are read from. "
        "CUPED var.: change in the variance of the difference (-49% = 49% less). Without CUPED: the same quantity, reported, untested.[/]",
        highlight=False,
    )
    members = ", ".join(f"{k} {v:,}" for k, v in readout.members.items())
    console.print(f"members: {members} · sample ratio: {readout.srm.describe()}", highlight=False)
    for note in readout.notes:
        console.print(f"[yellow]note[/]: {escape(note)}", highlight=False)
    d = readout.decision
    console.print(f"[{_STYLE[str(d.decision)]}]{str(d.decision).upper()}[/] — {escape(d.reason)}", highlight=False)
    if report is not None and not no_report:
        out = write_html_report(readout, report)
        console.print(f"report: {out}")
    else:
        console.print(f"no report written (name one with --report reports/experiment-{cfg.name}.html)", highlight=False)
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
