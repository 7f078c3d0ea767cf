import math

import numpy as np
import pytest

from marquee.errors import DataError, NotFittedError
from marquee.page import Impressions, PageModel, PageParams, intent_shares, standardise


def simulate(params, n=6000, rows=5, cols=6, n_titles=60, n_genres=3, seed=0):
    """Impressions drawn from the model itself: fit must recover its parameters."""
    rng = np.random.default_rng(seed)
    genre = np.zeros((n_genres, n_titles), bool)
    genre[np.arange(n_titles) % n_genres, np.arange(n_titles)] = True
    titles = np.stack([rng.permutation(n_titles)[: rows * cols].reshape(rows, cols) for _ in range(n)])
    titles[:, -1, -2:] = -1  # some empty tiles
    z = np.where(titles >= 0, rng.normal(size=titles.shape), 0.0)
    unfinished = (titles >= 0) & (rng.random(titles.shape) < 0.1)
    intents = rng.dirichlet(np.ones(n_genres), n)
    theta = params.examination(rows, cols)
    g = (rng.random(n)[:, None] > np.cumsum(intents, axis=1)).sum(axis=1).clip(0, n_genres - 1)
    inside = genre[g[:, None, None], np.maximum(titles, 0)]
    w = theta * np.exp(params.alpha * z + params.beta + params.resume * unfinished - params.intent * ~inside)
    w = np.where(titles >= 0, w, 0.0).reshape(n, -1)
    p = w / (1 + w.sum(axis=1, keepdims=True))
    tile = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    played = np.where(tile < rows * cols, tile, -1)
    return Impressions(z, titles, unfinished, intents, played, np.ones(n)), genre


def test_fit_recovers_the_parameters_it_was_simulated_with():
    truth = PageParams(alpha=0.8, beta=-3.0, resume=1.2, intent=1.5, eta_row=0.9, eta_col=0.6)
    imp, genre = simulate(truth)
    fitted = PageModel().fit(imp, genre).params_
    for name in ("alpha", "beta", "resume", "intent", "eta_row", "eta_col"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), abs=0.25), name


def test_expected_plays_matches_the_simulated_play_rate():
    truth = PageParams(alpha=0.8, beta=-3.0, resume=1.2, intent=1.5, eta_row=0.9, eta_col=0.6)
    imp, genre = simulate(truth, n=20000, seed=3)
    e = PageModel(truth).expected_plays(imp.z, imp.titles, imp.unfinished, imp.intents, genre)
    assert (imp.played >= 0).mean() == pytest.approx(e.mean(), abs=0.01)


def test_save_load_round_trip_and_refusals(tmp_path):
    imp, genre = simulate(PageParams(), n=500)
    with pytest.raises(NotFittedError):
        PageModel().save(tmp_path / "m.json")
    m = PageModel().fit(imp, genre)
    back = PageModel.load(m.save(tmp_path / "m.json"))
    assert back.params_ == m.params_ and back.is_fitted
    (tmp_path / "bad.json").write_text('{"kind": "something else", "params": {}}')
    with pytest.raises(DataError, match="not a page model"):
        PageModel.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(DataError, match="not a page model"):
        PageModel.load(tmp_path / "junk.json")
    with pytest.raises(DataError, match="marquee page fit"):
        PageModel.load(tmp_path / "missing.json")


def test_impressions_refuse_a_play_on_an_empty_tile():
    imp, _ = simulate(PageParams(), n=10)
    titles = imp.titles.copy()
    played = np.full(10, -1)
    played[4] = titles.shape[1] * titles.shape[2] - 1  # the last tile is empty
    with pytest.raises(DataError, match="no title") as e:
        Impressions(imp.z, titles, imp.unfinished, imp.intents, played, imp.propensity)
    assert e.value.row == 5


def test_intent_shares_and_standardise():
    genre = np.array([[1, 1, 0], [0, 1, 1]], bool)
    s = intent_shares(np.array([0, 1]), genre, np.array([0.5, 0.5]), strength=0.0)
    assert s.tolist() == pytest.approx([0.75, 0.25])
    assert intent_shares(np.array([], np.int64), genre, np.array([0.2, 0.8])).tolist() == pytest.approx([0.2, 0.8])
    z = standardise(np.array([[1.0, 2.0, 3.0, -math.inf]]))
    assert z[0, 3] == 0 and z[0, :3].tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)
