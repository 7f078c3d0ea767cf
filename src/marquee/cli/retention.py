"""``marquee retention``: churn models with per-member bands, and intervention plans chosen by uplift."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import console, err_console, errors_to_exit
from marquee.errors import ConfigError, DataError

app = typer.Typer(
    help="Retention: fit churn models (survival) on a member table, score each member's probability of leaving "
    "within a horizon with a band, and plan who gets which intervention under a budget from a randomised trial. "
    "'marquee retention simulate' writes example tables from the simulated world.",
    no_args_is_help=True,
)

MODELS = ("discrete", "boosted", "cox", "km")


def _names(text: str | None) -> list[str]:
    return [] if not text else list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))


def _say(msg: str) -> None:
    err_console.print(msg, highlight=False)


def _write_table(table, path: Path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    tmp.replace(path)


def _model(name: str, varying: int, seed: int):  # type: ignore[no-untyped-def]
    from marquee.retention import BoostedHazard, CoxPH, DiscreteHazard, KaplanMeier

    if name == "discrete":
        return DiscreteHazard(varying=varying)
    if name == "boosted":
        return BoostedHazard(seed=seed)
    if name == "cox":
        return CoxPH()
    if name == "km":
        return KaplanMeier()
    raise ConfigError(f"unknown model {name!r}; use some of {', '.join(MODELS)}")


@app.command("fit")
@errors_to_exit
def fit(
    table: Path = typer.Argument(..., help="Member table (CSV or Parquet): one row per member."),
    duration: str = typer.Option("duration", help="Column of periods each member has been observed (>= 0)."),
    event: str = typer.Option("event", help="Column of event flags: 1 (or yes/true) = left, 0 = still subscribed."),
    covariates: str | None = typer.Option(None, help="Comma-separated covariate columns [default: all others]."),
    exclude: str | None = typer.Option(None, help="Comma-separated columns that are not covariates (ids, dates)."),
    models: str = typer.Option("discrete,cox", help=f"Models to compare on held-out members: {', '.join(MODELS)}."),
    test_share: float = typer.Option(0.25, help="Share of members held out (stratified by event) for the scores."),
    horizon: float = typer.Option(3.0, help="Horizon (periods) of the churn probability and calibration."),
    segment: str | None = typer.Option(None, help="Text column to draw survival curves by in the report."),
    varying: int = typer.Option(0, help="DiscreteHazard: degree in log-tenure of covariate effects' drift."),
    draws: int = typer.Option(200, help="Posterior draws kept for per-member bands."),
    out: Path | None = typer.Option(None, help="Save the DiscreteHazard (fitted on every member) with its bands here."),
    report: Path | None = typer.Option(None, help="Write an HTML report here."),
    seed: int = typer.Option(0, help="Seeds the split, the draws and the intervals."),
) -> None:
    """Compare churn models on held-out members (concordance, integrated Brier, with intervals), then fit the
    discrete-time hazard on every member and save it with per-member bands for `marquee retention score`."""
    import numpy as np

    from marquee.metrics import calibration_table, concordance_interval, integrated_brier_interval
    from marquee.retention import ChurnBands, DiscreteHazard, KaplanMeier, SurvivalTable, read_table
    from marquee.retention.report import interval_text, render_fit_report, write_report

    if not 0 < test_share < 1:
        raise ConfigError(f"--test-share must be in (0, 1), got {test_share}")
    chosen = _names(models)
    for name in chosen:
        _model(name, varying, seed)
    raw = read_table(table)
    data = SurvivalTable.from_arrow(raw, duration=duration, event=event, covariates=_names(covariates) or None,
                                    exclude=_names(exclude), source=str(table))  # fmt: skip
    if len(data) < 20 or data.event.sum() < 5:
        raise DataError(f"has {len(data)} members and {int(data.event.sum())} events; fitting needs at least 20 and 5",
                        source=str(table))  # fmt: skip
    _say(f"{table}: {len(data):,} members, {int(data.event.sum()):,} left, covariates: {', '.join(data.covariates)}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(data), bool)
    for e in (0, 1):
        rows = np.flatnonzero(data.event == e)
        test[rng.choice(rows, round(test_share * rows.size), replace=False)] = True
    train, held = data.take(np.flatnonzero(~test)), data.take(np.flatnonzero(test))
    lo, hi = np.percentile(held.duration, [10, 90])
    times = np.unique(np.linspace(max(lo, 1e-9), hi, 20))
    grid = Table(title=f"Held-out scores ({int(test.sum()):,} members, 95% intervals)")
    for col in ("model", "Harrell's C", "Uno's C", "integrated Brier", "fit s"):
        grid.add_column(col, justify="left" if col == "model" else "right")
    rows_out = []
    calibration = None
    for name in chosen:
        t0 = time.perf_counter()
        model = _model(name, varying, seed).fit(train)
        fit_s = time.perf_counter() - t0
        risk = model.risk(held)
        harrell = concordance_interval(held.duration, held.event, risk, seed=seed)
        uno = concordance_interval(held.duration, held.event, risk, train_time=train.duration,
                                   train_event=train.event, tau=float(hi), seed=seed)  # fmt: skip
        ibs = integrated_brier_interval(train.duration, train.event, held.duration, held.event,
                                        model.survival(held, times), times, seed=seed)  # fmt: skip
        row = [name, interval_text(harrell), interval_text(uno), interval_text(ibs, 4), f"{fit_s:.1f}"]
        grid.add_row(*row)
        rows_out.append(row)
        if name == "discrete":
            calibration = calibration_table(model.churn_probability(held, horizon, start=0), held.duration,
                                            held.event, horizon)  # fmt: skip
        _say(f"  {name}: fitted in {fit_s:.1f}s")
    console.print(grid)
    band_rows = None
    if out is not None:
        bands = ChurnBands(DiscreteHazard(varying=varying), n_draws=draws, seed=seed).fit(data)
        meta = {"duration": duration, "event": event, "source": str(table), "members": len(data),
                "events": int(data.event.sum())}  # fmt: skip
        bands.save(out, metadata=meta)
        band_rows = {"model": "DiscreteHazard fitted on every member", "posterior draws": draws, "saved to": str(out)}
        console.print(f"saved the churn model with {draws} posterior draws to {out}")
    if report is not None:
        km = KaplanMeier(segment=segment).fit(data) if segment else KaplanMeier().fit(data)
        summary = [("table", str(table)), ("members", len(data)), ("left", int(data.event.sum())),
                   ("censored", int((data.event == 0).sum())), ("covariates", ", ".join(data.covariates))]  # fmt: skip
        html = render_fit_report(title=f"Churn model: {table.name}", summary=summary, scores=rows_out, km=km,
                                 calibration=calibration, horizon=horizon, bands=band_rows)  # fmt: skip
        console.print(f"report: {write_report(report, html)}")


@app.command("score")
@errors_to_exit
def score(
    model_dir: Path = typer.Argument(..., help="A model saved by `marquee retention fit --out`."),
    table: Path = typer.Argument(..., help="Members to score (CSV or Parquet) with the model's covariates."),
    horizon: float = typer.Option(3.0, help="Probability of leaving within this many periods."),
    tenure: str | None = typer.Option(
        None, help="Column of each member's tenure now [default: the model's duration column if present, else 0]."
    ),
    id_column: str | None = typer.Option(None, "--id-column", help="Column copied to the output to name members."),
    out: Path = typer.Option(..., help="Output file (.csv or .parquet): probability, low, high per member."),
) -> None:
    """Each member's probability of leaving within the horizon, with the band saved at fit time."""
    import numpy as np
    import pyarrow as pa

    from marquee.retention import ChurnBands, read_table
    from marquee.retention.table import numeric_column

    bands, meta = ChurnBands.load(model_dir)
    raw = read_table(table)
    col = tenure or (str(meta.get("duration")) if meta.get("duration") in raw.column_names else None)
    if col is not None and col not in raw.column_names:
        raise DataError(f"has no column {col!r} (the --tenure column)", source=str(table), column=col)
    start = np.zeros(raw.num_rows) if col is None else numeric_column(raw.column(col), col, str(table))
    bands.model.covariates_.encode(raw, source=str(table))  # a missing covariate or unseen category names this file
    if (start < 0).any():
        i = int(np.flatnonzero(start < 0)[0]) + 1
        raise DataError("is negative; tenure is periods subscribed, >= 0", source=str(table), row=i, column=col)
    t0 = time.perf_counter()
    scores = bands.score(raw, int(np.ceil(horizon)), start=start)
    elapsed = time.perf_counter() - t0
    cols = {} if id_column is None else {id_column: raw.column(id_column)}
    result = pa.table({**cols, "probability": scores.probability, "low": scores.low, "high": scores.high})
    _write_table(result, out)
    console.print(f"scored {raw.num_rows:,} members in {elapsed:.1f}s (level {scores.level:.0%}, horizon "
                  f"{horizon:g}); mean probability {scores.probability.mean():.4f}; wrote {out}")  # fmt: skip


def _costs(path: Path | None, targets, targets_path: Path, interventions: list[str]):  # type: ignore[no-untyped-def]
    """(n, K) per-member costs: ``cost_<name>`` columns of the targets table, else the costs table's rows."""
    import numpy as np

    from marquee.retention import read_table
    from marquee.retention.table import numeric_column

    n = targets.num_rows
    out = np.empty((n, len(interventions)))
    table = read_table(path) if path is not None else None
    names: list[str] = []
    if table is not None:
        for c in ("intervention", "cost"):
            if c not in table.column_names:
                raise DataError(f"has no column {c!r}; a costs table has columns intervention,cost", source=str(path),
                                column=c)  # fmt: skip
        names = [str(x) for x in table.column("intervention").to_pylist()]
        cost_col = table.column("cost")
        for i, v in enumerate(cost_col.to_pylist()):
            if v is None or v == "":
                raise DataError(f"intervention {names[i]!r} has no cost", source=str(path), row=i + 1, column="cost")
        costs = numeric_column(cost_col, "cost", str(path))
        if (costs < 0).any():
            i = int(np.flatnonzero(costs < 0)[0]) + 1
            raise DataError(f"is {costs[i - 1]:g}, negative; a cost is >= 0", source=str(path), row=i, column="cost")
    for k, name in enumerate(interventions):
        col = f"cost_{name}"
        if col in targets.column_names:
            out[:, k] = numeric_column(targets.column(col), col, str(targets_path))
            if (out[:, k] < 0).any():
                i = int(np.flatnonzero(out[:, k] < 0)[0]) + 1
                raise DataError(f"is {out[i - 1, k]:g}, negative; a cost is >= 0", source=str(targets_path), row=i,
                                column=col)  # fmt: skip
        elif name in names:
            out[:, k] = costs[names.index(name)]
        else:
            raise DataError(f"intervention {name!r} has no cost: add a row '{name},<cost>' to the costs table or a "
                            f"column {col!r} to the targets", source=str(path) if path is not None else "--costs",
                            column="cost")  # fmt: skip
    return out


@app.command("plan")
@errors_to_exit
def plan(
    trial: Path = typer.Argument(..., help="Randomised trial (CSV/Parquet): covariates, the arm and the outcome."),
    targets: Path = typer.Argument(..., help="Members to plan for (CSV/Parquet) with the same covariates."),
    budget: float = typer.Option(..., help="Total cost the plan may spend."),
    costs: Path | None = typer.Option(
        None,
        help="Costs table (intervention,cost); per-member cost_<name> columns in the targets table take precedence.",
    ),
    treatment: str = typer.Option("arm", help="Trial column naming each member's arm."),
    control: str = typer.Option("control", help="The arm value meaning no intervention."),
    outcome: str = typer.Option("retained", help="Trial column: 1 = still subscribed at the horizon, 0 = left."),
    id_column: str | None = typer.Option(None, "--id-column", help="Member id column (not a covariate)."),
    exclude: str | None = typer.Option(None, help="Comma-separated columns that are not covariates."),
    learner: str = typer.Option("glm", help="Uplift learner: glm, t, x or dr (bench/retention.py compares them)."),
    holdout: float = typer.Option(0.3, help="Share of the trial held out to estimate the plan's value."),
    out: Path = typer.Option(..., help="Output (.csv or .parquet): each target's intervention and estimated gain."),
    report: Path | None = typer.Option(None, help="Write an HTML report here."),
    seed: int = typer.Option(0, help="Seeds the holdout split and the learners."),
) -> None:
    """Who gets which intervention (at most one each) under a budget, from the uplift a randomised trial shows;
    with the plan's expected extra members kept (doubly robust, 90% interval) and the A/B test that would confirm
    it. Assignment probabilities are the trial's arm shares (the trial must have been randomised)."""
    import numpy as np
    import pyarrow as pa

    from marquee.retention import read_table
    from marquee.retention.plan import budgeted_plan, plan_value, size_test
    from marquee.retention.qini import qini_curve
    from marquee.retention.report import interval_text, render_plan_report, write_report
    from marquee.retention.table import Covariates, event_column
    from marquee.retention.uplift import UpliftModel

    if not 0 < holdout < 1:
        raise ConfigError(f"--holdout must be in (0, 1), got {holdout}")
    t_raw, g_raw = read_table(trial), read_table(targets)
    for col in (treatment, outcome):
        if col not in t_raw.column_names:
            raise DataError(f"has no column {col!r}", source=str(trial), column=col)
    arms_text = [str(x) if x is not None else None for x in t_raw.column(treatment).to_pylist()]
    if None in arms_text:
        raise DataError("is missing", source=str(trial), row=arms_text.index(None) + 1, column=treatment)
    interventions = sorted(set(arms_text) - {control})
    if control not in arms_text or not interventions:
        raise DataError(f"needs a {control!r} arm and at least one intervention; found {sorted(set(arms_text))}",
                        source=str(trial), column=treatment)  # fmt: skip
    arm = np.asarray([0 if a == control else interventions.index(a) + 1 for a in arms_text])
    y = event_column(t_raw.column(outcome), outcome, str(trial))
    skip = {treatment, outcome, *(_names(exclude)), *([id_column] if id_column else [])}
    names = [c for c in t_raw.column_names if c not in skip and not c.startswith("cost_")]
    cov = Covariates.learn(t_raw, names, source=str(trial))
    x_trial = cov.encode(t_raw, source=str(trial))
    x_targets = cov.encode(g_raw, source=str(targets))
    cost = _costs(costs, g_raw, targets, interventions)
    shares = np.bincount(arm, minlength=len(interventions) + 1) / arm.size
    rng = np.random.default_rng(seed)
    held = rng.random(arm.size) < holdout
    _say(f"{trial}: {arm.size:,} members, arms {dict(zip([control, *interventions], np.bincount(arm).tolist()))}; "
         f"fitting the {learner} uplift learner on {int((~held).sum()):,}")  # fmt: skip
    model = UpliftModel(learner=learner, seed=seed).fit(x_trial[~held], arm[~held], y[~held], shares)
    gain = model.effect(x_targets)
    the_plan = budgeted_plan(gain, cost, budget)
    h = np.flatnonzero(held)
    h_plan = budgeted_plan(model.effect(x_trial[h]), cost.mean(axis=0)[None, :].repeat(h.size, 0),
                           budget / max(g_raw.num_rows, 1) * h.size)  # fmt: skip
    value = plan_value(h_plan.assignment, arm[h], y[h], shares, model.potential_outcomes(x_trial[h]))
    n = g_raw.num_rows
    control_rate = float(y[arm == 0].mean())
    lift = value.estimate
    members = size_test(control_rate, lift) if 0 < control_rate + lift < 1 and lift > 0 else None
    chosen = the_plan.assignment
    label = np.asarray(["none", *interventions], dtype=object)[chosen + 1]
    est = np.where(chosen >= 0, gain[np.arange(n), np.maximum(chosen, 0)], 0.0)
    spend = np.where(chosen >= 0, cost[np.arange(n), np.maximum(chosen, 0)], 0.0)
    cols = {} if id_column is None else {id_column: g_raw.column(id_column)}
    _write_table(pa.table({**cols, "intervention": label.tolist(), "estimated_gain": est, "cost": spend}), out)
    grid = Table(title="Plan")
    grid.add_column("", justify="left")
    grid.add_column("value", justify="right")
    summary = [
        ("members planned for", f"{n:,}"), ("budget", f"{budget:,.2f}"), ("spent", f"{the_plan.spent:,.2f}"),
        *[(f"given {name}", f"{int(c):,}") for name, c in zip(interventions, the_plan.counts, strict=True)],
        ("extra members kept (model's own estimate)", f"{the_plan.expected_kept:,.1f}"),
        ("extra members kept (DR, held-out trial, 90%)", interval_text(
            type(value)(value.estimate * n, value.low * n, value.high * n, value.level), 1)),
        ("A/B test to confirm (members per arm)", "-" if members is None else f"{members:,}"),
    ]  # fmt: skip
    for k, v in summary:
        grid.add_row(k, v)
    console.print(grid)
    console.print(f"wrote {out}")
    if report is not None:
        curves = {}
        for k, name in enumerate(interventions, start=1):
            rows = h[(arm[h] == 0) | (arm[h] == k)]
            curves[name] = qini_curve(model.effect(x_trial[rows])[:, k - 1], arm[rows] == k, y[rows], seed=k)
        plans = [["uplift plan", int((chosen >= 0).sum()), the_plan.spent, the_plan.expected_kept,
                  json.dumps(dict(zip(interventions, map(int, the_plan.counts), strict=True)))]]  # fmt: skip
        html = render_plan_report(title=f"Retention plan: {targets.name}", summary=summary, plans=plans, qini=curves)
        console.print(f"report: {write_report(report, html)}")


@app.command("simulate")
@errors_to_exit
def simulate_cmd(
    members: int = typer.Option(20_000, help="Members in the simulated world."),
    out: Path = typer.Option(Path("retention-sim"), help="Directory for the tables."),
    seed: int = typer.Option(0, help="Seeds the world and the subscriptions."),
    home: Path | None = typer.Option(None, help="Marquee home (MovieLens-100K is fetched there on first use)."),
) -> None:
    """Write example tables from the simulated world (calibrated on MovieLens-100K): history.csv (fit), trial.csv
    and targets.csv (plan), costs.csv, and truth.csv (each member's true churn probability and effects)."""
    import numpy as np
    import pyarrow as pa

    from marquee.cli._common import load_dataset
    from marquee.rank import EASE
    from marquee.sim import World
    from marquee.sim.delivery import persona_rows
    from marquee.sim.subscriptions import INTERVENTIONS, SubscriptionConfig, Subscriptions

    if members < 1000:
        raise ConfigError(f"--members must be at least 1000, got {members}")
    data = load_dataset("movielens-100k", home)
    _say(f"fitting a world of {members:,} members on MovieLens-100K")
    world = World(n_members=members, seed=seed).fit(data.interactions)
    rows = persona_rows(world, EASE().fit(data.interactions), 10)
    _say("simulating subscriptions (engagement, rebuffering, renewals)")
    subs = Subscriptions(world, rows, SubscriptionConfig(), seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    _write_table(subs.table(), out / "history.csv")
    rng = np.random.default_rng(seed)
    active = rng.permutation(np.flatnonzero(subs.active))
    trial, target = active[: active.size // 2], active[active.size // 2 :]
    arm, retained = subs.experiment(trial, seed=rng)
    names = np.asarray(["control", *INTERVENTIONS], dtype=object)
    drop = ["duration", "event"]
    t_tab = subs.table(trial).drop_columns(drop).append_column("tenure_now", pa.array(subs.tenure[trial]))
    t_tab = t_tab.append_column("arm", pa.array(names[arm].tolist())).append_column("retained", pa.array(retained))
    _write_table(t_tab, out / "trial.csv")
    g_tab = subs.table(target).drop_columns(drop).append_column("tenure_now", pa.array(subs.tenure[target]))
    cost = subs.costs(target)
    for k, name in enumerate(INTERVENTIONS):
        g_tab = g_tab.append_column(f"cost_{name}", pa.array(cost[:, k]))
    _write_table(g_tab, out / "targets.csv")
    mean_cost = cost.mean(axis=0)
    _write_table(pa.table({"intervention": list(INTERVENTIONS), "cost": mean_cost}), out / "costs.csv")
    eff = subs.effect(target)
    truth = {"member_id": subs.world.members_.ids[target], "churn_probability": subs.churn_probability(target)}
    truth.update({f"effect_{n}": eff[:, k] for k, n in enumerate(INTERVENTIONS)})
    _write_table(pa.table(truth), out / "truth.csv")
    budget = 0.1 * target.size * float(cost[:, INTERVENTIONS.index("discount")].mean())
    console.print(f"wrote {out}/history.csv ({subs.n_members:,} members, {int(subs.event.sum()):,} left), trial.csv "
                  f"({trial.size:,}), targets.csv ({target.size:,}), costs.csv, truth.csv")  # fmt: skip
    console.print(f"next: marquee retention fit {out}/history.csv --exclude member_id --segment plan --out "
                  f"{out}/model\n      marquee retention plan {out}/trial.csv {out}/targets.csv --id-column "
                  f"member_id --budget {budget:.0f} --out {out}/plan.csv")  # fmt: skip
