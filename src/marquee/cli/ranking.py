"""``marquee train``, ``marquee train-context``, ``marquee evaluate`` and ``marquee recommend``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from marquee.cli._common import DATASET_OPTION, HOME_OPTION, console, err_console, load_dataset, progress
from marquee.errors import ConfigError

ALL_MODELS = "popular,item_knn,ease,als,bpr,sasrec"

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="MARQUEE_CONFIG", help="TOML/JSON file with \\[models.NAME] params and grid overrides."
)


def _models_config(path: Path | None) -> dict[str, Any]:
    from marquee.config import load_config_file

    if path is None:
        return {}
    cfg = load_config_file(path)
    unknown = sorted(set(cfg) - {"models"})
    if unknown:
        raise ConfigError(f"config file {path} has unknown section {unknown[0]!r}; expected [models.NAME] tables")
    return cfg.get("models", {})


def _split(data, protocol: str):  # type: ignore[no-untyped-def]
    from marquee.data import global_temporal, leave_one_out

    if protocol == "loo":
        return leave_one_out(data)
    if protocol == "global":
        return global_temporal(data)
    raise ConfigError(f"--split must be 'loo' (temporal leave-one-out) or 'global' (global temporal), got {protocol!r}")


class _Bars:
    """Progress bars for the protocol: one bar per model, trials then the final refit."""

    def __init__(self, candidates) -> None:  # type: ignore[no-untyped-def]
        self.progress = progress()
        self.tasks = {c.name: self.progress.add_task(c.name, total=c.n_trials() + 1, note="tuning") for c in candidates}
        self.best: dict[str, float] = {}

    def trial_done(self, candidate: str, trial) -> None:  # type: ignore[no-untyped-def]
        self.best[candidate] = max(self.best.get(candidate, float("-inf")), trial.value)
        self.progress.update(self.tasks[candidate], advance=1, note=f"best validation {self.best[candidate]:.4f}")

    def refit_done(self, candidate: str, result) -> None:  # type: ignore[no-untyped-def]
        self.progress.update(self.tasks[candidate], advance=1, note=f"test {result.evaluation.metrics[0]} {result.evaluation.value(result.evaluation.metrics[0]):.4f}")


def _leaderboard_table(board, dataset: str, n_bootstrap: int, seed: int) -> Table:  # type: ignore[no-untyped-def]
    metrics = board.results[0].evaluation.metrics
    table = Table(title=f"{dataset} · {board.protocol} · split {board.split_fingerprint} · test, 95% bootstrap intervals")
    table.add_column("model", style="bold")
    for m in metrics:
        table.add_column(m, justify="right")
    table.add_column("fit s", justify="right")
    for r in board.ranked(board.tuned_on):
        cells = []
        for m in metrics:
            iv = r.evaluation.interval(m, n_bootstrap=n_bootstrap, seed=seed)
            cells.append(f"{iv.estimate:.4f} [dim][{iv.low:.3f}, {iv.high:.3f}][/]")
        table.add_row(r.name, *cells, f"{r.fit_seconds:.2f}")
    return table


def evaluate(
    models: str = typer.Option(ALL_MODELS, "--models", "-m", help="Comma-separated models to put through the protocol."),
    dataset: str = DATASET_OPTION,
    split: str = typer.Option("loo", help="Protocol: 'loo' (temporal leave-one-out per member) or 'global' (global temporal)."),
    config: Path | None = CONFIG_OPTION,
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Search each model's grid on validation (else use defaults)."),
    metric: str = typer.Option("ndcg@10", help="Validation metric that chooses hyperparameters."),
    report: Path | None = typer.Option(Path("reports/leaderboard.html"), help="HTML report to write (plots with intervals)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the leaderboard as JSON."),
    compare: tuple[str, str] | None = typer.Option(None, help="Paired test of two models on the test members: --compare A B."),
    export_recs: Path | None = typer.Option(None, help="Write one model's test top-10 as CSV user_id,rank,item_id."),
    export_model: str | None = typer.Option(None, help="Model whose lists --export-recs writes [default: the leader]."),
    bootstrap: int = typer.Option(1000, help="Bootstrap resamples for intervals."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    home: Path = HOME_OPTION,
) -> None:
    """Tune on validation, refit on train+validation, evaluate on test: a leaderboard with intervals."""
    from marquee.evaluate import build_candidates, run_protocol, write_html_report

    names = [m.strip() for m in models.split(",") if m.strip()]
    candidates = build_candidates(names, _models_config(config), tune=tune)
    if compare is not None:
        for name in compare:
            if name not in names:
                raise ConfigError(f"--compare names {name!r}, which is not among --models {names}")
    if export_model is not None and export_model not in names:
        raise ConfigError(f"--export-model {export_model!r} is not among --models {names}")
    ds = load_dataset(dataset, home)
    sp = _split(ds.interactions, split)
    err_console.print(
        f"split {sp.protocol}: {len(sp.train):,} train rows, {len(sp.test):,} test members, "
        f"{sp.n_duplicates} duplicates removed, {sp.n_unevaluated} members not evaluated · fingerprint [bold]{sp.fingerprint()}[/]"
    )
    bars = _Bars(candidates)
    with bars.progress:
        board = run_protocol(candidates, sp, metric=metric, listener=bars)
    console.print(_leaderboard_table(board, ds.name, bootstrap, seed))
    if compare is not None:
        a, b = compare
        for m in board.results[0].evaluation.metrics:
            if m.startswith("coverage"):
                continue
            c = board.compare(a, b, m, n_bootstrap=bootstrap, seed=seed)
            verdict = "[green]significant[/]" if c.significant else "[yellow]not significant[/]"
            console.print(
                f"{a} - {b} on {m}: {c.difference.estimate:+.4f} [{c.difference.low:+.4f}, {c.difference.high:+.4f}] "
                f"paired t p={c.p_value_t:.3g}, Wilcoxon p={c.p_value_wilcoxon:.3g} → {verdict}"
            )
    if report is not None:
        path = write_html_report(board, report, dataset=ds.name, n_bootstrap=bootstrap, seed=seed)
        console.print(f"report: {path}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"dataset": ds.name, **board.to_dict(n_bootstrap=bootstrap, seed=seed)}, indent=2) + "\n")
        console.print(f"json: {json_out}")
    if export_recs is not None:
        result = board[export_model] if export_model else board.ranked(metric)[0]
        _export(result, export_recs)
        console.print(f"test top-10 of {result.name}: {export_recs}")


def _export(result, path: Path) -> None:  # type: ignore[no-untyped-def]
    model, ev = result.model, result.evaluation
    member_ids = model.members_.ids[ev.member_idx]
    titles = model.titles_.ids[ev.topk[:, :10]]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "rank", "item_id"])
        for u, row in zip(member_ids.tolist(), titles.tolist(), strict=True):
            for rank, item in enumerate(row, start=1):
                w.writerow([u, rank, item])


def train(
    model: str = typer.Argument(..., help=f"Model to train: one of {ALL_MODELS}."),
    dataset: str = DATASET_OPTION,
    config: Path | None = CONFIG_OPTION,
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Choose hyperparameters on the leave-one-out validation split first."),
    name: str | None = typer.Option(None, help="Registry name [default: the model's name]."),
    promote: str | None = typer.Option("production", help="Alias to point at the new version ('' to leave aliases alone)."),
    home: Path = HOME_OPTION,
) -> None:
    """Train a model on the whole dataset (after tuning on validation) and register it with its provenance."""
    from marquee import config as mconfig
    from marquee.data import leave_one_out
    from marquee.evaluate import build_candidates
    from marquee.evaluate import tune as tune_candidate
    from marquee.serve import ModelRegistry

    (candidate,) = build_candidates([model], _models_config(config), tune=tune)
    ds = load_dataset(dataset, home)
    params: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    split_fp = None
    if candidate.grid:
        sp = leave_one_out(ds.interactions)
        split_fp = sp.fingerprint()
        bars = _Bars([candidate])
        with bars.progress:
            params, trials = tune_candidate(candidate, sp, listener=bars)
        metrics = {"tuned_on": "leave_one_out validation ndcg@10", "validation_ndcg@10": max(t.value for t in trials), "trials": len(trials)}
        err_console.print(f"chosen on validation: {params}")
    with console.status(f"fitting {model} on all {len(ds.interactions):,} interactions"):
        fitted = candidate.build(params).fit(ds.interactions)
    with console.status("exporting the serving graph"):
        fitted.for_serving()  # saved with the model, checked against the trained weights
    registry = ModelRegistry(mconfig.home(home) / "registry")
    mv = registry.register(
        name or model, fitted, data_fingerprint=ds.interactions.fingerprint(), split_fingerprint=split_fp,
        metrics={**metrics, "dataset": ds.name}, description=f"{fitted!r} on all of {ds.name}",
    )  # fmt: skip
    console.print(f"{fitted!r} fitted in {fitted.fit_seconds_:.2f}s → registered {mv.ref} ({mv.path})")
    if promote:
        move = registry.set_alias(mv.name, promote, mv.version, actor="marquee train", reason="trained")
        console.print(f"{mv.name}@{promote}: {move.from_version or '-'} -> {move.to_version}")


def train_context(
    dataset: str = typer.Option(
        "movielens-sim", "--dataset", "-d", envvar="MARQUEE_DATASET",
        help="A dataset whose log records device and local_hour (e.g. one written by `marquee sim generate`).",
    ),
    base: str = typer.Option("ease", help=f"Ranker the stage's weight is tuned with: one of {ALL_MODELS} (default parameters)."),
    candidates: int = typer.Option(100, min=1, help="How many of a tier's titles the stage re-ranks."),
    name: str = typer.Option("context", help="Registry name of the stage."),
    promote: str | None = typer.Option("production", help="Alias to point at the new version ('' to leave aliases alone)."),
    home: Path = HOME_OPTION,
) -> None:
    """Fit the context re-ranking stage (device × daypart lifts, completion-weighted) and register it.

    `marquee serve --context context@production` then re-ranks every tier's candidates for requests
    that state their device and local hour."""
    from marquee import config as mconfig
    from marquee.rank import RANKERS, ContextReranker
    from marquee.serve import ModelRegistry

    if base not in RANKERS:
        raise ConfigError(f"--base must be one of {ALL_MODELS}, got {base!r}")
    ds = load_dataset(dataset, home)
    with console.status(f"fitting {base} and the context stage on {len(ds.interactions):,} interactions"):
        reranker = ContextReranker(RANKERS[base](), candidates=candidates).fit(ds.interactions)
    table = Table(title="λ, tuned on held-out last plays")
    table.add_column("λ", justify="right")
    table.add_column("MRR@10", justify="right")
    for weight, mrr in reranker.tuning_mrr_.items():
        table.add_row(f"{weight:g}" + (" ← chosen" if weight == reranker.weight_ else ""), f"{mrr:.4f}")
    console.print(table)
    stage = reranker.stage()
    registry = ModelRegistry(mconfig.home(home) / "registry")
    mv = registry.register(
        name, stage, data_fingerprint=ds.interactions.fingerprint(),
        metrics={"dataset": ds.name, "base": base, "weight": stage.weight, "tuning_mrr@10": {str(k): v for k, v in reranker.tuning_mrr_.items()}},
        description=f"{stage!r} on all of {ds.name}",
    )  # fmt: skip
    console.print(f"{stage!r} → registered {mv.ref} ({mv.path})")
    if promote:
        move = registry.set_alias(mv.name, promote, mv.version, actor="marquee train-context", reason="trained")
        console.print(f"{mv.name}@{promote}: {move.from_version or '-'} -> {move.to_version}")


def recommend(
    member: list[int] = typer.Option(..., "--member", help="Member id (MovieLens user_id); repeat for several."),
    model: str = typer.Option("sasrec@production", help="Registry reference: name@alias, name:version or name (latest)."),
    k: int = typer.Option(10, "-k", min=1, max=500, help="How many titles."),
    dataset: str = DATASET_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Show a member's top-k titles from a registered model."""
    from marquee import config as mconfig
    from marquee.data import open_dataset
    from marquee.serve import ModelRegistry

    mv, ranker = ModelRegistry(mconfig.home(home) / "registry").load(model)
    recs = ranker.recommend(member, k)
    try:
        catalog = open_dataset(dataset, home).catalog
    except Exception:  # noqa: BLE001 - names are a nicety; ids are the answer
        catalog = None
    for i, member_id in enumerate(recs.member_ids.tolist()):
        table = Table(title=f"member {member_id} · {mv.ref}")
        table.add_column("rank", justify="right")
        table.add_column("title_id", justify="right")
        table.add_column("title")
        table.add_column("score", justify="right")
        names = catalog.names(recs.title_ids[i]) if catalog is not None else [""] * recs.title_ids.shape[1]
        for r, (t, s, n) in enumerate(zip(recs.title_ids[i].tolist(), recs.scores[i].tolist(), names, strict=True), start=1):
            table.add_row(str(r), str(t), n or "", f"{s:.4f}")
        console.print(table)
