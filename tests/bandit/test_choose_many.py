"""Batched artwork choices (a page of tiles in one call) agree with one-at-a-time choices."""

import numpy as np
import pytest

from marquee.bandit.artwork import CANDIDATE_POLICIES


def trained(name, seed=0):
    rng = np.random.default_rng(seed)
    policy = CANDIDATE_POLICIES[name]()
    x, f = rng.normal(size=(200, 3)), rng.normal(size=(200, 4))
    return policy.fit(x, f, (f[:, 0] + x[:, 1] * f[:, 1] > 0).astype(float))


@pytest.mark.parametrize("name", sorted(CANDIDATE_POLICIES))
def test_distributions_equal_each_decisions_distribution(name):
    rng = np.random.default_rng(1)
    policy = trained(name)
    sizes = np.array([3, 1, 6, 4, 2])
    stacked = rng.normal(size=(sizes.sum(), 4))
    stacked[3] = stacked[4]  # ties inside a decision
    x = rng.normal(size=3)
    flat = policy.distributions(x, stacked, sizes)
    bounds = np.r_[0, np.cumsum(sizes)]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        assert flat[lo:hi] == pytest.approx(policy.action_distribution(x, stacked[lo:hi]), abs=1e-12)
        assert flat[lo:hi].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["epsilon_greedy", "lin_ucb"])
def test_choose_many_draws_from_each_distribution_with_its_propensity(name):
    rng = np.random.default_rng(2)
    policy = trained(name)
    sizes = np.array([3, 5])
    stacked = rng.normal(size=(8, 4))
    x = rng.normal(size=3)
    dist = policy.distributions(x, stacked, sizes)
    counts = np.zeros(8)
    gen = np.random.default_rng(3)
    for _ in range(4000):
        index, propensity = policy.choose_many(x, stacked, sizes, gen)
        assert 0 <= index[0] < 3 and 0 <= index[1] < 5
        assert propensity == pytest.approx(dist[[index[0], 3 + index[1]]])
        counts[[index[0], 3 + index[1]]] += 1
    assert counts / 4000 == pytest.approx(dist, abs=0.03)
