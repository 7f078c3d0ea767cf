"""Subscriptions on the tiny world: plausible covariates, a consistent history, and truth that the draws obey."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.sim.subscriptions import COVARIATES, INTERVENTIONS, PLANS, SubscriptionConfig, Subscriptions


@pytest.fixture(scope="module")
def subs(tiny_world, planted):
    from marquee.rank import MostPopular
    from marquee.sim.delivery import persona_rows

    return Subscriptions(tiny_world, persona_rows(tiny_world, MostPopular().fit(planted), k=10), seed=0)


@pytest.fixture(scope="module")
def active(subs):
    return np.flatnonzero(subs.active)


def test_covariates_are_in_plausible_ranges(subs):
    n = subs.n_members
    for name in ("hours_per_week", "rec_fit", "rebuffer_pct", "tv_share", "mobile_share", "price", "price_increase"):
        values = getattr(subs, name)
        assert values.shape == (n,) and np.isfinite(values).all(), name
    assert np.all((subs.rec_fit >= 0) & (subs.rec_fit <= 1))
    assert np.all(subs.hours_per_week >= 0) and subs.hours_per_week.mean() > 0
    assert np.all((subs.rebuffer_pct >= 0) & (subs.rebuffer_pct <= 100))
    assert np.all((subs.tv_share >= 0) & (subs.tv_share <= 1) & (subs.mobile_share >= 0) & (subs.mobile_share <= 1))
    assert set(subs.plan) == set(PLANS)
    increase = subs.config.price_increase
    assert set(np.unique(subs.price_increase)) == {0.0, increase}
    assert np.all(subs.price_increase[subs.plan == "ads"] == 0)  # ads members are never raised
    np.testing.assert_allclose(subs.price, [PLANS[p] for p in subs.plan] + subs.price_increase, rtol=0, atol=1e-12)
    raised = subs.price_increase[subs.plan != "ads"] > 0
    assert 0.3 < raised.mean() < 0.7  # increase_share = 0.5 of ~300 members


def test_the_history_is_consistent(subs):
    c = subs.config
    assert np.all((subs.tenure >= 1) & (subs.tenure <= c.months))
    assert np.all((subs.duration >= 1) & (subs.duration <= subs.tenure))
    left = subs.event == 1
    assert 0 < left.mean() < 1
    np.testing.assert_array_equal(subs.duration[~left], subs.tenure[~left])  # the active are observed until now
    np.testing.assert_array_equal(subs.active, ~left)
    table = subs.table()
    assert table.column_names == ["member_id", *COVARIATES, "duration", "event"]
    assert table.num_rows == subs.n_members
    history = subs.history()
    assert history.covariates == COVARIATES and history.source == "<subscriptions>"
    np.testing.assert_array_equal(history.duration, subs.duration)
    np.testing.assert_array_equal(history.event, subs.event)
    some = np.array([5, 1, 5])
    assert subs.table(some).column("duration").to_pylist() == subs.duration[some].tolist()


def test_departures_follow_the_true_hazard(subs):
    """Month-1 departures among all members against the true month-1 hazards (a binomial z within 4)."""
    from scipy.special import expit

    h1 = expit(subs.baseline(np.ones(subs.n_members)) + subs.score_)
    left_in_month_1 = (subs.event == 1) & (subs.duration == 1)
    z = (left_in_month_1.sum() - h1.sum()) / np.sqrt((h1 * (1 - h1)).sum())
    assert abs(z) < 4
    assert subs.baseline(np.array([1.0]))[0] > subs.baseline(np.array([13.0]))[0] > subs.config.baseline


def test_churn_without_intervention_matches_the_control_arm(subs, active):
    """The truth is the truth: the experiment's draws leave at the rates churn_probability states, in every arm.
    400 replications of ~150 members per arm share; margins are 4 standard errors of the summed Bernoulli draws."""
    reps = 400
    left = np.zeros((len(INTERVENTIONS) + 1, active.size))
    n = np.zeros_like(left)
    for seed in range(reps):
        arm, retained = subs.experiment(active, seed=seed)
        assert set(np.unique(retained)) <= {0, 1}
        for k in range(len(INTERVENTIONS) + 1):
            rows = arm == k
            left[k, rows] += 1 - retained[rows]
            n[k, rows] += 1
    for k, name in enumerate([None, *INTERVENTIONS]):
        p = subs.churn_probability(active, name)
        expected, var = (n[k] * p).sum(), (n[k] * p * (1 - p)).sum()
        z = (left[k].sum() - expected) / np.sqrt(var)
        assert abs(z) < 4, (name, z)
    # member by member in the control arm (0.4 of 400 draws each): the rates line up with the truth
    p = subs.churn_probability(active)
    assert np.corrcoef(left[0] / n[0], p)[0, 1] > 0.9


def test_experiment_shares_follow_the_arms(subs, active):
    arm, _ = subs.experiment(np.repeat(active, 20), seed=1)
    shares = np.bincount(arm, minlength=4) / arm.size
    np.testing.assert_allclose(shares, [0.4, 0.2, 0.2, 0.2], atol=0.02)
    a1, r1 = subs.experiment(active, seed=9)
    a2, r2 = subs.experiment(active, seed=9)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(r1, r2)


def test_effects_are_churn_without_minus_churn_with(subs, active):
    effect = subs.effect(active)
    assert effect.shape == (active.size, len(INTERVENTIONS))
    base = subs.churn_probability(active)
    for k, name in enumerate(INTERVENTIONS):
        np.testing.assert_allclose(effect[:, k], base - subs.churn_probability(active, name), rtol=0, atol=1e-15)
    ads = subs.plan[active] == "ads"
    assert ads.any() and (~ads).any()
    np.testing.assert_array_equal(effect[ads, INTERVENTIONS.index("ads_offer")], 0.0)
    assert np.all(effect[~ads, INTERVENTIONS.index("ads_offer")] > 0)
    assert np.all(effect[:, INTERVENTIONS.index("reengage")] >= 0)  # the row never hurts (no help at rec_fit 1)
    assert np.all((base > 0) & (base < 1))
    longer = subs.churn_probability(active, horizon=6)
    assert np.all(longer > base)


def test_discount_backfires_for_near_dormant_members(subs):
    shift = subs.shift(np.arange(subs.n_members), "discount")
    dormant = subs.hours_per_week < 0.5
    if dormant.any():
        assert shift[dormant].mean() > shift[~dormant].mean()


def test_costs_are_positive_and_as_stated(subs, active):
    cost = subs.costs(active)
    c = subs.config
    assert cost.shape == (active.size, len(INTERVENTIONS)) and np.all(cost > 0)
    np.testing.assert_array_equal(cost[:, 0], c.reengage_cost)
    np.testing.assert_allclose(cost[:, 1], c.discount * subs.price[active] * c.horizon)
    np.testing.assert_allclose(cost[:, 2], np.maximum(subs.price[active] - PLANS["ads"], 1.0) * 0.5 * c.horizon)


def test_experiment_refuses_inactive_members_and_bad_shares(subs, active):
    gone = np.flatnonzero(~subs.active)
    with pytest.raises(ConfigError, match=r"experiment members must be active \(still subscribed now\)"):
        subs.experiment(np.concatenate([active[:3], gone[:1]]))
    for shares in ((0.5, 0.5), (0.4, 0.2, 0.2, 0.3), (1.0, 0.0, 0.0, 0.0), (0.7, 0.2, 0.2, -0.1)):
        with pytest.raises(ConfigError, match=r"shares must be 4 positive numbers summing to 1, got"):
            subs.experiment(active, shares)


def test_unknown_interventions_and_bad_configs_are_refused(subs, active):
    with pytest.raises(ConfigError, match=r"unknown intervention 'upgrade'; known: reengage, discount, ads_offer"):
        subs.churn_probability(active, "upgrade")
    with pytest.raises(ConfigError, match=r"scheme 'optimal' is not an online ABR scheme"):
        SubscriptionConfig(scheme="optimal")
    with pytest.raises(ConfigError, match=r"SubscriptionConfig.increase_share must be in \[0, 1\], got 1.5"):
        SubscriptionConfig(increase_share=1.5)
    with pytest.raises(ConfigError, match=r"SubscriptionConfig.months must be an int >= 1"):
        SubscriptionConfig(months=0)
