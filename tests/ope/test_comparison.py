"""Candidate vs logging policy: known answers for the difference and its verdict; the feature reward model."""

import numpy as np
import pytest

from marquee.data.feedback import LoggedFeedback
from marquee.errors import DataError
from marquee.ope import IPS, SNIPS, DoublyRobust, FeatureRewardModel, compare


def world(n=4000, seed=0):
    """Two actions, uniform logging; action 1 pays 0.5, action 0 pays 0.2, in every context."""
    rng = np.random.default_rng(seed)
    action = rng.integers(2, size=n)
    reward = (rng.random(n) < np.where(action == 1, 0.5, 0.2)).astype(float)
    log = LoggedFeedback(context=rng.normal(size=(n, 1)), action=action, reward=reward, propensity=np.full(n, 0.5), n_actions=2, policy="uniform")
    features = np.zeros((n, 2, 2))
    features[:, 0, 0] = features[:, 1, 1] = 1.0
    return log, features


def test_the_logging_policy_itself_differs_by_exactly_zero():
    log, _ = world()
    [snips, ips] = compare(log, np.full((len(log), 2), 0.5), [SNIPS(n_bootstrap=200), IPS(n_bootstrap=200)])
    assert snips.difference.estimate == pytest.approx(0.0, abs=1e-12) and snips.verdict == "inconclusive"
    assert snips.estimate.value == pytest.approx(log.mean_reward)
    # Paired resampling: on the same rounds the two values move together, so the interval collapses to 0
    # (unpaired intervals of two estimates this close would each be about +-0.015 wide).
    assert (ips.difference.low, ips.difference.high) == pytest.approx((0.0, 0.0), abs=1e-12)
    assert ips.current.high - ips.current.low > 0.02


def test_a_better_candidate_beats_and_a_worse_one_loses():
    log, features = world()
    q = FeatureRewardModel(n_folds=2).fit(log, features).cross_fitted_
    assert np.allclose(q.mean(axis=0), [0.2, 0.5], atol=0.03)
    best, worst = np.tile([0.0, 1.0], (len(log), 1)), np.tile([1.0, 0.0], (len(log), 1))
    for c in compare(log, best, [SNIPS(n_bootstrap=300), DoublyRobust(n_bootstrap=300)], reward_hat=q):
        # truth: 0.5 - 0.35 = +0.15
        assert c.verdict == "beats" and c.difference.low < 0.15 < c.difference.high
        assert c.difference_analytic.low < 0.15 < c.difference_analytic.high
    [c] = compare(log, worst, [SNIPS(n_bootstrap=300)])
    assert c.verdict == "worse" and c.difference.low < -0.15 < c.difference.high


def test_feature_reward_model_checks_its_input():
    log, features = world(n=50)
    with pytest.raises(DataError, match=r"column 'features': must have shape \(50, 2, p\), got \(50, 2\)"):
        FeatureRewardModel().fit(log, features[:, :, 0])
