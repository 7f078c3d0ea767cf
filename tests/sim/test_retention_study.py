"""Retention studies on the tiny world: band coverage against the truth, and trial -> uplift -> budgeted plan."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.retention import ChurnBands, CoxPH, DiscreteHazard
from marquee.sim.retention import BandCheck, band_check, intervention_study, uplift_features
from marquee.sim.subscriptions import COVARIATES, INTERVENTIONS, SubscriptionConfig, Subscriptions


@pytest.fixture(scope="module")
def subs(tiny_world, planted):
    """Fewer departures than the default (a shorter history, a lower hazard) so that the tiny world's ~330 active
    members are enough for a trial with four arms and a held-out part."""
    from marquee.rank import MostPopular
    from marquee.sim.delivery import persona_rows

    rows = persona_rows(tiny_world, MostPopular().fit(planted), k=10)
    return Subscriptions(tiny_world, rows, SubscriptionConfig(months=12, baseline=-4.0, early=0.5), seed=0)


def test_band_check_reports_coverage_against_the_truth(subs):
    check = band_check(subs)
    assert isinstance(check, BandCheck)
    assert 0 <= check.coverage <= 1 and check.level == 0.9 and check.method == "posterior"
    assert check.members == int(subs.active.sum())
    assert 0 < check.median_width < 1 and 0 <= check.mean_abs_error < 0.2
    assert set(check.to_dict()) == {"coverage", "level", "median_width", "mean_abs_error", "members", "method"}
    boot = band_check(subs, ChurnBands(CoxPH(), method="bootstrap", n_draws=3, level=0.8), horizon=2)
    assert 0 <= boot.coverage <= 1 and boot.level == 0.8 and boot.method == "bootstrap"


def test_band_check_agrees_with_scoring_by_hand(subs):
    bands = ChurnBands(DiscreteHazard(), n_draws=50, seed=2)
    check = band_check(subs, bands)
    active = np.flatnonzero(subs.active)
    scores = bands.score(subs.history().take(active), subs.config.horizon)
    truth = subs.churn_probability(active)
    assert check.coverage == pytest.approx(float(scores.covers(truth).mean()))
    assert check.mean_abs_error == pytest.approx(float(np.abs(scores.probability - truth).mean()))


def test_uplift_features_are_the_covariates_and_tenure(subs):
    members = np.flatnonzero(subs.active)[:20]
    x, cov = uplift_features(subs.table(members), subs.tenure[members])
    assert cov.columns == COVARIATES
    assert x.shape == (20, len(cov.names) + 1)
    np.testing.assert_array_equal(x[:, -1], subs.tenure[members])
    again, same = uplift_features(subs.table(members[:5]), subs.tenure[members[:5]], cov)
    assert same is cov
    np.testing.assert_array_equal(again, x[:5])


@pytest.mark.parametrize("seed", [0, 1])
def test_intervention_study_plans_within_budget_and_the_oracle_keeps_most(subs, seed):
    study = intervention_study(subs, seed=seed, trial_share=0.6)
    n_active = int(subs.active.sum())
    assert study.trial_members + study.target_members == n_active
    assert study.trial_members == round(0.6 * n_active)
    assert study.budget > 0
    assert set(study.kept) == set(study.spent) == set(study.counts) == {"uplift", "oracle", "risk"}
    for name, spent in study.spent.items():
        assert 0 <= spent <= study.budget + 1e-9, name
        assert sum(study.counts[name].values()) <= study.target_members
        assert set(study.counts[name]) == set(INTERVENTIONS)
    assert study.kept["oracle"] >= study.kept["uplift"] - 1e-12
    assert study.kept["oracle"] >= study.kept["risk"] - 1e-12
    assert study.kept["oracle"] > 0
    assert study.counts["risk"]["reengage"] == study.counts["risk"]["ads_offer"] == 0  # the usual practice: discounts
    assert 0 <= study.control_retention <= 1
    assert study.estimated_kept.low <= study.estimated_kept.estimate <= study.estimated_kept.high
    assert set(study.qini) == set(INTERVENTIONS)
    assert study.test_members > 0


def test_intervention_study_refuses_bad_shares(subs):
    for kwargs in ({"budget_share": 0.0}, {"budget_share": 1.5}, {"trial_share": 1.0}, {"holdout_share": 0.0}):
        with pytest.raises(ConfigError, match=r"budget_share must be in \(0, 1\], trial_share and holdout_share in"):
            intervention_study(subs, **kwargs)
