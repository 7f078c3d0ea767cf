"""Cross-fitted reward models."""

import numpy as np
import pytest

from marquee.data import LoggedFeedback
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.ope import RewardModel
from marquee.sim import SyntheticBandit

WORLD = SyntheticBandit(seed=0)


@pytest.fixture(scope="module")
def log():
    return WORLD.sample(2000, seed=21)


@pytest.mark.parametrize("model", ["logistic", "gradient_boosting"])
def test_cross_fitted_predictions_are_probabilities_of_the_right_shape(log, model):
    rm = RewardModel(model=model, iterations=30).fit(log)
    q = rm.cross_fitted_
    assert q.shape == (2000, 5, 1) and np.all((q > 0) & (q < 1))
    # Predictions track the truth (per action, averaged over contexts).
    truth = WORLD.expected_reward(log.context).mean(axis=0)
    assert np.corrcoef(q[:, :, 0].mean(axis=0), truth)[0, 1] > 0.7
    assert rm.predict(log).shape == (2000, 5, 1)


def test_cross_fitting_predicts_each_row_with_a_model_that_did_not_see_it(log):
    cross = RewardModel(n_folds=3).fit(log)
    insample = RewardModel(n_folds=1).fit(log)
    assert len(cross.models_) == 3 and len(insample.models_) == 1
    assert not np.allclose(cross.cross_fitted_, insample.cross_fitted_)
    # Each fold model, asked about its own held-out rows, gives exactly the cross-fitted values.
    again = RewardModel(n_folds=3).fit(log)
    np.testing.assert_array_equal(again.cross_fitted_, cross.cross_fitted_)


def test_groups_keep_copies_of_a_row_in_one_fold(log):
    """A bootstrap resample holds copies of rows; with the source rows as groups, both copies are
    predicted by the same model, one that saw neither."""
    idx = np.concatenate([np.arange(len(log)), np.arange(len(log))])
    doubled = log.take(idx)
    grouped = RewardModel(n_folds=3).fit(doubled, groups=idx).cross_fitted_
    np.testing.assert_array_equal(grouped[: len(log)], grouped[len(log) :])
    ungrouped = RewardModel(n_folds=3).fit(doubled).cross_fitted_
    assert not np.array_equal(ungrouped[: len(log)], ungrouped[len(log) :])


def test_groups_must_match_the_rounds(log):
    with pytest.raises(DataError, match=r"column 'groups': must have one entry per logged round, shape \(2000,\), got \(3,\)"):
        RewardModel().fit(log, groups=[1, 2, 3])


def test_gradient_boosting_captures_some_of_the_interaction_logistic_misses():
    x = WORLD.sample(3000, seed=22)
    truth = WORLD.expected_reward(x.context)
    errs, losses = {}, {}
    for model in ("logistic", "gradient_boosting"):
        fitted = RewardModel(model=model, iterations=100, min_samples_leaf=20).fit(x)
        errs[model] = np.sqrt(((fitted.cross_fitted_[:, :, 0] - truth) ** 2).mean())
        losses[model] = fitted.loss_
    assert errs["gradient_boosting"] < 0.9 * errs["logistic"], errs
    # The out-of-fold log-loss, which needs no truth, ranks the two models the same way.
    assert losses["gradient_boosting"] < losses["logistic"], losses


def test_affinity_and_positions_are_used():
    rng = np.random.default_rng(0)
    n = 4000
    affinity = rng.poisson(0.3, size=(n, 3)).astype(float)
    action = rng.integers(0, 3, n)
    position = rng.integers(0, 2, n)
    p_click = 0.05 + 0.4 * (affinity[np.arange(n), action] > 0) + 0.1 * position
    log = LoggedFeedback(
        context=np.zeros((n, 0)), action=action, reward=(rng.random(n) < p_click).astype(float),
        propensity=np.full(n, 1 / 3), n_actions=3, policy="uniform", position=position, affinity=affinity,
    )  # fmt: skip
    q = RewardModel(l2=0.1).fit(log).cross_fitted_
    assert q.shape == (n, 3, 2)
    hot = affinity > 0
    assert q[:, :, 0][hot].mean() > q[:, :, 0][~hot].mean() + 0.2
    assert (q[:, :, 1] > q[:, :, 0]).mean() > 0.99
    without = RewardModel(use_affinity=False).fit(log).cross_fitted_
    assert abs(without[:, :, 0][hot].mean() - without[:, :, 0][~hot].mean()) < 0.02


def test_continuous_rewards_get_a_regressor(log):
    cont = LoggedFeedback(
        context=log.context, action=log.action, reward=log.reward * 2.5 + 0.1, propensity=log.propensity,
        n_actions=log.n_actions, policy=log.policy,
    )  # fmt: skip
    q = RewardModel().fit(cont).cross_fitted_
    assert not RewardModel().fit(cont).binary_ and q.max() > 1.0


def test_a_fold_without_clicks_predicts_its_mean():
    log = LoggedFeedback(context=np.zeros((30, 1)), action=np.zeros(30, int), reward=np.zeros(30), propensity=np.ones(30), n_actions=1, policy="p")
    np.testing.assert_array_equal(RewardModel().fit(log).cross_fitted_, 0.0)


def test_refusals(log):
    with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
        RewardModel().predict(log)
    with pytest.raises(ConfigError, match=r"RewardModelConfig.model must be one of \('logistic', 'gradient_boosting'\), got 'forest'"):
        RewardModel(model="forest")
    with pytest.raises(ConfigError, match="RewardModel has no hyperparameter 'folds'"):
        RewardModel(folds=3)
    other = SyntheticBandit(seed=0, n_actions=7).sample(50, seed=0)
    with pytest.raises(DataError, match="fitted on logs with 5 actions"):
        RewardModel().fit(log).predict(other)
