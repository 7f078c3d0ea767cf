"""ChurnBands: per-member bands on the probability of leaving, checked against a simulated known hazard."""

import numpy as np
import pytest

from marquee.errors import ArtifactError, ConfigError, NotFittedError
from marquee.retention import ChurnBands, ChurnScores, CoxPH, DiscreteHazard, KaplanMeier
from tests.retention.test_hazard import simulate, true_churn


@pytest.fixture(scope="module")
def simulated():
    return simulate(2000, 0)


@pytest.fixture(scope="module")
def active(simulated):
    data = simulated[0]
    return np.flatnonzero(data.event == 0)


@pytest.fixture(scope="module")
def posterior(simulated):
    return ChurnBands(DiscreteHazard(), n_draws=200, level=0.9, seed=0).fit(simulated[0])


def check_ordered(scores: ChurnScores) -> None:
    assert np.all((scores.low >= 0) & (scores.high <= 1))
    assert np.all(scores.low <= scores.probability) and np.all(scores.probability <= scores.high)


def test_posterior_bands_hold_the_point_estimate(posterior, simulated, active):
    data = simulated[0]
    scores = posterior.score(data.take(active), 3)
    assert len(scores) == active.size and scores.low.shape == scores.high.shape == (active.size,)
    assert (scores.horizon, scores.level, scores.method) == (3.0, 0.9, "posterior")
    check_ordered(scores)
    assert np.all(scores.high > scores.low)
    np.testing.assert_array_equal(scores.probability, posterior.model.churn_probability(data.take(active), 3))
    assert posterior.draws_.shape == (200, posterior.model.coef_.size)


def test_bands_from_another_start_and_horizon(posterior, simulated):
    data = simulated[0].take(np.arange(100))
    for start in (0.0, 5.0, 30.0):
        scores = posterior.score(data, 6, start=start)
        check_ordered(scores)
        np.testing.assert_array_equal(scores.probability, posterior.model.churn_probability(data, 6, start=start))


def test_bands_narrow_with_more_data(simulated, active):
    members = simulated[0].take(active)
    widths = {}
    for n in (500, 4000):
        bands = ChurnBands(DiscreteHazard(), n_draws=200, seed=1).fit(simulate(n, 7)[0])
        scores = bands.score(members, 3)
        widths[n] = float(np.median(scores.high - scores.low))
    assert widths[4000] < 0.7 * widths[500]  # ~0.030 vs ~0.063: about 1/sqrt(8)


def test_posterior_bands_cover_the_truth_near_the_nominal_level():
    """Coverage within one data set is correlated (one fit), so average over 10 seeds; nominal 0.9, ~0.87 observed.
    Margins are loose: the model is fitted with a ridge and a smoothed baseline, and the tail is pooled."""
    coverage, widths = [], []
    for seed in range(10):
        data, hazard = simulate(2000, 100 + seed)
        active = np.flatnonzero(data.event == 0)
        scores = ChurnBands(DiscreteHazard(), n_draws=200, level=0.9, seed=seed).fit(data).score(data.take(active), 3)
        truth = true_churn(hazard[active], data.duration[active], 3)
        coverage.append(scores.covers(truth).mean())
        widths.append(np.median(scores.high - scores.low))
    assert 0.8 <= np.mean(coverage) <= 0.97, coverage
    assert np.median(widths) < 0.06


def test_posterior_needs_a_discrete_hazard():
    with pytest.raises(
        ConfigError, match=r"method='posterior' needs a DiscreteHazard .* use method='bootstrap' for CoxPH"
    ):
        ChurnBands(CoxPH())
    with pytest.raises(ConfigError, match=r"method='posterior' needs a DiscreteHazard"):
        ChurnBands(KaplanMeier(), method="posterior")
    with pytest.raises(ConfigError, match=r"ChurnBands takes a churn model \(e.g. DiscreteHazard\(\)\), got str"):
        ChurnBands("discrete")  # type: ignore[arg-type]


def test_bootstrap_bands_for_cox(simulated, active):
    data = simulated[0]
    bands = ChurnBands(CoxPH(), method="bootstrap", n_draws=30, seed=3).fit(data)
    assert len(bands.replicas_) == 30
    scores = bands.score(data.take(active), 3)
    assert scores.method == "bootstrap"
    check_ordered(scores)
    few = ChurnBands(CoxPH(), method="bootstrap", n_draws=3, seed=3).fit(data).score(data.take(active), 3)
    assert np.all(few.low <= few.high)
    with pytest.raises(ConfigError, match=r"only fitted DiscreteHazard bands can be saved"):
        bands.save("/nonexistent/never-written")


def test_bootstrap_bands_for_a_discrete_hazard_agree_with_the_posterior(simulated, active, posterior):
    data = simulated[0]
    boot = ChurnBands(DiscreteHazard(), method="bootstrap", n_draws=40, seed=0).fit(data)
    assert boot.draws_.shape == (40, posterior.model.coef_.size)
    b = boot.score(data.take(active), 3)
    p = posterior.score(data.take(active), 3)
    np.testing.assert_array_equal(b.probability, p.probability)
    ratio = np.median(b.high - b.low) / np.median(p.high - p.low)
    assert 0.6 < ratio < 1.4  # two estimates of the same sampling variability (~0.87 observed)


def test_few_bootstrap_draws_still_hold_the_point_estimate(simulated, active):
    data = simulated[0]
    scores = ChurnBands(DiscreteHazard(), method="bootstrap", n_draws=10, seed=0).fit(data).score(data.take(active), 3)
    check_ordered(scores)


def test_the_same_seed_gives_the_same_bands(simulated):
    data = simulated[0].take(np.arange(400))
    a = ChurnBands(DiscreteHazard(), n_draws=50, seed=4).fit(data).score(data, 3)
    b = ChurnBands(DiscreteHazard(), n_draws=50, seed=4).fit(data).score(data, 3)
    c = ChurnBands(DiscreteHazard(), n_draws=50, seed=5).fit(data).score(data, 3)
    np.testing.assert_array_equal(a.low, b.low)
    np.testing.assert_array_equal(a.high, b.high)
    assert not np.array_equal(a.low, c.low)


def test_save_load_round_trip_gives_identical_bands(posterior, simulated, tmp_path):
    data = simulated[0]
    path = posterior.save(tmp_path / "bands", metadata={"source": "simulated"})
    loaded, meta = ChurnBands.load(path)
    assert meta["source"] == "simulated" and meta["bands"]["n_draws"] == 200
    assert loaded.config == posterior.config
    np.testing.assert_array_equal(loaded.draws_, posterior.draws_)
    for start in (None, 2.0):
        a, b = posterior.score(data, 3, start=start), loaded.score(data, 3, start=start)
        np.testing.assert_array_equal(a.probability, b.probability)
        np.testing.assert_array_equal(a.low, b.low)
        np.testing.assert_array_equal(a.high, b.high)


def test_a_model_without_bands_or_damaged_draws_is_refused(posterior, tmp_path):
    from marquee.artifacts import read_artifact, write_artifact

    plain = posterior.model.save(tmp_path / "plain")
    with pytest.raises(ArtifactError, match=r"holds a churn model without bands; save it with ChurnBands.save"):
        ChurnBands.load(plain)
    meta, arrays = read_artifact(posterior.save(tmp_path / "bands"))
    meta = {k: v for k, v in meta.items() if k not in ("files", "format", "marquee_version")}
    write_artifact(tmp_path / "bad", {**arrays, "draws": arrays["draws"][:, :-1].copy()}, meta)
    with pytest.raises(ArtifactError, match=r"the draws do not match the model's coefficients"):
        ChurnBands.load(tmp_path / "bad")


def test_not_fitted_and_bad_arguments(simulated):
    data = simulated[0]
    with pytest.raises(NotFittedError, match=r"^ChurnBands is not fitted; call fit\(table\) first$"):
        ChurnBands(DiscreteHazard()).score(data, 3)
    with pytest.raises(ConfigError, match=r"only fitted DiscreteHazard bands can be saved"):
        ChurnBands(DiscreteHazard()).save("/nonexistent/never-written")
    bands = ChurnBands(DiscreteHazard(), n_draws=10).fit(data.take(np.arange(300)))
    with pytest.raises(ConfigError, match=r"horizon must be > 0 periods, got 0"):
        bands.score(data, 0)
    for bad, pattern in (({"method": "jackknife"}, r"ChurnBandsConfig.method must be 'posterior' or 'bootstrap'"),
                         ({"n_draws": 1}, r"ChurnBandsConfig.n_draws must be an int >= 2"),
                         ({"level": 1.0}, r"ChurnBandsConfig.level must be in \(0, 1\)")):  # fmt: skip
        with pytest.raises(ConfigError, match=pattern):
            ChurnBands(DiscreteHazard(), **bad)
