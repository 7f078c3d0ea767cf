"""Who gets which intervention under a budget, what following the plan is worth, and how big a test must be.

- :func:`budgeted_plan`: at most one intervention per member, total cost within the budget, the largest sum of
  estimated effects (the multiple-choice knapsack), by Lagrangian relaxation and a greedy fill.
- :func:`risk_plan`: the usual practice it is compared with — the members most likely to leave get one
  intervention, riskiest first, until the money runs out.
- :func:`plan_value`: the doubly robust estimate, on held-out randomized members, of the extra members a plan
  keeps, with its interval.
- :func:`size_test`: members per arm to detect a lift in retention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from scipy import stats

from marquee.errors import ConfigError, DataError
from marquee.experiment.analysis import minimum_detectable_effect
from marquee.metrics.intervals import Interval
from marquee.retention.uplift import check_propensity, check_trial

__all__ = ["Plan", "budgeted_plan", "plan_value", "risk_plan", "size_test"]


@dataclass(frozen=True, eq=False)
class Plan:
    """Who gets what.

    Attributes:
        assignment: (n,) int64, -1 = nothing, ``k`` = intervention ``k`` (arm ``k + 1`` of the trial).
        spent: total cost of the assigned interventions (never above ``budget``).
        budget: the budget the plan was made for.
        expected_kept: sum of the effects the plan was made from over the assigned members (NaN for
            :func:`risk_plan`, which uses none).
        counts: (K,) int64 members given each intervention.
    """

    assignment: np.ndarray
    spent: float
    budget: float
    expected_kept: float
    counts: np.ndarray

    def total(self, effect: np.ndarray) -> float:
        """Sum of ``effect`` (n, K) over the assigned members and their interventions (e.g. the true effects)."""
        e = np.asarray(effect, np.float64)
        on = np.flatnonzero(self.assignment >= 0)
        return float(e[on, self.assignment[on]].sum())


def _bad_row(mask: np.ndarray) -> int:
    rows = mask.any(axis=1) if mask.ndim == 2 else mask
    return int(np.flatnonzero(rows)[0]) + 1


def _check_budget(budget: Any) -> float:
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float | np.integer | np.floating)
        or not (0 <= budget < math.inf)
    ):
        raise ConfigError(f"budget must be a finite number >= 0, got {budget!r}")
    return float(budget)


def _check_cost(cost: Any, n: int, k: int) -> np.ndarray:
    c = np.asarray(cost, np.float64)
    if c.shape not in ((k,), (n, k)):
        raise DataError(
            f"must have shape ({k},) or ({n}, {k}) (one cost per intervention), got {c.shape}", column="cost"
        )
    bad = ~np.isfinite(c) | (c < 0)
    if bad.any():
        raise DataError("costs must be finite and >= 0", row=_bad_row(bad) if c.ndim == 2 else None, column="cost")
    return np.broadcast_to(c, (n, k))


def _choose(gain: np.ndarray, cost: np.ndarray, lam: float) -> np.ndarray:
    """Each row's ``argmax_k gain - lam cost`` if positive, else -1 (gain is -inf where the effect is <= 0)."""
    s = gain - lam * cost
    best = np.argmax(s, axis=1)
    return np.where(s[np.arange(s.shape[0]), best] > 0, best, -1)


def _spend(choice: np.ndarray, cost: np.ndarray) -> float:
    on = choice >= 0
    return float(cost[np.flatnonzero(on), choice[on]].sum())


@njit(cache=True)
def _greedy(
    member: np.ndarray, start: np.ndarray, to: np.ndarray, extra: np.ndarray, state: np.ndarray, room: float
) -> float:
    """Apply the moves in the order given where the member is still where the move starts and it fits."""
    for j in range(member.size):
        i = member[j]
        if state[i] == start[j] and extra[j] <= room:
            state[i] = to[j]
            room -= extra[j]
    return room


def _fill(effect: np.ndarray, cost: np.ndarray, state: np.ndarray, room: float) -> None:
    """Greedy fill: moves that raise a member's effect (from nothing, or up to a dearer intervention), best
    ``extra effect / extra cost`` first, while they fit; repeated from the new state until nothing changes."""
    n, k = effect.shape
    rows = np.arange(n)
    for _ in range(k + 1):
        on = state >= 0
        cur_e = np.where(on, effect[rows, np.maximum(state, 0)], 0.0)
        cur_c = np.where(on, cost[rows, np.maximum(state, 0)], 0.0)
        d_e = effect - cur_e[:, None]
        d_c = cost - cur_c[:, None]
        ok = (d_e > 0) & (d_c <= room)
        i, a = np.nonzero(ok)
        if i.size == 0:
            return
        de, dc = d_e[i, a], d_c[i, a]
        with np.errstate(divide="ignore"):
            ratio = np.where(dc > 0, de / np.maximum(dc, 0), np.inf)
        order = np.lexsort((-de, -ratio))
        before = state.copy()
        room = _greedy(i[order], state[i[order]].copy(), a[order], dc[order], state, room)
        if np.array_equal(before, state):
            return


def budgeted_plan(effect: np.ndarray, cost: np.ndarray, budget: float) -> Plan:
    """The plan with the largest total effect whose cost fits the budget, at most one intervention per member.

    Maximise ``sum_i effect[i, a_i]`` over ``a_i`` in {nothing, 0..K-1} subject to ``sum_i cost[i, a_i] <= budget``:
    the multiple-choice knapsack problem. Its Lagrangian relaxation decouples the members: for a price ``lam``
    per unit of cost each member takes ``argmax_k effect[i, k] - lam cost[i, k]`` if that is positive. The spend
    falls as ``lam`` rises; ``lam`` is bisected to the smallest price whose plan fits (only members whose choice
    differs at the bracket's two ends are re-evaluated, so the work shrinks each step), and the money left is
    filled greedily by ``extra effect / extra cost`` — members with nothing, or upgrades to a dearer intervention.

    Near-optimal: the relaxation's plan at the critical price is the LP relaxation's optimum less at most one
    member's fractional choice (Sinha & Zoltners, "The multiple-choice knapsack problem", Operations Research
    1979), and the greedy fill only adds, so ``total >= LP optimum - max_{i,k} effect[i, k] >= OPT - max effect``:
    the gap to the exact optimum is at most one member's largest effect (Kellerer, Pferschy & Pisinger,
    *Knapsack Problems*, Springer 2004, ch. 11). Negative or zero effects are never chosen. About a second for
    1M members x 3 interventions.

    Args:
        effect: (n, K) float estimated gain of each intervention (e.g. :meth:`UpliftModel.effect`).
        cost: (K,) or (n, K) cost of each intervention, >= 0.
        budget: total that may be spent, >= 0.

    Returns:
        :class:`Plan`; ``expected_kept`` is the sum of ``effect`` over the plan.

    Raises:
        DataError: non-finite effects or bad costs, naming the argument and the first bad row (1-based).
        ConfigError: a negative or non-finite budget.
    """
    e = np.asarray(effect, np.float64)
    if e.ndim != 2 or e.shape[1] < 1:
        raise DataError(f"must be (n_members, n_interventions), got shape {e.shape}", column="effect")
    if not np.isfinite(e).all():
        raise DataError("effects must be finite", row=_bad_row(~np.isfinite(e)), column="effect")
    n, k = e.shape
    c = _check_cost(cost, n, k)
    b = _check_budget(budget)
    gain = np.where(e > 0, e, -np.inf)
    hi_choice = _choose(gain, c, 0.0)
    if _spend(hi_choice, c) > b:
        priced = (e > 0) & (c > 0)
        lo, hi = 0.0, float(np.max(e[priced] / c[priced])) * (1 + 1e-9) + 1e-300
        lo_choice = hi_choice
        hi_choice = _choose(gain, c, hi)
        active = np.flatnonzero(lo_choice != hi_choice)
        fixed = np.ones(n, bool)
        fixed[active] = False
        fixed_spend = _spend(np.where(fixed, hi_choice, -1), c)
        for _ in range(200):
            if active.size == 0 or hi - lo <= 1e-12 * hi:
                break
            mid = 0.5 * (lo + hi)
            ch = _choose(gain[active], c[active], mid)
            if fixed_spend + _spend(ch, c[active]) > b:
                lo, lo_choice[active] = mid, ch
            else:
                hi, hi_choice[active] = mid, ch
            settled = lo_choice[active] == hi_choice[active]
            if settled.any():
                done = active[settled]
                fixed_spend += _spend(hi_choice[done], c[done])
                active = active[~settled]
    _fill(e, c, hi_choice, b - _spend(hi_choice, c))
    on = np.flatnonzero(hi_choice >= 0)
    chosen = hi_choice[on]
    while on.size and c[on, chosen].sum() > b:  # the fill sums costs one by one: undo rounding past the budget
        worst = int(np.argmin(e[on, chosen]))
        hi_choice[on[worst]] = -1
        on, chosen = np.delete(on, worst), np.delete(chosen, worst)
    return Plan(
        assignment=hi_choice.astype(np.int64),
        spent=float(c[on, chosen].sum()),
        budget=b,
        expected_kept=float(e[on, chosen].sum()),
        counts=np.bincount(chosen, minlength=k).astype(np.int64),
    )


def risk_plan(
    risk: np.ndarray, intervention: int, cost: float | np.ndarray, budget: float, *, n_interventions: int | None = None
) -> Plan:
    """The usual practice: give ``intervention`` to the members most likely to leave, riskiest first, until the
    next member's cost no longer fits the budget.

    Args:
        risk: (n,) float, higher = more likely to churn (e.g. ``predict_churn``); ties keep input order.
        intervention: index ``k`` of the intervention (arm ``k + 1``).
        cost: its cost, one number or (n,) per member, >= 0.
        budget: total that may be spent, >= 0.
        n_interventions: ``K`` for ``Plan.counts`` (default ``intervention + 1``).

    Returns:
        :class:`Plan` with ``expected_kept`` NaN (no effects were used).
    """
    r = np.asarray(risk, np.float64)
    if r.ndim != 1:
        raise DataError(f"must be (n_members,), got shape {r.shape}", column="risk")
    if not np.isfinite(r).all():
        raise DataError("risks must be finite", row=_bad_row(~np.isfinite(r)), column="risk")
    k = intervention + 1 if n_interventions is None else n_interventions
    if isinstance(intervention, bool) or not isinstance(intervention, int | np.integer) or not 0 <= intervention < k:
        raise ConfigError(f"intervention must be an int in 0..{k - 1}, got {intervention!r}")
    n = r.size
    c = np.asarray(cost, np.float64)
    if c.shape not in ((), (n,)):
        raise DataError(f"must be one number or one per member ({n},), got shape {c.shape}", column="cost")
    c = np.broadcast_to(c, (n,))
    if not (np.isfinite(c) & (c >= 0)).all():
        raise DataError("costs must be finite and >= 0", row=_bad_row(~(np.isfinite(c) & (c >= 0))), column="cost")
    b = _check_budget(budget)
    order = np.argsort(-r, kind="stable")
    fits = np.cumsum(c[order]) <= b
    m = int(np.argmin(fits)) if not fits.all() else n
    assignment = np.full(n, -1, np.int64)
    assignment[order[:m]] = intervention
    counts = np.zeros(k, np.int64)
    counts[intervention] = m
    return Plan(assignment, float(c[order[:m]].sum()), b, math.nan, counts)


def plan_value(
    assignment: np.ndarray,
    treatment: np.ndarray,
    outcome: np.ndarray,
    propensity: np.ndarray,
    potential: np.ndarray,
    *,
    level: float = 0.9,
) -> Interval:
    """Extra members retained per member by following ``assignment`` rather than doing nothing (doubly robust).

    On randomized members the plan's model was not fitted on, with ``pi(x_i)`` the plan's arm for member ``i``
    (0 where it assigns nothing) and the augmented inverse-propensity score of arm ``a``

        ``Gamma_i(a) = mu_a(x_i) + 1[T_i = a] (y_i - mu_a(x_i)) / e_a(x_i)``,

    the value is ``V = mean_i [Gamma_i(pi(x_i)) - Gamma_i(0)]`` with the normal interval
    ``V +- z_{(1+level)/2} sd / sqrt(n)``. Unbiased with the known propensities whatever ``mu``; a good ``mu``
    only narrows the interval (Dudík, Langford & Li, "Doubly robust policy evaluation and learning", ICML 2011;
    Athey & Wager, "Policy learning with observational data", Econometrica 2021).

    Args:
        assignment: (n,) int, -1 = nothing, ``k`` = intervention ``k`` (arm ``k + 1``), e.g. ``Plan.assignment``.
        treatment: (n,) int arm each member was randomized to (0 = control).
        outcome: (n,) 0/1 retained.
        propensity: (K + 1,) or (n, K + 1) assignment probabilities.
        potential: (n, K + 1) ``mu_a(x_i)``, e.g. :meth:`UpliftModel.potential_outcomes`.
        level: two-sided level of the interval.

    Returns:
        :class:`~marquee.metrics.intervals.Interval` of the extra retained per member (multiply by the
        population for members).
    """
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    mu = np.asarray(potential, np.float64)
    if mu.ndim != 2 or mu.shape[1] < 2:
        raise DataError(f"must be (n_members, K + 1), got shape {mu.shape}", column="potential")
    n, arms = mu.shape
    if not np.isfinite(mu).all():
        raise DataError("predictions must be finite", row=_bad_row(~np.isfinite(mu)), column="potential")
    t, y, k = check_trial(treatment, outcome, n)
    if k + 1 > arms:
        raise DataError(f"treatment has arms up to {k}, but potential has only {arms} columns", column="treatment")
    e = check_propensity(propensity, n, arms)
    a = np.asarray(assignment)
    if a.shape != (n,) or a.dtype.kind not in "iu":
        raise DataError(f"must be (n,) ints, got shape {a.shape} {a.dtype}", column="assignment")
    bad = (a < -1) | (a >= arms - 1)
    if bad.any():
        raise DataError(
            f"must be -1 (nothing) or an intervention 0..{arms - 2}", row=_bad_row(bad), column="assignment"
        )
    arm = a.astype(np.int64) + 1
    rows = np.arange(n)

    def gamma(chosen: np.ndarray) -> np.ndarray:
        m = mu[rows, chosen]
        return m + (t == chosen) * (y - m) / e[rows, chosen]

    diff = gamma(arm) - gamma(np.zeros(n, np.int64))
    est = float(diff.mean())
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    z = float(stats.norm.ppf(0.5 + level / 2))
    return Interval(est, est - z * se, est + z * se, level)


def size_test(
    baseline_rate: float, lift: float, *, alpha: float = 0.05, power: float = 0.8, allocation: float = 0.5
) -> int:
    """Members in the intervention arm to detect an absolute ``lift`` in retention with a two-sided test.

    The smallest ``n_1`` whose minimum detectable effect (:func:`marquee.experiment.analysis.minimum_detectable_effect`,
    ``(t_{1-alpha/2} + t_power) se`` with Welch–Satterthwaite degrees of freedom) is at most ``|lift|``, where
    ``se = sqrt(p_1 (1 - p_1) / n_1 + p_0 (1 - p_0) / n_0)``, ``p_0 = baseline_rate``, ``p_1 = p_0 + lift`` and
    ``n_0 = n_1 (1 - allocation) / allocation``. With ``allocation = 0.5`` both arms need ``n_1``; close to the
    normal formula ``(z_{1-alpha/2} + z_power)^2 (p_1 q_1 + p_0 q_0) / lift^2``.

    Args:
        baseline_rate: control's retention rate, in (0, 1).
        lift: absolute change to detect (non-zero; ``baseline_rate + lift`` in (0, 1)).
        alpha: two-sided significance level.
        power: probability of detecting ``lift``.
        allocation: share of the two arms' members given the intervention, in (0, 1).

    Returns:
        Members in the intervention arm (the control arm needs ``ceil(n_1 (1 - allocation) / allocation)``).
    """
    p0, p1 = float(baseline_rate), float(baseline_rate) + float(lift)
    if not (0 < p0 < 1 and 0 < p1 < 1) or lift == 0:
        raise ConfigError(
            "baseline_rate and baseline_rate + lift must be in (0, 1) and lift non-zero, "
            f"got {baseline_rate!r} and {lift!r}"
        )
    if not 0 < allocation < 1:
        raise ConfigError(f"allocation must be in (0, 1), got {allocation!r}")
    ratio = (1 - allocation) / allocation
    v1, v0 = p1 * (1 - p1), p0 * (1 - p0)

    def mde(n1: int) -> float:
        n0 = n1 * ratio
        a, b = v1 / n1, v0 / n0
        dof = (a + b) ** 2 / (a**2 / max(n1 - 1, 1) + b**2 / max(n0 - 1, 1))
        return float(minimum_detectable_effect(math.sqrt(a + b), dof, alpha, power))

    target = abs(float(lift))
    lo, hi = 1, 2
    while mde(hi) > target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # mde(lo) > target >= mde(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if mde(mid) > target else (lo, mid)
    return hi
