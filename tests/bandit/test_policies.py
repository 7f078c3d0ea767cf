"""Known answers of the policies' propensities, and the decision log."""

import json

import numpy as np
import pytest

from marquee.bandit import (
    BernoulliTS,
    Decider,
    EpsilonGreedy,
    InMemoryDecisionLog,
    LinearTS,
    LinUCB,
    Policy,
    beta_slot_distribution,
    simulate_beta_slots,
)
from marquee.bandit.thompson import normal_win_probabilities
from marquee.errors import ArtifactError, ConfigError, DataError, UnknownIdError


def test_beta_slot_distribution_matches_simulation():
    """Sharp and flat posteriors together; 400k simulated slates (sd of a share <= 0.0008)."""
    alpha, beta = np.array([1.0, 50, 5, 2, 30]), np.array([1.0, 950, 95, 38, 400])
    exact = beta_slot_distribution(alpha, beta, 3)
    simulated = simulate_beta_slots(alpha, beta, 3, 400_000, seed=1)
    np.testing.assert_allclose(exact.sum(axis=0), 1.0)
    np.testing.assert_allclose(exact, simulated, atol=0.004)


def test_symmetric_arms_share_every_slot_equally():
    np.testing.assert_allclose(beta_slot_distribution(np.full(4, 3.0), np.full(4, 7.0), 2), 0.25, atol=1e-6)


def test_normal_win_probabilities_match_simulation_and_a_closed_form():
    # Two arms: P(s0 > s1) = Phi((m0 - m1) / sqrt(s0² + s1²)).
    from scipy.stats import norm

    p = normal_win_probabilities(np.array([[0.3, 0.0]]), np.array([[1.0, 0.5]]))
    assert p[0, 0] == pytest.approx(norm.cdf(0.3 / np.sqrt(1.25)), abs=1e-4)
    rng = np.random.default_rng(0)
    mean, sd = rng.normal(size=(3, 5)), np.exp(rng.normal(size=(3, 5)) * 0.5)
    draws = mean[:, None, :] + sd[:, None, :] * rng.standard_normal((3, 200_000, 5))
    shares = np.stack([np.bincount(d.argmax(axis=1), minlength=5) / 200_000 for d in draws])
    np.testing.assert_allclose(normal_win_probabilities(mean, sd), shares, atol=0.006)


def test_epsilon_greedy_propensities_are_exact():
    policy = EpsilonGreedy(n_actions=4, epsilon=0.2).update(np.zeros((3, 1)), [2, 2, 1], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(policy.action_distribution(np.zeros((1, 1)))[0], [0.05, 0.05, 0.85, 0.05])


def test_lin_ucb_spreads_ties_and_is_deterministic_otherwise():
    fresh = LinUCB(n_actions=3, alpha=1.0)
    np.testing.assert_allclose(fresh.action_distribution(np.zeros((2, 2))), 1 / 3)
    learned = LinUCB(n_actions=3, alpha=0.0).update(np.ones((4, 2)), [1, 1, 0, 2], [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(learned.action_distribution(np.ones((1, 2)))[0], [0.0, 1.0, 0.0])
    assert learned.choose(np.ones((1, 2)), rng=0).propensity[0] == 1.0


def test_linear_ts_batch_update_equals_row_by_row():
    rng = np.random.default_rng(0)
    x, a, r = rng.normal(size=(20, 3)), rng.integers(0, 4, 20), rng.random(20)
    batch = LinearTS(n_actions=4).update(x, a, r)
    rows = LinearTS(n_actions=4)
    for i in range(20):
        rows.update(x[i], [a[i]], [r[i]])
    np.testing.assert_allclose(batch.action_distribution(x[:5]), rows.action_distribution(x[:5]), rtol=1e-10)


def test_bernoulli_ts_config_checks_the_prior():
    with pytest.raises(ConfigError, match=r"BernoulliTSConfig.prior_alpha must be 3 positive numbers \(one per action\), got '2 values'"):
        BernoulliTS(n_actions=3, prior_alpha=[1.0, 2.0])
    policy = BernoulliTS(n_actions=3, prior_alpha=[1, 2, 3], prior_beta=[5, 5, 5])
    assert policy.config.prior_alpha == (1.0, 2.0, 3.0)
    with pytest.raises(DataError, match=r"needs rewards in \[0, 1\]"):
        policy.update(np.zeros((1, 0)), [0], [2.0])


def test_decider_logs_every_choice_before_returning_it():
    sink = InMemoryDecisionLog()
    ids = iter(f"d{i}" for i in range(100))
    decider = Decider(EpsilonGreedy(n_actions=3), sink, seed=0, clock=lambda: 1_700_000_000_000_000, new_id=lambda: next(ids))
    made = decider.decide(np.zeros((4, 2)))
    assert [d.decision_id for d in made] == ["d0", "d1", "d2", "d3"]
    assert sink.decisions == made and all(d.propensity == pytest.approx(1 / 3) for d in made)
    decider.feedback("d1", 1.0)
    log = sink.to_feedback(3)
    assert len(log) == 4 and log.reward.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert len(sink.to_feedback(3, missing_reward=None)) == 1
    # The policy learned from the feedback: the rewarded action is now the greedy one.
    assert decider.policy.action_distribution(np.zeros((1, 2)))[0].argmax() == made[1].action
    with pytest.raises(UnknownIdError, match="unknown decision id 'nope'"):
        decider.feedback("nope", 1.0)


def test_sink_refuses_a_repeated_id():
    sink = InMemoryDecisionLog()
    decider = Decider(LinUCB(n_actions=2), sink, seed=0, new_id=lambda: "same")
    decider.decide(np.zeros((1, 1)))
    with pytest.raises(DataError, match="decision id 'same' was logged already"):
        decider.decide(np.zeros((1, 1)))


def test_load_refuses_a_foreign_class(tmp_path):
    LinUCB(n_actions=2).update(np.zeros((1, 1)), [0], [1.0]).save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    manifest["class"] = "os:system"
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="is not a Marquee bandit policy"):
        Policy.load(tmp_path / "p")


def test_missing_config_field_is_named():
    with pytest.raises(ConfigError, match=r"LinUCB needs 'n_actions'; pass LinUCB\(n_actions=...\)"):
        LinUCB()
