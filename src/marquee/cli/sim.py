"""``marquee sim``: the simulated streaming world from the shell."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from marquee.cli._common import DATASET_OPTION, HOME_OPTION, console, err_console, errors_to_exit, load_dataset, status

if TYPE_CHECKING:
    from marquee.data import Dataset
    from marquee.sim import World

app = typer.Typer(
    help="A simulated streaming world calibrated on a real log, with context and known ground truth.",
    no_args_is_help=True,
)

MEMBERS_OPTION = typer.Option(
    2000, "--members", "-n", help="Members in the world (copies of real members, with noise)."
)
SEED_OPTION = typer.Option(0, help="Seeds the world (its fit and members); the log takes seed + 1.")


def _simulate(world: World, seed: int):  # type: ignore[no-untyped-def]
    with status(f"simulating the plays of {world.n_members:,} members"):
        return world.log(seed=seed)


def _world(dataset: str, home: Path | None, members: int, seed: int) -> tuple[Dataset, World]:
    from marquee.sim import World

    data = load_dataset(dataset, home)
    start = time.perf_counter()
    with status(f"fitting a world of {members:,} members on {data.name}"):
        world = World(n_members=members, seed=seed).fit(data.interactions)
    err_console.print(
        f"world fitted on {data.name} in {time.perf_counter() - start:.1f} s (taste scale {world.taste_scale_:.3f})"
    )
    return data, world


@app.command("calibrate")
@errors_to_exit
def calibrate(
    members: int = MEMBERS_OPTION,
    seed: int = SEED_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of a table."),
    dataset: str = DATASET_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Fit a world on the dataset, simulate its log and print simulated vs real popularity and activity."""
    from marquee.sim import calibrate as compare

    data, world = _world(dataset, home, members, seed)
    start = time.perf_counter()
    log = _simulate(world, seed + 1)
    seconds = time.perf_counter() - start
    cal = compare(data.interactions, log)
    if as_json:
        console.print_json(json.dumps({"events": len(log), "seconds": seconds, **cal.to_dict()}))
        return
    console.print(
        f"{len(log):,} simulated events in {seconds:.1f} s ({len(log) / seconds:,.0f} events/s)", highlight=False
    )
    console.print(cal.to_text(), highlight=False)


@app.command("generate")
@errors_to_exit
def generate(
    name: str = typer.Option(
        "movielens-sim", "--name", help="Name of the simulated dataset (train on it with --dataset NAME)."
    ),
    members: int = MEMBERS_OPTION,
    seed: int = SEED_OPTION,
    dataset: str = DATASET_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Write a simulated log, with device, local hour and completion, as a dataset every command can use."""
    from marquee.data import Dataset, dataset_dir

    data, world = _world(dataset, home, members, seed)
    log = _simulate(world, seed + 1)
    info = {
        "source": f"marquee sim generate --dataset {data.name} --members {members} --seed {seed}",
        "simulated": True,
    }
    target = Dataset(name, log, world.catalog_, None, info).save(dataset_dir(name, home))
    console.print(f"wrote {len(log):,} plays of {world.n_members:,} members to {target}", highlight=False)


@app.command("ab")
@errors_to_exit
def ab(
    ranker: str = typer.Option("ease", help="Base ranker (registry name: popular, item_knn, ease, als, bpr, sasrec)."),
    members: int = MEMBERS_OPTION,
    sessions: int = typer.Option(4, help="Sessions per member in the experiment."),
    seed: int = SEED_OPTION,
    dataset: str = DATASET_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Simulated A/B test and team-draft interleaving: the ranker against itself plus the context-aware
    re-ranking stage, with the true differences and the members each method needs for 80% power."""
    import numpy as np

    from marquee.errors import ConfigError
    from marquee.rank import RANKERS, ContextReranker
    from marquee.sim import ab_test, context_policy, interleave, members_for_power, ranker_policy

    if ranker not in RANKERS:
        raise ConfigError(f"unknown ranker {ranker!r}; use one of {sorted(RANKERS)}")
    _, world = _world(dataset, home, members, seed)
    log = _simulate(world, seed + 1)
    seen = log.matrix()
    with status(f"fitting {ranker} and {ranker}+context on the simulated log"):
        base = RANKERS[ranker]().fit(log)
        stage = ContextReranker(RANKERS[ranker]()).fit(log)
    common = {"members": members, "sessions_per_member": sessions, "seen": seen}
    with status(f"A/B test: {members:,} members x {sessions} sessions"):
        res = ab_test(world, ranker_policy(base), context_policy(stage), **common, seed=seed + 2)
    with status(f"team-draft interleaving: {members:,} members x {sessions} sessions"):
        il = interleave(world, ranker_policy(base), context_policy(stage), **common, seed=seed + 3)
    console.print(
        f"{ranker} (control) vs {ranker}+context (treatment, lift weight {stage.weight_:g}); {members:,} members x {sessions} sessions",
        highlight=False,
    )
    for metric, c in res.comparisons.items():
        sd = float(np.sqrt((res.control[metric].var(ddof=1) + res.treatment[metric].var(ddof=1)) / 2))
        console.print(
            f"  A/B {metric:<6} {c.control_mean:.3f} -> {c.variant_mean:.3f}: {c.absolute} ({c.relative.estimate:+.1%}), "
            f"p = {c.p_value:.2g}; true difference {res.truth[metric]:+.3f}; "
            f"{members_for_power(res.truth[metric], sd):,.0f} members for 80% power",
            highlight=False,
        )
    n_il = members_for_power(il.preference.estimate, float(il.per_member.std(ddof=1)), arms=1) * members / il.n_members
    console.print(
        f"  interleaving: wins {il.wins_a:,} vs {il.wins_b:,}, preference for {ranker}+context {il.preference}, "
        f"p = {il.p_value:.2g}; {n_il:,.0f} members for 80% power",
        highlight=False,
    )
