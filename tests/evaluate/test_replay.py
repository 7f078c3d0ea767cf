import numpy as np
import pytest

from marquee.errors import ConfigError, DataError
from marquee.evaluate.replay import replay

Q = np.array([0.1, 0.2, 0.5, 0.3, 0.05])  # true reward rate of each of 5 actions


def _log(n, propensities, seed):
    rng = np.random.default_rng(seed)
    logged = rng.choice(Q.size, size=n, p=propensities)
    rewards = (rng.random(n) < Q[logged]).astype(float)
    return logged, rewards, propensities[logged]


def test_uniform_logging_plain_replay_is_the_matched_mean():
    logged, rewards, _ = _log(20000, np.full(5, 0.2), 0)
    target = np.full(logged.size, 2)
    est = replay(logged, rewards, target)
    assert est.value.estimate == pytest.approx(rewards[logged == 2].mean())
    assert est.value.low < Q[2] < est.value.high
    assert est.match_rate == pytest.approx(0.2, abs=0.02)


def test_known_propensities_correct_a_skewed_logging_policy():
    skew = np.array([0.05, 0.1, 0.05, 0.4, 0.4])
    logged, rewards, p = _log(40000, skew, 1)
    # target: action 2 in even contexts, action 3 in odd ones -> true value (0.5 + 0.3) / 2
    target = np.where(np.arange(logged.size) % 2 == 0, 2, 3)
    truth = (Q[2] + Q[3]) / 2
    weighted = replay(logged, rewards, target, p)
    assert weighted.value.low < truth < weighted.value.high
    plain = replay(logged, rewards, target)  # ignores that action 3 was logged 8x as often as 2
    assert plain.value.high < truth


def test_replay_refuses_bad_input():
    with pytest.raises(DataError, match="no logged choice matches"):
        replay(np.array([0, 0]), np.array([1.0, 0.0]), np.array([1, 1]))
    with pytest.raises(ConfigError, match=r"propensities must be an \(n,\) array of probabilities in \(0, 1\]"):
        replay(np.array([0]), np.array([1.0]), np.array([0]), np.array([0.0]))
    with pytest.raises(ConfigError, match="must be \\(n,\\) arrays of one length"):
        replay(np.array([0, 1]), np.array([1.0]), np.array([0, 1]))
