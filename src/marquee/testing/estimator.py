"""The contract every off-policy estimator honours, as a pytest suite::

    class TestIPS(EstimatorContract):
        tolerance = 0.06

        def make(self):
            return IPS()

The known answer is a :class:`~marquee.sim.SyntheticBandit` whose target-policy value is
computed exactly over actions; the log is 4,000 rounds of its logging policy (seed 1). The
reward predictions handed to reward-model estimators are the true expected rewards shrunk by 10%
(a wrong but sensible model): DR-type estimators must correct that, DM cannot (its subclass
overrides :meth:`reward_hat`).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from marquee.data.feedback import LoggedFeedback
from marquee.errors import ConfigError, DataError
from marquee.ope.base import Estimator
from marquee.sim.bandit import SyntheticBandit

__all__ = ["EstimatorContract"]


class EstimatorContract:
    """Subclass, implement :meth:`make` and state the tolerances."""

    #: |estimate - true value| allowed on the contract's log (about 3 standard errors).
    tolerance: float = 0.06
    #: |estimate - mean reward| allowed when the evaluated policy is the logging policy.
    on_policy_tolerance: float = 1e-12
    n_rounds: int = 4000

    def make(self) -> Estimator:
        raise NotImplementedError

    # ---- the known answer -----------------------------------------------------------------
    def world(self) -> SyntheticBandit:
        return SyntheticBandit(seed=0)

    def log(self) -> LoggedFeedback:
        return self.world().sample(self.n_rounds, seed=1)

    def reward_hat(self, world: SyntheticBandit, context: np.ndarray) -> np.ndarray:
        return 0.9 * world.expected_reward(context)

    def run(self, estimator: Estimator, log: LoggedFeedback, action_dist: np.ndarray):  # type: ignore[no-untyped-def]
        q = self.reward_hat(self.world(), log.context) if estimator.uses_reward_model else None
        return estimator.estimate(log, action_dist, q)

    # ---- config ---------------------------------------------------------------------------
    def test_config_round_trips_json(self) -> None:
        config = self.make().config
        assert type(config)(**json.loads(json.dumps(dataclasses.asdict(config)))) == config

    def test_unknown_hyperparameter_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="has no hyperparameter 'no_such_param'"):
            type(self.make())(no_such_param=1)

    # ---- known answers --------------------------------------------------------------------
    def test_recovers_the_known_policy_value(self) -> None:
        world, log = self.world(), self.log()
        est = self.run(self.make(), log, world.target_policy(log.context))
        truth = world.policy_value("target")
        assert abs(est.value - truth) <= self.tolerance, f"{est.estimator}={est.value:.4f}, truth {truth:.4f}, tolerance {self.tolerance}"

    def test_on_policy_value_is_the_mean_reward(self) -> None:
        world, log = self.world(), self.log()
        est = self.run(self.make(), log, world.logging_policy(log.context))
        assert abs(est.value - log.mean_reward) <= self.on_policy_tolerance

    def test_interval_brackets_the_estimate(self) -> None:
        world, log = self.world(), self.log()
        est = self.run(self.make(), log, world.target_policy(log.context))
        assert np.isfinite(est.value) and est.n == len(log)
        assert est.interval.low <= est.value <= est.interval.high and est.interval.level == 0.95
        if type(self.make()).has_analytic_interval:
            assert est.analytic is not None and est.analytic.low < est.value < est.analytic.high
            boot, normal = est.interval.high - est.interval.low, est.analytic.high - est.analytic.low
            assert 0.6 < boot / normal < 1.6, f"bootstrap width {boot:.4f} vs analytic {normal:.4f}"
        else:
            assert est.analytic is None

    # ---- invariants -----------------------------------------------------------------------
    def test_row_order_does_not_matter(self) -> None:
        world, log = self.world(), self.log()
        pi = world.target_policy(log.context)
        perm = np.random.default_rng(7).permutation(len(log))
        a = self.run(self.make(), log, pi)
        b = self.run(self.make(), log.take(perm), pi[perm])
        assert b.value == pytest.approx(a.value, rel=1e-9, abs=1e-12)

    def test_scaling_rewards_scales_the_estimate(self) -> None:
        world, log = self.world(), self.log()
        pi = world.target_policy(log.context)
        est = self.make()
        q = self.reward_hat(world, log.context) if est.uses_reward_model else None
        scaled = dataclasses.replace(log, reward=3.0 * log.reward)
        a = est.estimate(log, pi, q)
        b = est.estimate(scaled, pi, None if q is None else 3.0 * q)
        assert b.value == pytest.approx(3.0 * a.value, rel=1e-9)

    def test_same_seed_same_interval(self) -> None:
        world, log = self.world(), self.log()
        pi = world.target_policy(log.context)
        a, b = self.run(self.make(), log, pi), self.run(self.make(), log, pi)
        assert (a.interval.low, a.interval.high) == (b.interval.low, b.interval.high)

    def test_per_position_distribution_matches_flat_one(self) -> None:
        world, log = self.world(), self.log()
        pi = world.target_policy(log.context)
        a = self.run(self.make(), log, pi)
        b = self.run(self.make(), log, pi[:, :, None])
        assert b.value == pytest.approx(a.value, rel=1e-12)

    def test_fits_its_own_reward_model(self) -> None:
        est = self.make()
        if not est.uses_reward_model:
            pytest.skip("uses no reward model")
        log = self.world().sample(600, seed=3)
        assert np.isfinite(est.estimate(log, self.world().target_policy(log.context)).value)

    # ---- refusals -------------------------------------------------------------------------
    def test_bad_action_dist_is_refused(self) -> None:
        world, log = self.world(), self.log()
        with pytest.raises(DataError, match=r"column 'action_dist': must have shape \(4000, 5\)"):
            self.run(self.make(), log, np.full((len(log), 4), 0.25))
        pi = world.target_policy(log.context)
        pi[17] *= 0.5
        with pytest.raises(DataError, match=r"row 18, column 'action_dist': sums to 0\.5 over actions"):
            self.run(self.make(), log, pi)
