"""Known answers and properties of the estimators beyond the contract."""

import math

import numpy as np
import pytest

from marquee.data import LoggedFeedback
from marquee.errors import ConfigError, DataError
from marquee.ope import (
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    DRShrinkage,
    RewardModel,
    SelfNormalizedDR,
    SwitchDR,
    default_estimators,
    evaluate,
)
from marquee.sim import SyntheticBandit

WORLD = SyntheticBandit(seed=0)


@pytest.fixture(scope="module")
def log():
    return WORLD.sample(3000, seed=11)


def test_ips_is_the_mean_reward_on_policy_exactly(log):
    est = IPS(n_bootstrap=200).estimate(log, WORLD.logging_policy(log.context))
    assert est.value == pytest.approx(log.mean_reward, rel=1e-12)
    assert est.diagnostics["max_weight"] == pytest.approx(1.0)


def test_ips_analytic_interval_is_the_clt_one(log):
    pi = WORLD.target_policy(log.context)
    est = IPS(n_bootstrap=200).estimate(log, pi)
    terms = pi[np.arange(len(log)), log.action] / log.propensity * log.reward
    half = 1.959964 * terms.std(ddof=1) / math.sqrt(len(log))
    assert est.analytic.low == pytest.approx(terms.mean() - half, rel=1e-5)
    assert est.analytic.high == pytest.approx(terms.mean() + half, rel=1e-5)


def test_ips_is_unbiased_across_seeds():
    """Mean of 40 independent IPS estimates within 3 standard errors of the truth."""
    truth = WORLD.policy_value()
    values = []
    for seed in range(40):
        log = WORLD.sample(1000, seed=100 + seed)
        values.append(IPS(n_bootstrap=2).estimate(log, WORLD.target_policy(log.context)).value)
    values = np.array(values)
    assert abs(values.mean() - truth) < 3 * values.std(ddof=1) / math.sqrt(values.size)


def test_dm_is_biased_under_a_misspecified_model_and_dr_corrects_it(log):
    """The logistic model is additive in context and action; the world's reward is not."""
    pi = WORLD.target_policy(log.context)
    q = RewardModel(model="logistic").fit(log).cross_fitted_
    truth = WORLD.policy_value()
    dm = DirectMethod(n_bootstrap=200).estimate(log, pi, q)
    dr = DoublyRobust(n_bootstrap=200).estimate(log, pi, q)
    assert truth - dm.value > 0.1  # DM: far off, and its interval misses the truth
    assert not dm.interval.low <= truth <= dm.interval.high
    assert abs(dr.value - truth) < 0.05 and dr.interval.low <= truth <= dr.interval.high


def test_switch_and_shrinkage_span_dm_to_dr(log):
    pi = WORLD.target_policy(log.context)
    q = 0.9 * WORLD.expected_reward(log.context)
    dm = DirectMethod(n_bootstrap=2).estimate(log, pi, q).value
    dr = DoublyRobust(n_bootstrap=2).estimate(log, pi, q).value
    assert SwitchDR(tau=math.inf, n_bootstrap=2).estimate(log, pi, q).value == pytest.approx(dr, rel=1e-12)
    assert SwitchDR(tau=0, n_bootstrap=2).estimate(log, pi, q).value == pytest.approx(dm, rel=1e-12)
    assert DRShrinkage(shrinkage=math.inf, n_bootstrap=2).estimate(log, pi, q).value == pytest.approx(dr, rel=1e-12)
    assert DRShrinkage(shrinkage=1e-12, n_bootstrap=2).estimate(log, pi, q).value == pytest.approx(dm, abs=1e-6)
    assert DRShrinkage(shrinkage=0, n_bootstrap=2).estimate(log, pi, q).value == pytest.approx(dm, rel=1e-12)


def test_tuning_picks_dm_when_the_reward_model_is_exact_and_weights_are_wild():
    """With true rewards and huge weights, the corrections only add variance: tuning drops them."""
    world = SyntheticBandit(seed=0, target_temperature=8.0)
    log = world.sample(2000, seed=5)
    pi, q = world.target_policy(log.context), world.expected_reward(log.context)
    switch = SwitchDR(n_bootstrap=2, tuning="mse", bias_bound=False).estimate(log, pi, q)
    dr = DoublyRobust(n_bootstrap=2).estimate(log, pi, q)
    assert math.isfinite(switch.diagnostics["tau"]) and switch.diagnostics["tau"] > 0
    assert switch.diagnostics["switched_share"] > 0
    truth = world.policy_value()
    assert abs(switch.value - truth) <= abs(dr.value - truth) + 1e-12


def test_slope_drops_the_corrections_when_an_exact_reward_model_agrees_with_dr():
    """SLOPE++ with true rewards and huge weights: DM agrees with DR within DR's wide bound, so it
    settles on a small threshold and lands closer to the truth than DR."""
    world = SyntheticBandit(seed=0, target_temperature=8.0)
    log = world.sample(2000, seed=5)
    pi, q = world.target_policy(log.context), world.expected_reward(log.context)
    truth = world.policy_value()
    dr = DoublyRobust(n_bootstrap=2).estimate(log, pi, q)
    for est in (SwitchDR(n_bootstrap=2), DRShrinkage(n_bootstrap=2)):
        e = est.estimate(log, pi, q)
        knob = e.diagnostics["tau"] if "tau" in e.diagnostics else e.diagnostics["shrinkage"]
        assert 0 <= knob < e.diagnostics["max_weight"] ** 2, est
        assert abs(e.value - truth) <= abs(dr.value - truth) + 1e-12, est


def test_slope_keeps_dr_when_a_biased_reward_model_disagrees_with_it(log):
    """A reward model 0.3 too high: DM's estimate sits far outside DR's bound, so SLOPE++ keeps
    (nearly) all of the correction and stays close to DR and the truth."""
    pi = WORLD.target_policy(log.context)
    q = np.clip(WORLD.expected_reward(log.context) + 0.3, 0, 1)
    truth = WORLD.policy_value()
    dm = DirectMethod(n_bootstrap=2).estimate(log, pi, q).value
    dr = DoublyRobust(n_bootstrap=2).estimate(log, pi, q).value
    assert dm - truth > 0.2
    for est in (SwitchDR(n_bootstrap=2), DRShrinkage(n_bootstrap=2)):
        value = est.estimate(log, pi, q).value
        assert abs(value - dr) < 0.25 * abs(dm - dr), est
        assert abs(value - truth) < 0.05, est


def test_snips_stays_within_the_reward_range(log):
    pi = WORLD.target_policy(log.context)
    est = SNIPS(n_bootstrap=200).estimate(log, pi)
    assert 0.0 <= est.interval.low <= est.value <= est.interval.high <= 1.0


def test_sndr_equals_dr_when_weights_average_one(log):
    pi = WORLD.logging_policy(log.context)  # every weight is exactly 1
    q = 0.9 * WORLD.expected_reward(log.context)
    a = DoublyRobust(n_bootstrap=2).estimate(log, pi, q).value
    b = SelfNormalizedDR(n_bootstrap=2).estimate(log, pi, q).value
    assert a == pytest.approx(b, rel=1e-12)


def test_positions_pick_each_rounds_slot():
    """Two slots with different policies: only the logged slot's probabilities count."""
    log = LoggedFeedback(
        context=np.zeros((4, 1)), action=[0, 1, 0, 1], reward=[1.0, 0.0, 0.0, 1.0], propensity=[0.5] * 4,
        position=[0, 0, 1, 1], n_actions=2, policy="uniform",
    )  # fmt: skip
    dist = np.zeros((4, 2, 2))
    dist[:, 0, 0] = 1.0  # slot 0 always shows action 0
    dist[:, 1, 1] = 1.0  # slot 1 always shows action 1
    # Matching rounds: row 0 (slot 0, action 0, r=1) and row 3 (slot 1, action 1, r=1), weight 2 each.
    assert IPS(n_bootstrap=2).estimate(log, dist).value == pytest.approx((2 * 1 + 2 * 1) / 4)


def test_reward_hat_shape_is_checked(log):
    pi = WORLD.target_policy(log.context)
    with pytest.raises(DataError, match=r"column 'reward_hat': must have shape \(3000, 5\)"):
        DoublyRobust().estimate(log, pi, np.zeros((3000, 4)))
    with pytest.raises(DataError, match=r"column 'reward_hat': must hold finite, got nan"):
        DoublyRobust().estimate(log, pi, np.full((3000, 5), np.nan))


def test_config_is_validated():
    with pytest.raises(ConfigError, match=r"SwitchDRConfig.tau must be None or >= 0, got -1"):
        SwitchDR(tau=-1)
    with pytest.raises(ConfigError, match=r"EstimatorConfig.level must be in \(0, 1\), got 1.5"):
        IPS(level=1.5)
    with pytest.raises(ConfigError, match=r"EstimatorConfig.n_bootstrap must be an int >= 1, got 0"):
        DoublyRobust(n_bootstrap=0)
    with pytest.raises(ConfigError, match=r"DRShrinkageConfig.tuning must be one of \('slope', 'mse'\), got 'cv'"):
        DRShrinkage(tuning="cv")


def test_evaluate_shares_one_reward_model(log):
    pi = WORLD.target_policy(log.context)
    results = evaluate(log, pi, default_estimators(n_bootstrap=50))
    assert list(results) == ["dm", "ips", "snips", "dr", "sndr", "switch_dr", "dr_os"]
    q = RewardModel().fit(log).cross_fitted_
    assert results["dr"].value == pytest.approx(DoublyRobust(n_bootstrap=50).estimate(log, pi, q).value, rel=1e-12)
    assert results["dr"].to_dict()["interval"]["level"] == 0.95
    with pytest.raises(ConfigError, match="estimators must have distinct names"):
        evaluate(log, pi, [IPS(), IPS(n_bootstrap=5)])
