"""``marquee artwork``: drive the artwork endpoints with simulated members, and judge a candidate policy on the log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from marquee.cli._common import DATASET_OPTION, HOME_OPTION, console, err_console, errors_to_exit, load_dataset
from marquee.errors import ConfigError

app = typer.Typer(help="Artwork personalisation: simulate members against the service, evaluate candidate policies on its decision log.", no_args_is_help=True)

LOG_OPTION = typer.Option(None, "--log", envvar="MARQUEE_ARTWORK_LOG", help="The decision log (SQLite) [default: $MARQUEE_HOME/artwork/decisions.sqlite].")
# Not read from MARQUEE_ARTWORK_LOG: that names the service's log, and simulated decisions must not mix with real ones.
SIMULATED_LOG_OPTION = typer.Option(
    None, "--log",
    help="The decision log to write (SQLite) [default: a new file under $MARQUEE_HOME/artwork/simulated/, apart from the service's log]. "
    "Name the service's log here only to mix simulated decisions with real ones on purpose.",
)  # fmt: skip


def simulation_log(log: Path | None, home: Path | None, policy: str, seed: int) -> Path:
    """Where a simulation writes: ``log``, or a new file of its own under ``$MARQUEE_HOME/artwork/simulated/``
    (named for the time, policy and seed), never the service's log by default."""
    from datetime import UTC, datetime

    from marquee import config

    if log is not None:
        return log
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return config.home(home) / "artwork" / "simulated" / f"{stamp}-{policy}-seed{seed}.sqlite"


@app.command("simulate")
@errors_to_exit
def simulate(
    n: int = typer.Option(2000, "--n", help="Decisions to make (each followed by its feedback)."),
    log: Path | None = SIMULATED_LOG_OPTION,
    policy: str = typer.Option("epsilon_greedy", "--policy", envvar="MARQUEE_ARTWORK_POLICY", help="Policy of the in-process service: lin_ucb, linear_ts or epsilon_greedy."),
    url: str | None = typer.Option(None, "--url", help="Drive a running service instead (its own policy and log; --log and --policy are then ignored)."),
    variants: Path | None = typer.Option(None, "--variants", envvar="MARQUEE_ARTWORK_VARIANTS", help="Variants table (Parquet/CSV) [default: generated from the catalog]."),
    seed: int = typer.Option(0, help="Seeds the members' responses, the requests and the in-process policy."),
    dataset: str = DATASET_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """POST /v1/artwork then /v1/feedback N times through the real HTTP app, with simulated members
    whose click probabilities are known (marquee.sim.ArtworkMembers), so `marquee artwork evaluate`
    has a log to read. The decisions go to a simulation log of their own (printed at the end),
    not the service's, unless --log names another."""
    import numpy as np

    from marquee.bandit.artwork import context_features
    from marquee.data.artwork import ArtworkVariants, generate_variants, id_seed
    from marquee.sim import ArtworkMembers

    ds = load_dataset(dataset, home)
    table = ArtworkVariants.read(variants) if variants is not None else generate_variants(ds.catalog)
    members = ArtworkMembers(n_features=len(table.feature_names), seed=seed)
    rng = np.random.default_rng(seed)
    member_ids = ds.interactions.members.ids
    titles = table.title_ids
    path = simulation_log(log, home, policy, seed)
    with _client(url, ds, path, policy, variants, seed, home) as client:
        start, clicks, expected = time.perf_counter(), 0, 0.0
        for _ in range(n):
            # Ids as the dataset and the table hold them (int or str); the draws are those integer ids always had.
            member, title, ctx = _plain(rng.choice(member_ids)), _plain(rng.choice(titles)), members.draw_context(rng)
            r = client.post("/v1/artwork", json={"member_id": member, "title_id": title, "context": ctx})
            if r.status_code != 200:
                raise ConfigError(f"the service refused /v1/artwork ({r.status_code}): {r.text}")
            answer = r.json()
            found = table.of(title)
            index = int(np.flatnonzero(found.variant_ids == answer["variant_id"])[0])
            # A text member's taste is seeded by a hash of its id (ArtworkMembers takes integers).
            q = members.click_probability(id_seed(member), context_features(ctx["device"], ctx["local_hour"]), found.features)
            click = float(rng.random() < q[index])
            clicks += int(click)
            expected += float(q[index])
            r = client.post("/v1/feedback", json={"decision_id": answer["decision_id"], "reward": click})
            if r.status_code != 200:
                raise ConfigError(f"the service refused /v1/feedback ({r.status_code}): {r.text}")
        elapsed = time.perf_counter() - start
    console.print(
        f"{n} decisions and feedback in {elapsed:.1f}s ({2 * n / elapsed:.0f} requests/s); click rate {clicks / n:.4f} "
        f"(expected {expected / n:.4f})"
    )
    if url is not None:
        console.print(f"log: the service at {url} wrote them to its own decision log", highlight=False)
    else:
        console.print(f"log: wrote them to {path}\njudge a candidate on them: marquee artwork evaluate --log {path} --candidate uniform",
                      highlight=False, soft_wrap=True)  # fmt: skip


def _plain(value: Any) -> int | str:
    """A numpy scalar id as a plain ``int`` (or ``str``), which JSON and the service take."""
    return value.item() if hasattr(value, "item") else value


def _client(url: str | None, ds: Any, log: Path, policy: str, variants: Path | None, seed: int, home: Path | None) -> Any:
    if url is not None:
        import httpx

        return httpx.Client(base_url=url, timeout=30)
    from fastapi.testclient import TestClient

    from marquee import config
    from marquee.rank import MostPopular
    from marquee.serve import ModelRegistry
    from marquee.serve.app import Service, create_app
    from marquee.serve.artwork import build_artwork
    from marquee.serve.router import Router

    artwork = build_artwork(ds.catalog, log, policy=policy, variants=variants, seed=seed)
    service = Service(Router(MostPopular().fit(ds.interactions)), ModelRegistry(config.home(home) / "registry"), artwork=artwork)
    return TestClient(create_app(service))


@app.command("evaluate")
@errors_to_exit
def evaluate(
    candidate: list[str] = typer.Option(..., "--candidate", help="Policy to judge: uniform, or lin_ucb|linear_ts|epsilon_greedy[:key=value,...] learned from the log out of fold. Repeatable."),
    log: Path | None = LOG_OPTION,
    estimator: list[str] = typer.Option(["snips", "dr"], "--estimator", help="Estimators: ips, snips, dm, dr, sndr. Repeatable."),
    missing_reward: float | None = typer.Option(None, "--missing-reward", help="Reward of decisions without feedback [default: leave them out]."),
    folds: int = typer.Option(2, help="Cross-fitting folds of the candidate and the reward model."),
    n_bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the intervals."),
    level: float = typer.Option(0.95, help="Confidence level of the intervals."),
    seed: int = typer.Option(0, help="Seeds folds and bootstrap."),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows", help="Leave out log rows that cannot be read (each is reported with its row id) instead of stopping at the first."),
    home: Path = HOME_OPTION,
) -> None:
    """Estimate each candidate's value on the decision log with off-policy estimators, next to the
    logging (current) policy's on-policy value, and say whether it beats it: the interval of the
    difference above 0 (beats), below 0 (worse), or across 0 (inconclusive)."""
    from marquee.bandit.durable import read_rows
    from marquee.data.artwork_log import ArtworkLog
    from marquee.errors import DataError
    from marquee.ope import IPS, SNIPS, DirectMethod, DoublyRobust, SelfNormalizedDR
    from marquee.serve.artwork import default_log, evaluate_artwork, parse_candidate

    known = {"ips": IPS, "snips": SNIPS, "dm": DirectMethod, "dr": DoublyRobust, "sndr": SelfNormalizedDR}
    bad = [e for e in estimator if e not in known]
    if bad:
        raise ConfigError(f"unknown estimator(s) {bad}; choose from {sorted(known)}")
    candidates = {spec: parse_candidate(spec) for spec in candidate}
    path = default_log(log, home)
    if not path.is_file():
        raise ConfigError(f"{path}: no decision log there; serve artwork (marquee serve) or run `marquee artwork simulate` first")
    rows = read_rows(path)  # read-only: the log stays as it is
    skipped: list[DataError] = []

    def refuse(exc: DataError) -> None:
        raise DataError(f"{exc}; pass --skip-bad-rows to leave such rows out (each is reported)") from None

    data = ArtworkLog.from_rows(rows, missing_reward=missing_reward, source=str(path), on_bad_row=skipped.append if skip_bad_rows else refuse)
    for exc in skipped:
        err_console.print(f"[yellow]skipped[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    fb = data.feedback
    err_console.print(
        f"{path}: {len(rows)} decisions, {len(skipped)} skipped as unreadable, {len(data)} with rewards; "
        f"logging policy {fb.policy}, mean reward {fb.mean_reward:.4f}", highlight=False, soft_wrap=True,
    )  # fmt: skip
    table = Table(title=f"candidates vs {fb.policy} (on-policy value of the log), {level:.0%} intervals, n={len(data)}")
    for col in ("candidate", "estimator", "estimate", "current", "difference", "verdict"):
        table.add_column(col)
    colour = {"beats": "green", "worse": "red", "inconclusive": "yellow"}
    for spec, cand in candidates.items():
        ests = [known[e](n_bootstrap=n_bootstrap, level=level, seed=seed) for e in dict.fromkeys(estimator)]
        for c in evaluate_artwork(data, cand, ests, n_folds=folds, seed=seed):
            iv = c.estimate.interval
            table.add_row(
                spec, c.estimator, f"{iv.estimate:.4f} [{iv.low:.4f}, {iv.high:.4f}]", f"{c.current.estimate:.4f} [{c.current.low:.4f}, {c.current.high:.4f}]",
                f"{c.difference.estimate:+.4f} [{c.difference.low:+.4f}, {c.difference.high:+.4f}]", f"[{colour[c.verdict]}]{c.verdict}[/]",
            )  # fmt: skip
    console.print(table)
