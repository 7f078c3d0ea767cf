"""The contract every bandit policy honours, as a pytest suite::

    class TestLinUCB(PolicyContract):
        def make(self):
            return LinUCB(n_actions=5, alpha=0.5)

The world is a :class:`~marquee.sim.SyntheticBandit` with 5 actions and 4 context features; a
policy is judged by its true value ``E_x[sum_a pi(a|x) q(x, a)]`` on fresh contexts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from marquee.bandit.base import Policy
from marquee.bandit.decisions import Decider, InMemoryDecisionLog
from marquee.errors import ArtifactError, ConfigError, DataError, NotFittedError
from marquee.sim.bandit import SyntheticBandit

__all__ = ["PolicyContract"]


class PolicyContract:
    """Subclass and implement :meth:`make` (a policy for 5 actions). Flags relax what a policy cannot promise."""

    #: Learns online from ``update`` (false for offline-only learners).
    online: bool = True
    #: Can choose before any ``fit``/``update`` (from its prior).
    chooses_before_fit: bool = True
    #: Uses the context (false for context-free policies).
    contextual: bool = True
    #: How much better than uniform the fitted policy must be (true value, absolute).
    min_gain: float = 0.1

    def make(self) -> Policy:
        raise NotImplementedError

    def world(self) -> SyntheticBandit:
        return SyntheticBandit(seed=0)

    def fitted(self) -> Policy:
        return self.make().fit(self.world().sample(3000, seed=1))

    def value(self, policy: Policy, n: int = 2000) -> float:
        world = self.world()
        x = world.contexts(n, seed=99)
        return float((policy.action_distribution(x) * world.expected_reward(x)).sum(axis=1).mean())

    def uniform_value(self) -> float:
        x = self.world().contexts(2000, seed=99)
        return float(self.world().expected_reward(x).mean())

    # ---- config ---------------------------------------------------------------------------
    def test_config_round_trips_json(self) -> None:
        config = self.make().config
        assert type(config)(**json.loads(json.dumps(dataclasses.asdict(config)))) == config

    def test_unknown_hyperparameter_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="has no hyperparameter 'no_such_param'"):
            type(self.make())(self.make().config, no_such_param=1)

    # ---- choosing -------------------------------------------------------------------------
    def test_distribution_rows_are_probabilities(self) -> None:
        policy = self.fitted()
        dist = policy.action_distribution(self.world().contexts(50, seed=5))
        assert dist.shape == (50, 5)
        assert np.all(dist >= 0) and np.allclose(dist.sum(axis=1), 1.0)

    def test_choice_comes_with_its_propensity(self) -> None:
        policy = self.fitted()
        x = self.world().contexts(200, seed=6)
        chosen = policy.choose(x, rng=3)
        assert chosen.action.shape == (200,) and chosen.action.dtype == np.int64
        assert np.all((chosen.propensity > 0) & (chosen.propensity <= 1))
        np.testing.assert_allclose(chosen.propensity, policy.action_distribution(x)[np.arange(200), chosen.action], rtol=1e-9)

    def test_choices_follow_the_stated_propensities(self) -> None:
        """4,000 choices in one context: observed shares within 0.03 (about 4 sd) of the distribution."""
        policy = self.fitted()
        x = np.tile(self.world().contexts(1, seed=7), (4000, 1))
        chosen = policy.choose(x, rng=11)
        shares = np.bincount(chosen.action, minlength=5) / 4000
        np.testing.assert_allclose(shares, policy.action_distribution(x[:1])[0], atol=0.03)

    def test_same_seed_same_choices(self) -> None:
        policy = self.fitted()
        x = self.world().contexts(100, seed=8)
        np.testing.assert_array_equal(policy.choose(x, rng=5).action, policy.choose(x, rng=5).action)

    def test_fresh_policy(self) -> None:
        x = self.world().contexts(10, seed=9)
        if self.chooses_before_fit:
            dist = self.make().action_distribution(x)
            assert np.allclose(dist.sum(axis=1), 1.0) and np.all(dist > 0), "a fresh policy must explore every action"
        else:
            with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
                self.make().action_distribution(x)

    # ---- learning -------------------------------------------------------------------------
    def test_fit_returns_self_and_beats_uniform(self) -> None:
        policy = self.make()
        assert policy.fit(self.world().sample(3000, seed=1)) is policy
        gain = self.value(policy) - self.uniform_value()
        assert gain >= self.min_gain, f"fitted policy beats uniform by {gain:.4f} < {self.min_gain}"

    def test_learns_online_through_a_logged_loop(self) -> None:
        if not self.online:
            with pytest.raises(NotImplementedError, match="offline only"):
                self.fitted().update(self.world().contexts(1, seed=0), [0], [1.0])
            return
        world, sink = self.world(), InMemoryDecisionLog()
        decider = Decider(self.make(), sink, seed=0)
        rng = np.random.default_rng(4)
        for step in range(30):
            x = world.contexts(50, seed=1000 + step)
            decisions = decider.decide(x)
            q = world.expected_reward(x)
            for i, d in enumerate(decisions):
                decider.feedback(d.decision_id, float(rng.random() < q[i, d.action]))
        log = sink.to_feedback(5)
        assert len(log) == 1500 and np.all((log.propensity > 0) & (log.propensity <= 1))
        gain = self.value(decider.policy) - self.uniform_value()
        assert gain >= self.min_gain, f"after 1,500 online rounds the policy beats uniform by {gain:.4f} < {self.min_gain}"

    def test_bad_updates_are_refused(self) -> None:
        policy = self.fitted()
        if self.contextual:
            with pytest.raises(DataError, match="has 7 features; this policy learned from contexts with 4"):
                policy.action_distribution(np.zeros((1, 7)))
        if self.online:
            with pytest.raises(DataError, match=r"column 'action': must lie in \[0, 5\), got 9"):
                policy.update(np.zeros((1, 4)), [9], [1.0])

    # ---- persistence ----------------------------------------------------------------------
    def test_save_load_round_trip(self, tmp_path: Path) -> None:
        policy = self.fitted()
        policy.save(tmp_path / "p")
        loaded = Policy.load(tmp_path / "p")
        assert type(loaded) is type(policy) and loaded.config == policy.config
        x = self.world().contexts(20, seed=10)
        np.testing.assert_allclose(loaded.action_distribution(x), policy.action_distribution(x), rtol=1e-9, atol=1e-12)
        manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
        assert manifest["class"].startswith("marquee.bandit.") and "sha256" in json.dumps(manifest)
        assert not list((tmp_path / "p").glob("*.pkl"))

    def test_damaged_artifact_is_refused(self, tmp_path: Path) -> None:
        self.fitted().save(tmp_path / "p")
        arrays = tmp_path / "p" / "arrays.safetensors"
        blob = bytearray(arrays.read_bytes())
        blob[-1] ^= 0xFF
        arrays.write_bytes(bytes(blob))
        with pytest.raises(ArtifactError, match="fails its checksum"):
            Policy.load(tmp_path / "p")
