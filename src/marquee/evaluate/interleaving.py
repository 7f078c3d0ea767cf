"""Team-draft interleaving: show one row merged from two rankers, credit each play to its ranker.

Team draft (Radlinski, Kurup & Joachims, CIKM 2008): the two rankers are captains picking teams.
While the row is not full, the team with fewer picks (a coin decides ties) adds its highest-ranked
title not already in the row. A play on a title counts for the team that picked it. Per member,
the preference is ``(wins_B - wins_A) / (wins_A + wins_B)`` over their sessions with a win; the
test is a one-sample t-test of the members' preferences against 0 (Chapelle, Joachims, Radlinski
& Yue, TOIS 2012). Every session compares both rankers on the same member and context, which
is why interleaving needs far fewer members than an A/B test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from marquee.errors import ConfigError, DataError
from marquee.metrics.intervals import Interval
from marquee.random import SeedLike, as_generator

__all__ = ["Interleaved", "InterleavingTest", "interleaving_test", "team_draft"]

TEAM_A, TEAM_B = 0, 1


@dataclass(frozen=True)
class Interleaved:
    """Merged rows and who picked each title.

    Attributes:
        rows: (n, k) int64 titles shown, best first (-1 where both lists ran out).
        team: (n, k) int8, :data:`TEAM_A` (0) or :data:`TEAM_B` (1); -1 for padding.
    """

    rows: np.ndarray
    team: np.ndarray

    def outcome(self, position: np.ndarray) -> np.ndarray:
        """Per session: -1 when A's title was played, +1 when B's, 0 when nothing was.

        Args:
            position: (n,) int rank played, -1 for none (e.g. :attr:`marquee.sim.Responses.position`).
        """
        position = np.asarray(position, np.int64)
        if position.shape != (self.rows.shape[0],):
            raise ConfigError(f"position must have shape ({self.rows.shape[0]},), got {position.shape}")
        played = position >= 0
        team = np.where(played, self.team[np.arange(position.size), np.maximum(position, 0)], -1)
        return np.where(team == TEAM_B, 1, np.where(team == TEAM_A, -1, 0)).astype(np.int64)


def _next_free(source: np.ndarray, ptr: np.ndarray, rows: np.ndarray, filled: int) -> tuple[np.ndarray, np.ndarray]:
    """Advance each pointer past titles already in the row; returns (candidate or -1, pointer)."""
    n, length = source.shape
    ar = np.arange(n)
    while True:
        live = ptr < length
        cand = np.where(live, source[ar, np.minimum(ptr, length - 1)], -1)
        dup = live & (cand >= 0) & (rows[:, :filled] == cand[:, None]).any(axis=1)
        if not dup.any():
            return cand, np.where(cand < 0, length, ptr)
        ptr = ptr + dup


def team_draft(a: np.ndarray, b: np.ndarray, k: int | None = None, seed: SeedLike = None) -> Interleaved:
    """Interleave ranker A's and B's rows by team draft.

    Args:
        a, b: (n, k_a) and (n, k_b) int titles, best first (-1 pads a shorter list).
        k: length of the merged row (default ``k_a``).
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ConfigError(f"a and b must be (n, k) arrays for the same n sessions, got shapes {a.shape} and {b.shape}")
    k = a.shape[1] if k is None else k
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    rng = as_generator(seed)
    n = a.shape[0]
    rows = np.full((n, k), -1, np.int64)
    team = np.full((n, k), -1, np.int8)
    ptr = [np.zeros(n, np.int64), np.zeros(n, np.int64)]
    count = [np.zeros(n, np.int64), np.zeros(n, np.int64)]
    for j in range(k):
        coin = rng.random(n) < 0.5
        pick_b = (count[1] < count[0]) | ((count[1] == count[0]) & coin)
        cand_a, ptr[0] = _next_free(a, ptr[0], rows, j)
        cand_b, ptr[1] = _next_free(b, ptr[1], rows, j)
        # a captain whose list is exhausted passes to the other
        pick_b = np.where(cand_b < 0, False, np.where(cand_a < 0, True, pick_b))
        chosen = np.where(pick_b, cand_b, cand_a)
        rows[:, j] = chosen
        team[:, j] = np.where(chosen < 0, -1, pick_b.astype(np.int8))
        for t in (TEAM_A, TEAM_B):
            took = (pick_b if t == TEAM_B else ~pick_b) & (chosen >= 0)
            ptr[t] = ptr[t] + took
            count[t] = count[t] + took
    return Interleaved(rows, team)


@dataclass(frozen=True)
class InterleavingTest:
    """Which ranker members prefer.

    Attributes:
        preference: mean over members (with a win) of ``(wins_B - wins_A) / (wins_A + wins_B)``,
            with its t interval; > 0 means B is preferred.
        p_value: two-sided, of no preference.
        wins_a, wins_b: sessions won by each; n_members: members with at least one win.
    """

    preference: Interval
    p_value: float
    wins_a: int
    wins_b: int
    n_members: int
    per_member: np.ndarray

    @property
    def winner(self) -> str | None:
        """``"A"`` or ``"B"`` when the interval excludes 0, else ``None``."""
        if self.preference.low > 0:
            return "B"
        if self.preference.high < 0:
            return "A"
        return None


def interleaving_test(outcome: np.ndarray, member_idx: np.ndarray, *, level: float = 0.95) -> InterleavingTest:
    """Aggregate session outcomes (-1 A, +1 B, 0 none) per member and test the mean preference.

    Raises:
        DataError: when fewer than two members have a win (nothing to test).
    """
    outcome = np.asarray(outcome, np.int64)
    member_idx = np.asarray(member_idx, np.int64)
    if outcome.shape != member_idx.shape:
        raise ConfigError(
            f"outcome and member_idx must have the same shape, got {outcome.shape} and {member_idx.shape}"
        )
    _, inv = np.unique(member_idx, return_inverse=True)
    wins_b = np.bincount(inv, weights=outcome == 1)
    wins_a = np.bincount(inv, weights=outcome == -1)
    has = (wins_a + wins_b) > 0
    if has.sum() < 2:
        raise DataError(
            f"{int(has.sum())} member(s) played an interleaved title; run more sessions before testing a preference"
        )
    pref = (wins_b[has] - wins_a[has]) / (wins_a[has] + wins_b[has])
    n = pref.size
    mean, se = float(pref.mean()), float(pref.std(ddof=1) / np.sqrt(n))
    if se > 0:
        t = stats.t.ppf(0.5 + level / 2, n - 1)
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    else:
        t, p = 0.0, 1.0 if mean == 0 else 0.0
    return InterleavingTest(
        Interval(mean, mean - t * se, mean + t * se, level), p, int(wins_a.sum()), int(wins_b.sum()), n, pref
    )
