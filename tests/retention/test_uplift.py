"""Uplift meta-learners on a randomized trial with a known heterogeneous truth."""

import dataclasses
import json

import numpy as np
import pytest

from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.retention.uplift import UpliftConfig, UpliftModel

PROPENSITY = np.array([0.4, 0.2, 0.2, 0.2])


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def world(n, rng):
    """Covariates and true P(retained | x, arm) for control and K = 3 interventions, (n, 4).

    Intervention 1 helps members with x2 > 0 and hurts the others; 2 mostly helps; 3 helps only large x0.
    """
    x = rng.normal(size=(n, 5))
    base = 0.3 + 0.8 * x[:, 0] - 0.5 * x[:, 1]
    delta = np.column_stack([1.0 * x[:, 2], 0.5 + 0.6 * x[:, 3], -0.4 + 1.0 * x[:, 0]])
    return x, _sigmoid(np.column_stack([base, base[:, None] + delta]))


def trial(n, seed, propensity=PROPENSITY):
    rng = np.random.default_rng(seed)
    x, mu = world(n, rng)
    t = rng.choice(mu.shape[1], size=n, p=propensity)
    y = (rng.random(n) < mu[np.arange(n), t]).astype(float)
    return x, t, y, mu


@pytest.fixture(scope="module")
def data():
    x, t, y, _ = trial(8000, 1)
    x_test, _, _, mu_test = trial(5000, 2)
    return x, t, y, x_test, mu_test[:, 1:] - mu_test[:, :1]


def _correlations(est, tau):
    return [float(np.corrcoef(est[:, k], tau[:, k])[0, 1]) for k in range(tau.shape[1])]


@pytest.mark.slow
@pytest.mark.parametrize(("learner", "floor"), [("t", 0.6), ("x", 0.65), ("dr", 0.55), ("glm", 0.85)])
def test_effect_tracks_the_true_heterogeneous_effect(data, learner, floor):
    # measured (seed 1, n = 8000): t 0.83/0.69/0.75, x 0.88/0.77/0.83, dr 0.83/0.67/0.72, glm 0.97/0.91/0.94
    x, t, y, x_test, tau = data
    model = UpliftModel(learner=learner).fit(x, t, y, PROPENSITY)
    est = model.effect(x_test)
    assert est.shape == (5000, 3) and model.arms_ == 3
    assert min(_correlations(est, tau)) > floor
    # the sign is right for most members, including those intervention 1 hurts
    assert np.mean(np.sign(est[:, 0]) == np.sign(tau[:, 0])) > 0.75
    assert np.sqrt(np.mean((est - tau) ** 2)) < 0.16


@pytest.mark.slow
def test_potential_outcomes_are_probabilities_close_to_the_truth(data):
    x, t, y, x_test, _ = data
    _, _, _, mu = trial(5000, 2)
    for learner in ("t", "dr"):
        model = UpliftModel(learner=learner, max_iter=50).fit(x, t, y, PROPENSITY)
        pot = model.potential_outcomes(x_test)
        assert pot.shape == (5000, 4)
        assert (pot >= 0).all() and (pot <= 1).all()
        assert np.sqrt(np.mean((pot - mu) ** 2)) < 0.1
        if learner == "t":
            np.testing.assert_allclose(model.effect(x_test), pot[:, 1:] - pot[:, :1])


def test_per_member_propensities_and_a_fold_with_one_outcome():
    x, t, y, _ = trial(600, 3)
    y[t == 2] = 1.0  # everyone offered intervention 2 stayed: a constant outcome model, no crash
    e = np.tile(PROPENSITY, (600, 1))
    for learner in ("t", "x", "dr", "glm"):
        model = UpliftModel(learner=learner, max_iter=10, min_samples_leaf=20).fit(x, t, y, e)
        est = model.effect(x[:50])
        assert est.shape == (50, 3) and np.isfinite(est).all()
        if learner == "t":
            assert model.potential_outcomes(x[:5])[:, 2] == pytest.approx(1.0)
    assert model.potential_outcomes(x[:5])[:, 2].min() > 0.95  # glm: a penalised fit, close to 1


def test_glm_chooses_its_penalty_by_cross_validation_and_a_heavy_one_shrinks_to_one_shift(data):
    x, t, y, x_test, _ = data
    model = UpliftModel(learner="glm", penalty_grid=(10.0, 1e3, 1e5), spline_ratios=(0.1, 1.0)).fit(x, t, y, PROPENSITY)
    assert set(model.cv_loss_) == {(lam, r) for lam in (10.0, 1e3, 1e5) for r in (0.1, 1.0)}
    assert (model.penalty_, model.spline_ratio_) == min(model.cv_loss_, key=model.cv_loss_.get)
    # the truth's effects differ a lot between members, so the lightest penalties fit held-out members better
    assert model.cv_loss_[1e5, 1.0] > min(model.cv_loss_[10.0, 1.0], model.cv_loss_[1e3, 1.0])
    # one candidate each skips the search; an enormous penalty leaves each arm one shift of everyone's log-odds
    flat = UpliftModel(learner="glm", interaction_penalty=1e12, spline_ratios=(1.0,)).fit(x, t, y, PROPENSITY)
    assert flat.cv_loss_ == {} and flat.penalty_ == 1e12 and flat.spline_ratio_ == 1.0
    mu = flat.potential_outcomes(x_test)
    shift = np.log(mu[:, 1:] / (1 - mu[:, 1:])) - np.log(mu[:, :1] / (1 - mu[:, :1]))
    assert shift.std(axis=0).max() < 1e-3
    assert np.log(mu[:, :1] / (1 - mu[:, :1])).std() > 0.5  # while the baseline still varies


def test_config_validates_and_round_trips_to_json():
    cfg = UpliftConfig(learner="x", n_folds=3, seed=4)
    assert UpliftConfig(**json.loads(json.dumps(dataclasses.asdict(cfg)))) == cfg
    assert UpliftModel(cfg, max_iter=20).config == dataclasses.replace(cfg, max_iter=20)
    with pytest.raises(ConfigError, match=r"UpliftConfig.learner must be one of \('t', 'x', 'dr', 'glm'\), got 's'"):
        UpliftConfig(learner="s")
    with pytest.raises(ConfigError, match=r"UpliftConfig.penalty_grid must be one or more positive penalties"):
        UpliftConfig(penalty_grid=(100.0, -1.0))
    with pytest.raises(ConfigError, match=r"UpliftConfig.interaction_penalty must be > 0, got 0"):
        UpliftConfig(interaction_penalty=0)
    with pytest.raises(ConfigError, match=r"UpliftConfig.spline_ratios must be one or more positive ratios"):
        UpliftConfig(spline_ratios=())
    with pytest.raises(ConfigError, match=r"UpliftConfig.n_folds must be an int >= 2, got 1"):
        UpliftConfig(n_folds=1)
    with pytest.raises(ConfigError, match=r"UpliftConfig.learning_rate must be > 0, got 0"):
        UpliftConfig(learning_rate=0)
    with pytest.raises(ConfigError, match=r"UpliftModel has no hyperparameter 'max_depth'"):
        UpliftModel(max_depth=3)


def test_use_before_fit_says_what_to_do():
    with pytest.raises(NotFittedError, match=r"call fit\(X, treatment, outcome, propensity\) first"):
        UpliftModel().effect(np.zeros((2, 5)))


def test_bad_inputs_name_the_argument_and_the_first_bad_row():
    x, t, y, _ = trial(400, 4)
    model = UpliftModel(max_iter=5)
    bad_x = x.copy()
    bad_x[6, 2] = np.nan
    with pytest.raises(DataError, match=r"^row 7, column 'X': covariates must be finite"):
        model.fit(bad_x, t, y, PROPENSITY)
    bad_t = t.copy()
    bad_t[3] = -1
    with pytest.raises(DataError, match=r"^row 4, column 'treatment': arms must be integers >= 0"):
        model.fit(x, bad_t, y, PROPENSITY)
    with pytest.raises(DataError, match=r"column 'treatment': must have one arm per member, shape \(400,\)"):
        model.fit(x, t[:-1], y, PROPENSITY)
    bad_y = y.copy()
    bad_y[9] = 2
    with pytest.raises(DataError, match=r"^row 10, column 'outcome': must be 0 \(left\) or 1 \(retained\), got 2.0"):
        model.fit(x, t, bad_y, PROPENSITY)
    few = t.copy()
    few[few == 2] = 1
    few[:3] = 2
    with pytest.raises(DataError, match=r"column 'treatment': arm 2 has 3 members; every arm 0..3 needs at least 4"):
        model.fit(x, few, y, PROPENSITY)
    with pytest.raises(DataError, match=r"column 'propensity': must have shape \(4,\) or \(400, 4\)"):
        model.fit(x, t, y, PROPENSITY[:3])
    with pytest.raises(DataError, match=r"column 'propensity': each member's probabilities must sum to 1"):
        model.fit(x, t, y, [0.5, 0.2, 0.2, 0.2])
    e = np.tile(PROPENSITY, (400, 1))
    e[11] = [1.0, 0.0, 0.0, 0.0]
    with pytest.raises(DataError, match=r"^row 12, column 'propensity': probabilities must lie in \(0, 1\]"):
        model.fit(x, t, y, e)
    fitted = UpliftModel(learner="t", max_iter=5).fit(x, t, y, PROPENSITY)
    with pytest.raises(DataError, match=r"column 'X': the model was fitted on 5 features, got 4"):
        fitted.effect(x[:, :4])
