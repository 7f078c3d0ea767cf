"""``marquee ope``: off-policy evaluation from the shell."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import HOME_OPTION, console, errors_to_exit, status

app = typer.Typer(help="Off-policy evaluation: estimate a policy's value from logs another policy collected.", no_args_is_help=True)


@app.command("open-bandit")
@errors_to_exit
def open_bandit(
    campaign: str = typer.Option("all", help="Campaign: all, men or women."),
    behavior: str = typer.Option("random", help="Logging policy whose log is used: random or bts."),
    target: str = typer.Option("bts", help="Policy to evaluate: bts (ZOZOTOWN's prior) or random."),
    observed: bool = typer.Option(False, "--observed", help="Evaluate BTS by its observed action frequencies instead of its prior."),
    model: str = typer.Option("logistic", help="Reward model: logistic or gradient_boosting."),
    l2: float = typer.Option(100.0, help="Reward model's L2 penalty."),
    n_bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for the intervals."),
    seed: int = typer.Option(0, help="Seeds the bootstrap and the reward model's folds."),
    home: Path = HOME_OPTION,
) -> None:
    """Estimate one Open Bandit policy's click rate from the other policy's log, with every estimator,
    next to the truth (the evaluated policy's own click rate)."""
    import numpy as np

    from marquee.bandit import beta_slot_distribution
    from marquee.data.open_bandit import open_bandit_log, zozotown_prior
    from marquee.errors import ConfigError
    from marquee.ope import RewardModel, default_estimators, evaluate

    if behavior == target:
        raise ConfigError(f"--behavior and --target are both {behavior!r}; evaluate one policy from the other's log")
    with status(f"reading the Open Bandit logs of {behavior} and {target} ({campaign})"):
        log = open_bandit_log(campaign, behavior, home)
        truth_log = open_bandit_log(campaign, target, home)
    if target == "bts":
        dist = truth_log.action_frequencies() if observed else beta_slot_distribution(*zozotown_prior(campaign, home), log.n_positions)
    else:
        dist = np.full((log.n_actions, log.n_positions), 1 / log.n_actions)
    action_dist = np.broadcast_to(dist, (len(log), *dist.shape))
    with status(f"estimating with every estimator ({len(log):,} rounds, {n_bootstrap:,} bootstrap resamples)"):
        estimates = evaluate(
            log, action_dist, default_estimators(n_bootstrap=n_bootstrap, seed=seed), reward_model=RewardModel(model=model, l2=l2, seed=seed)
        )
    truth = truth_log.mean_reward
    table = Table(title=f"{campaign}: {target} estimated from {behavior}'s log (truth {truth:.5f}, {int(truth_log.reward.sum())} clicks)")
    for col in ("estimator", "estimate", "bootstrap 95%", "analytic 95%", "relative error"):
        table.add_column(col)
    for e in estimates.values():
        analytic = "-" if e.analytic is None else f"[{e.analytic.low:.5f}, {e.analytic.high:.5f}]"
        table.add_row(e.estimator, f"{e.value:.5f}", f"[{e.interval.low:.5f}, {e.interval.high:.5f}]", analytic, f"{e.relative_error(truth):.3f}")
    console.print(table)
