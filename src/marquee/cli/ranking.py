"""``marquee train``, ``marquee train-context``, ``marquee evaluate`` and ``marquee recommend``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from marquee.cli._common import (
    DATASET_OPTION, HOME_OPTION, console, err_console, load_dataset, progress, split_fingerprint, status,
)  # fmt: skip
from marquee.errors import ConfigError

ALL_MODELS = "popular,item_knn,ease,als,bpr,sasrec"

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", envvar="MARQUEE_CONFIG",
    help="TOML/JSON file with [models.NAME] tables: a model's params and grid overrides (see examples/models.toml).",
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

    def __init__(self, candidates, *, refit: bool = True) -> None:  # type: ignore[no-untyped-def]
        self.progress = progress()
        steps = {c.name: c.n_trials() + (1 if refit else 0) for c in candidates}
        # A candidate with nothing to tune goes straight to its refit on train+validation.
        notes = {c.name: "tuning" if c.n_trials() else "fitting on train+validation" for c in candidates}
        self.tasks = {name: self.progress.add_task(name, total=n, note=notes[name]) for name, n in steps.items()}
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
    report: Path | None = typer.Option(None, help="Write the HTML report (plots with intervals) here; none is written unless named."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the leaderboard as JSON here; none is written unless named."),
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
    with status(f"bootstrap intervals ({bootstrap:,} resamples)"):
        table = _leaderboard_table(board, ds.name, bootstrap, seed)
    console.print(table)
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
        with status(f"writing the HTML report {report}"):
            path = write_html_report(board, report, dataset=ds.name, n_bootstrap=bootstrap, seed=seed)
        console.print(f"report: {path}")
    elif json_out is None:
        err_console.print("no report written (name one with --report PATH.html and/or --json PATH.json)", highlight=False)
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
    split_fp = split_fingerprint(ds.interactions) if not candidate.grid else None  # recorded with or without tuning
    if candidate.grid:
        sp = leave_one_out(ds.interactions)
        split_fp = sp.fingerprint()
        bars = _Bars([candidate], refit=False)  # the final fit is a stage of its own below
        with bars.progress:
            params, trials = tune_candidate(candidate, sp, listener=bars)
        metrics = {"tuned_on": "leave_one_out validation ndcg@10", "validation_ndcg@10": max(t.value for t in trials), "trials": len(trials)}
        err_console.print(f"chosen on validation: {params}")
    with status(f"fitting {model} on all {len(ds.interactions):,} interactions"):
        fitted = candidate.build(params).fit(ds.interactions)
    with status("exporting the serving graph"):
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
    with status(f"fitting {base} and the context stage on {len(ds.interactions):,} interactions"):
        reranker = ContextReranker(RANKERS[base](), candidates=candidates).fit(ds.interactions)
        split_fp = split_fingerprint(ds.interactions)
    table = Table(title="λ, tuned on held-out last plays")
    table.add_column("λ", justify="right")
    table.add_column("MRR@10", justify="right")
    for weight, mrr in reranker.tuning_mrr_.items():
        table.add_row(f"{weight:g}" + (" ← chosen" if weight == reranker.weight_ else ""), f"{mrr:.4f}")
    console.print(table)
    stage = reranker.stage()
    registry = ModelRegistry(mconfig.home(home) / "registry")
    mv = registry.register(
        name, stage, data_fingerprint=ds.interactions.fingerprint(), split_fingerprint=split_fp,
        metrics={"dataset": ds.name, "base": base, "weight": stage.weight, "tuning_mrr@10": {str(k): v for k, v in reranker.tuning_mrr_.items()}},
        description=f"{stage!r} on all of {ds.name}",
    )  # fmt: skip
    console.print(f"{stage!r} → registered {mv.ref} ({mv.path})")
    if promote:
        move = registry.set_alias(mv.name, promote, mv.version, actor="marquee train-context", reason="trained")
        console.print(f"{mv.name}@{promote}: {move.from_version or '-'} -> {move.to_version}")


def recommend(
    member: list[str] = typer.Option(..., "--member", metavar="ID", help="Member id (MovieLens user_id, or a string id); repeat for several."),
    model: str = typer.Option("sasrec@production", help="Registry reference: name@alias, name:version or name (latest)."),
    k: int = typer.Option(10, "-k", min=1, max=500, help="How many titles."),
    dataset: str | None = typer.Option(
        None, "--dataset", "-d",
        help="Dataset of the title names and of the cold-start answer's popularity [default: the one the model was trained on].",
    ),
    home: Path = HOME_OPTION,
) -> None:
    """Show a member's top-k titles from a registered model.

    A member the model does not know gets the service's cold-start answer: the most popular
    titles of the dataset (what `marquee serve` answers with fallback_reason unknown_member)."""
    import numpy as np
    from rich.markup import escape

    from marquee import config as mconfig
    from marquee.serve import ModelRegistry

    registry = ModelRegistry(mconfig.home(home) / "registry")
    mv, ranker = registry.load(model)
    positions = ranker.members_.lookup(member)  # "42" finds integer id 42 and 42 string id "42"
    known = positions >= 0
    rows: dict[int, tuple[list, list[float], str, str | None]] = {}
    if known.any():
        idx, scores = ranker.recommend_index(positions[known], k)
        for i, ids, sc in zip(np.flatnonzero(known).tolist(), ranker.titles_.ids[idx].tolist(), scores.tolist(), strict=True):
            rows[i] = (ids, sc, mv.ref, None)
    ds_name = dataset or _trained_on(registry, mv)
    ds, ds_error = _open_dataset(ds_name, home)
    if not known.all():
        if ds is None:
            assert ds_error is not None
            raise type(ds_error)(
                f"member {member[int(np.flatnonzero(~known)[0])]!r} is unknown to {mv.ref}, and its cold-start answer needs "
                f"the popularity of dataset {ds_name!r}: {ds_error} (or name another with --dataset)"
            ) from None
        for i in np.flatnonzero(~known).tolist():
            answer = _cold_start(ranker, mv.ref, ds, member[i], k)
            rows[i] = (answer.title_ids.tolist(), answer.scores.tolist(), answer.model_used, answer.fallback_reason)
    for i, member_id in enumerate(member):
        title_ids, scores, used, reason = rows[i]
        if reason is None:
            table = Table(title=f"member {escape(member_id)} · {mv.ref}")  # ids and names are text, not markup
        else:
            table = Table(title=f"member {escape(member_id)} · {used} · unknown member, cold-start answer", caption=f"fallback_reason: {reason}")
        table.add_column("rank", justify="right")
        table.add_column("title_id", justify="right")
        table.add_column("title")
        table.add_column("score", justify="right")
        names = _title_names(ds, title_ids)
        for r, (t, sc, n) in enumerate(zip(title_ids, scores, names, strict=True), start=1):
            table.add_row(str(r), escape(str(t)), escape(n), f"{sc:.4f}")
        console.print(table)


def _trained_on(registry, mv) -> str:  # type: ignore[no-untyped-def]
    """The dataset a version was trained on (recorded by train and distill; a quantized model's
    through its parent), else the built-in MovieLens."""
    seen = set()
    while mv is not None and mv.ref not in seen:
        seen.add(mv.ref)
        if isinstance(mv.metrics.get("dataset"), str):
            return mv.metrics["dataset"]
        mv = registry.get(*mv.parent) if mv.parent else None
    return "movielens-100k"


def _open_dataset(name: str, home: Path | None):  # type: ignore[no-untyped-def]
    """``(dataset, None)``, or ``(None, the error)`` when it cannot be opened (names are a nicety)."""
    from marquee.data import open_dataset
    from marquee.errors import MarqueeError

    try:
        return open_dataset(name, home), None
    except MarqueeError as exc:
        return None, exc


def _cold_start(ranker, version: str, ds, member_id: str, k: int):  # type: ignore[no-untyped-def]
    """The service's answer to a member ``ranker`` does not know: its router, with ``ranker`` as
    the only tier and the popularity of ``ds`` as the fallback, as `marquee serve` builds it."""
    import asyncio

    from marquee.rank import MostPopular
    from marquee.serve.router import Router

    router = Router(MostPopular().fit(ds.interactions), default_budget_ms=60_000.0)
    router.set_tier("heavy", ranker, version)
    answer = asyncio.run(router.recommend(member_id, k, mode="heavy"))
    if answer.fallback_reason != "unknown_member":  # the member was found unknown before: never the case
        raise AssertionError(f"expected the cold-start answer for member {member_id!r}, got {answer.fallback_reason!r}")
    return answer


def _title_names(ds, title_ids: list) -> list[str]:  # type: ignore[no-untyped-def]
    if ds is None or not title_ids:
        return [""] * len(title_ids)
    catalog = ds.catalog
    pos = catalog.index.lookup(title_ids)  # -1 for a title the catalog lacks (another dataset's model)
    names = catalog.table.column("name").to_pylist()
    return [(names[p] or "") if p >= 0 else "" for p in pos.tolist()]
