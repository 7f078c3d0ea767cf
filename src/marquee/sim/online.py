"""Online experiments in the simulated world: A/B tests whose true effect is known.

A *policy* turns sessions into rows: ``policy(sessions) -> (n, k)`` title positions.
:func:`ab_test` splits members at random, gives each ``sessions_per_member`` sessions with
contexts from their habits, lets the world respond to the arm's rows, and analyses plays and
hours per member with :func:`marquee.experiment.compare` (Welch). The true difference of the
per-member means, from the world's expected engagement of both policies on the same sessions,
comes with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import stats

from marquee.errors import ConfigError
from marquee.evaluate.interleaving import InterleavingTest, interleaving_test, team_draft
from marquee.experiment.analysis import Comparison, MeanStats, compare
from marquee.random import SeedLike, as_generator
from marquee.sim.world import Sessions, World

__all__ = [
    "ABTest",
    "Policy",
    "ab_test",
    "context_policy",
    "interleave",
    "members_for_power",
    "online_value",
    "ranker_policy",
]

Policy = Callable[[Sessions], np.ndarray]


def ranker_policy(ranker: object, k: int = 10) -> Policy:
    """Rows from a fitted ranker's ``recommend_index`` (context ignored; seen titles excluded)."""
    return lambda s: ranker.recommend_index(s.member_idx, k)[0]  # type: ignore[attr-defined]


def context_policy(reranker: object, k: int = 10) -> Policy:
    """Rows from a context-aware stage's ``recommend_index(member_idx, device, hour, k)``."""
    return lambda s: reranker.recommend_index(s.member_idx, s.device, s.hour, k)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ABTest:
    """An A/B test's outcome.

    Attributes:
        comparisons: metric (``"plays"``, ``"hours"``) -> treatment minus control, per member.
        truth: metric -> the true difference of per-member means (expected engagement of both
            policies on the same sessions, averaged over all members of the test).
        control, treatment: metric -> (n_arm,) per-member values.
    """

    comparisons: dict[str, Comparison]
    truth: dict[str, float]
    control: dict[str, np.ndarray]
    treatment: dict[str, np.ndarray]

    def covers_truth(self, metric: str) -> bool:
        iv = self.comparisons[metric].absolute
        return bool(iv.low <= self.truth[metric] <= iv.high)


def _draw_members(world: World, members: int | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if isinstance(members, int | np.integer):
        if not 2 <= members <= world.n_members:
            raise ConfigError(f"members must be between 2 and the world's {world.n_members} members, got {members}")
        return rng.choice(world.n_members, int(members), replace=False)
    return np.asarray(members, np.int64)


def _per_member(values: np.ndarray, sessions_per_member: int) -> np.ndarray:
    return values.reshape(-1, sessions_per_member).sum(axis=1)


def compare_arms(control: np.ndarray, treatment: np.ndarray, metric: str, alpha: float) -> Comparison:
    """Welch's test of per-member values, treatment against control (what every simulated A/B test reports)."""
    return compare(
        MeanStats.from_values(control), MeanStats.from_values(treatment), metric=metric, variant="treatment", alpha=alpha
    )


def ab_test(
    world: World,
    control: Policy,
    treatment: Policy,
    *,
    members: int | np.ndarray = 2000,
    sessions_per_member: int = 4,
    seen: sp.csr_matrix | None = None,
    alpha: float = 0.05,
    seed: SeedLike = 0,
) -> ABTest:
    """Run a simulated A/B test of ``treatment`` against ``control``.

    Args:
        members: member positions in the test, or how many to draw from the world without replacement.
        seen: titles members have already watched (the training log's matrix), never played again.
    """
    rng = as_generator(seed)
    members = _draw_members(world, members, rng)
    if sessions_per_member < 1:
        raise ConfigError(f"sessions_per_member must be >= 1, got {sessions_per_member}")
    arm = rng.permutation(members.size) % 2  # 0 control, 1 treatment, balanced
    sessions = world.sessions(np.repeat(members, sessions_per_member), rng)
    rows_c, rows_t = control(sessions), treatment(sessions)
    truth_c, truth_t = (
        world.expected_engagement(sessions, rows_c, seen),
        world.expected_engagement(sessions, rows_t, seen),
    )
    in_t = np.repeat(arm == 1, sessions_per_member)
    shown = np.where(in_t[:, None], rows_t, rows_c) if rows_c.shape == rows_t.shape else None
    if shown is None:
        raise ConfigError(f"both policies must return rows of the same shape, got {rows_c.shape} and {rows_t.shape}")
    got = world.respond(sessions, shown, rng, seen=seen)
    values = {"plays": got.played.astype(np.float64), "hours": got.hours}
    truth_values = {"plays": (truth_c.plays, truth_t.plays), "hours": (truth_c.hours, truth_t.hours)}
    comparisons, truth, out_c, out_t = {}, {}, {}, {}
    for metric, v in values.items():
        per = _per_member(v, sessions_per_member)
        out_c[metric], out_t[metric] = per[arm == 0], per[arm == 1]
        comparisons[metric] = compare_arms(out_c[metric], out_t[metric], metric, alpha)
        tc, tt = truth_values[metric]
        truth[metric] = float(_per_member(tt - tc, sessions_per_member).mean())
    return ABTest(comparisons, truth, out_c, out_t)


def interleave(
    world: World,
    policy_a: Policy,
    policy_b: Policy,
    *,
    members: int | np.ndarray = 2000,
    sessions_per_member: int = 4,
    seen: sp.csr_matrix | None = None,
    level: float = 0.95,
    seed: SeedLike = 0,
) -> InterleavingTest:
    """Team-draft interleave ``policy_a`` and ``policy_b`` for every session and test members' preference
    (> 0: B preferred); see :mod:`marquee.evaluate.interleaving`."""
    rng = as_generator(seed)
    members = _draw_members(world, members, rng)
    sessions = world.sessions(np.repeat(members, sessions_per_member), rng)
    merged = team_draft(policy_a(sessions), policy_b(sessions), seed=rng)
    got = world.respond(sessions, merged.rows, rng, seen=seen)
    return interleaving_test(merged.outcome(got.position), sessions.member_idx, level=level)


def online_value(
    world: World,
    policy: Policy,
    *,
    members: int | np.ndarray = 2000,
    sessions: int = 4,
    seen: sp.csr_matrix | None = None,
    seed: SeedLike = 0,
) -> dict[str, float]:
    """A policy's true expected plays and hours per session (the world's ground truth, no sampling noise
    beyond the sessions' contexts). The same seed gives every policy the same members and sessions."""
    rng = as_generator(seed)
    s = world.sessions(np.repeat(_draw_members(world, members, rng), sessions), rng)
    e = world.expected_engagement(s, policy(s), seen)
    return {"plays": float(e.plays.mean()), "hours": float(e.hours.mean())}


def members_for_power(effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, arms: int = 2) -> float:
    """Members needed to detect ``effect`` with a two-sided z-test at ``alpha`` with ``power``.

    ``arms=2``: an A/B test of a difference of means, per-member standard deviation ``sd`` in each
    arm; the total over both arms, ``4 sd² (z_(1-α/2) + z_power)² / effect²``. ``arms=1``: a
    one-sample test of a mean (interleaving's preference), ``sd² (z + z)² / effect²``.
    """
    if effect == 0:
        return float("inf")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    per = (z * sd / effect) ** 2
    return float(4 * per if arms == 2 else per)
