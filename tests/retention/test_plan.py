"""Budgeted plans against the exact optimum, the risk-ranked practice, the DR value's coverage and test sizing."""

import math
import time

import numpy as np
import pytest
from scipy import optimize, stats

from marquee.errors import ConfigError, DataError
from marquee.retention.plan import budgeted_plan, plan_value, risk_plan, size_test
from marquee.retention.uplift import UpliftModel
from tests.retention.test_uplift import PROPENSITY, trial, world


def exact_optimum(effect, cost, budget):
    """The multiple-choice knapsack's optimum by scipy's MILP (HiGHS): x_ik in {0, 1}, sum_k x_ik <= 1."""
    n, k = effect.shape
    take = np.zeros((n, n * k))
    for i in range(n):
        take[i, i * k : (i + 1) * k] = 1
    constraints = [
        optimize.LinearConstraint(take, 0, 1),
        optimize.LinearConstraint(cost.reshape(1, -1), 0, budget),
    ]
    res = optimize.milp(
        -effect.ravel(), constraints=constraints, integrality=np.ones(n * k), bounds=optimize.Bounds(0, 1)
    )
    assert res.success
    return -res.fun


def random_instance(rng, n=60, k=3):
    effect = rng.normal(0.02, 0.05, (n, k))
    cost = rng.uniform(0.5, 5.0, (n, k))
    return effect, cost, float(rng.uniform(0.05, 0.6) * cost.sum() / k)


def test_within_a_small_gap_of_the_exact_optimum():
    rng = np.random.default_rng(0)
    relative, of_bound = [], []
    for _ in range(30):
        effect, cost, budget = random_instance(rng)
        plan = budgeted_plan(effect, cost, budget)
        best = exact_optimum(effect, cost, budget)
        assert plan.spent <= budget
        assert plan.expected_kept <= best + 1e-9
        gap = best - plan.expected_kept
        assert gap <= effect.max() + 1e-9  # the stated bound: one member's largest effect
        relative.append(gap / best)
        of_bound.append(gap / effect.max())
    # measured: gap 0.27% of the optimum on average, 1.8% at worst; 19% of the bound at worst
    assert np.mean(relative) < 0.005 and np.max(relative) < 0.03
    assert np.max(of_bound) < 0.3


def test_shared_costs_and_ties_are_filled_to_the_budget():
    # 100 identical members: every price drops all of them at once; the greedy fill must take them back
    effect = np.tile([0.05, 0.08, 0.09], (100, 1))
    plan = budgeted_plan(effect, np.array([1.0, 2.0, 3.0]), 37.0)
    assert plan.spent <= 37.0
    assert plan.expected_kept == pytest.approx(exact_optimum(effect, np.tile([1.0, 2.0, 3.0], (100, 1)), 37.0))
    assert plan.counts.sum() == (plan.assignment >= 0).sum() == 37


def test_never_over_budget_and_never_a_harmful_intervention():
    rng = np.random.default_rng(1)
    for _ in range(50):
        n, k = rng.integers(1, 400), rng.integers(1, 5)
        effect = rng.normal(0, 0.05, (n, k))
        cost = rng.choice([0.0, 0.5, 1.0, 3.0], size=k) if rng.random() < 0.5 else rng.uniform(0, 4, (n, k))
        budget = float(rng.uniform(0, 2) * n)
        plan = budgeted_plan(effect, cost, budget)
        c = np.broadcast_to(cost, (n, k))
        on = np.flatnonzero(plan.assignment >= 0)
        assert plan.spent == pytest.approx(c[on, plan.assignment[on]].sum()) and plan.spent <= budget
        assert (effect[on, plan.assignment[on]] > 0).all()
        assert plan.expected_kept == pytest.approx(plan.total(effect))
        assert plan.counts.tolist() == np.bincount(plan.assignment[on], minlength=k).tolist()
    # a budget that covers everything: each member takes its best positive intervention
    effect = rng.normal(0, 0.05, (200, 3))
    plan = budgeted_plan(effect, [1.0, 2.0, 3.0], 1e9)
    best = np.where(effect.max(axis=1) > 0, effect.argmax(axis=1), -1)
    assert (plan.assignment == best).all()
    assert budgeted_plan(effect, [1.0, 2.0, 3.0], 0).counts.sum() == 0


def test_the_plan_from_true_effects_beats_the_plan_from_noisy_ones():
    rng = np.random.default_rng(2)
    _, mu = world(20_000, rng)
    tau = mu[:, 1:] - mu[:, :1]
    cost, budget = np.array([1.0, 2.0, 4.0]), 8_000.0
    truth = budgeted_plan(tau, cost, budget).total(tau)
    a_little = budgeted_plan(tau + rng.normal(0, 0.05, tau.shape), cost, budget).total(tau)
    a_lot = budgeted_plan(tau + rng.normal(0, 0.1, tau.shape), cost, budget).total(tau)
    riskiest = risk_plan(1 - mu[:, 0], 1, cost[1], budget).total(tau)
    assert truth > a_little > a_lot > 0
    assert truth > 1.1 * a_lot  # measured 1597 vs 1531 (noise sd 0.05) vs 1376 (sd 0.1): 1.16x
    assert truth > 2 * riskiest  # measured 3.4x (the riskiest are not the ones who gain)


@pytest.mark.slow
def test_a_million_members_by_three_in_about_a_second():
    rng = np.random.default_rng(3)
    effect = rng.normal(0.02, 0.05, (1_000_000, 3))
    cost = np.array([1.0, 2.5, 6.0])
    budgeted_plan(effect[:100], cost, 10.0)  # compile the fill
    start = time.perf_counter()
    plan = budgeted_plan(effect, cost, 300_000.0)
    elapsed = time.perf_counter() - start
    assert plan.spent <= 300_000.0 and plan.spent > 299_990.0
    assert elapsed < 3.0  # measured 0.6-0.7 s on a shared 2-core machine


def test_risk_plan_goes_down_the_risk_order_until_the_money_runs_out():
    rng = np.random.default_rng(4)
    risk = rng.random(500)
    plan = risk_plan(risk, 2, 3.0, 100.0, n_interventions=3)
    chosen = np.flatnonzero(plan.assignment >= 0)
    assert chosen.size == 33 and plan.spent == 99.0 and plan.counts.tolist() == [0, 0, 33]
    assert set(chosen) == set(np.argsort(-risk)[:33]) and (plan.assignment[chosen] == 2).all()
    assert math.isnan(plan.expected_kept)
    per_member = rng.uniform(1, 5, 500)
    plan = risk_plan(risk, 0, per_member, 50.0)
    order = np.argsort(-risk)
    m = int((plan.assignment >= 0).sum())
    assert (plan.assignment[order[:m]] == 0).all() and (plan.assignment[order[m:]] == -1).all()
    assert plan.spent <= 50.0 < plan.spent + per_member[order[m]]
    with pytest.raises(ConfigError, match=r"intervention must be an int in 0..2, got 3"):
        risk_plan(risk, 3, 1.0, 10.0, n_interventions=3)


def _policy(x):
    """A fixed rule of x: the intervention that helps most, if it helps by more than 0.03."""
    _, mu = world_of(x)
    tau = mu[:, 1:] - mu[:, :1]
    return np.where(tau.max(axis=1) > 0.03, tau.argmax(axis=1), -1)


def world_of(x):
    base = 0.3 + 0.8 * x[:, 0] - 0.5 * x[:, 1]
    delta = np.column_stack([1.0 * x[:, 2], 0.5 + 0.6 * x[:, 3], -0.4 + 1.0 * x[:, 0]])
    return x, 1 / (1 + np.exp(-np.column_stack([base, base[:, None] + delta])))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["true", "wrong"])
def test_plan_value_interval_covers_the_true_value_at_its_level(model):
    rng = np.random.default_rng(5)
    x_pop, mu_pop = world(2_000_000, rng)
    assert np.allclose(world_of(x_pop)[1], mu_pop)
    a = _policy(x_pop)
    on = np.flatnonzero(a >= 0)
    true_value = (mu_pop[on, a[on] + 1] - mu_pop[on, 0]).sum() / a.size  # Monte Carlo error ~1e-4
    covered, widths = 0, []
    reps = 1000
    for r in range(reps):
        x, t, y, mu = trial(2000, 1000 + r)
        potential = mu if model == "true" else 0.5 * mu + 0.25  # a badly shrunk model: DR stays unbiased
        iv = plan_value(_policy(x), t, y, PROPENSITY, potential, level=0.9)
        covered += iv.low <= true_value <= iv.high
        widths.append(iv.high - iv.low)
    # measured coverage: 0.890 (true model), 0.901 (shrunk model); binomial sd at 1000 reps is 0.0095
    assert 0.87 <= covered / reps <= 0.93


@pytest.mark.slow
def test_budgeted_uplift_plan_keeps_more_members_than_the_riskiest_first():
    x, t, y, _ = trial(8000, 6)
    x_eval, t_eval, y_eval, mu_eval = trial(8000, 7)
    model = UpliftModel(learner="dr").fit(x, t, y, PROPENSITY)
    cost, budget = np.array([1.0, 2.0, 4.0]), 3000.0
    uplift = budgeted_plan(model.effect(x_eval), cost, budget)
    risky = risk_plan(1 - model.potential_outcomes(x_eval)[:, 0], 1, cost[1], budget, n_interventions=3)
    potential = model.potential_outcomes(x_eval)
    v_uplift = plan_value(uplift.assignment, t_eval, y_eval, PROPENSITY, potential)
    v_risky = plan_value(risky.assignment, t_eval, y_eval, PROPENSITY, potential)
    tau = mu_eval[:, 1:] - mu_eval[:, :1]
    assert uplift.total(tau) > 2 * risky.total(tau) > 0  # measured 505 vs 170 members kept (of 8000)
    assert v_uplift.low > 0 and v_uplift.estimate > v_risky.estimate
    assert v_uplift.low <= uplift.total(tau) / 8000 <= v_uplift.high


def test_plan_value_is_zero_for_doing_nothing_and_checks_its_inputs():
    _, t, y, mu = trial(300, 8)
    nothing = plan_value(np.full(300, -1), t, y, PROPENSITY, mu)
    assert (nothing.estimate, nothing.low, nothing.high) == (0.0, 0.0, 0.0)
    with pytest.raises(DataError, match=r"^row 3, column 'assignment': must be -1 \(nothing\) or an intervention 0..2"):
        plan_value(np.array([0, 1, 3] + [0] * 297), t, y, PROPENSITY, mu)
    with pytest.raises(DataError, match=r"column 'potential': must be \(n_members, K \+ 1\)"):
        plan_value(np.zeros(300, int), t, y, PROPENSITY, mu[:, 0])
    with pytest.raises(DataError, match=r"column 'propensity': must have shape \(4,\) or \(300, 4\)"):
        plan_value(np.zeros(300, int), t, y, [0.5, 0.5], mu)


def test_bad_plan_inputs_are_named():
    with pytest.raises(DataError, match=r"^row 2, column 'effect': effects must be finite"):
        budgeted_plan(np.array([[0.1, 0.2], [np.nan, 0.1]]), [1.0, 1.0], 1.0)
    with pytest.raises(DataError, match=r"column 'cost': must have shape \(2,\) or \(2, 2\)"):
        budgeted_plan(np.zeros((2, 2)), [1.0, 1.0, 1.0], 1.0)
    with pytest.raises(DataError, match=r"^row 2, column 'cost': costs must be finite and >= 0"):
        budgeted_plan(np.zeros((2, 2)), [[1.0, 1.0], [1.0, -1.0]], 1.0)
    with pytest.raises(ConfigError, match=r"budget must be a finite number >= 0, got -1"):
        budgeted_plan(np.zeros((2, 2)), [1.0, 1.0], -1)


def test_size_test_matches_the_normal_formula():
    for p0, lift in [(0.8, 0.02), (0.6, 0.05), (0.9, -0.03), (0.5, 0.01)]:
        p1 = p0 + lift
        z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
        closed = z**2 * (p1 * (1 - p1) + p0 * (1 - p0)) / lift**2
        n = size_test(p0, lift)
        assert n == pytest.approx(closed, rel=2e-3)  # t quantiles vs normal: a few members more
        assert n >= closed - 1
    # a 1:3 split needs more members in total than 1:1 (closed form: n1 = z^2 (v1 + v0 a / (1 - a)) / lift^2)
    n1 = size_test(0.8, 0.02, allocation=0.25)
    closed = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) ** 2 * (0.82 * 0.18 + 0.8 * 0.2 / 3) / 0.02**2
    assert n1 == pytest.approx(closed, rel=2e-3) and n1 * 4 > 2 * size_test(0.8, 0.02)
    with pytest.raises(ConfigError, match=r"baseline_rate and baseline_rate \+ lift must be in \(0, 1\)"):
        size_test(0.99, 0.02)
