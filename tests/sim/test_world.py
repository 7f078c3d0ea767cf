import numpy as np
import pytest
import scipy.sparse as sp

from marquee.data import Interactions
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.sim import World, WorldConfig
from marquee.sim.context import DAYPARTS, DEVICES


def test_config_is_checked_by_name():
    with pytest.raises(ConfigError, match=r"WorldConfig.n_members must be an int >= 1, got 0"):
        World(n_members=0)
    with pytest.raises(ConfigError, match=r"WorldConfig.outside must be > 0, got -1"):
        WorldConfig(outside=-1)
    with pytest.raises(ConfigError, match=r"World has no hyperparameter 'members'"):
        World(members=10)


def test_unfitted_world_says_fit_first():
    with pytest.raises(NotFittedError, match=r"call fit\(data\) first"):
        World().log()


def test_fit_needs_the_catalog(planted):
    bare = Interactions(planted.table, planted.members, planted.titles, None)
    with pytest.raises(DataError, match="pass a log with its catalog"):
        World(n_members=10).fit(bare)


def test_fit_returns_self_and_log_is_reproducible(tiny_world, planted):
    a, b, c = tiny_world.log(seed=5), tiny_world.log(seed=5), tiny_world.log(seed=6)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert a.table.equals(b.table)
    again = World(n_members=400, factors=8, calibration_rounds=1, seed=0)
    assert again.fit(planted) is again
    assert again.log(seed=5).table.equals(a.table)


def test_log_has_the_interaction_schema_with_context(tiny_world):
    log = tiny_world.log(seed=0)
    t = log.table
    for col in ("device", "local_hour", "completion"):
        assert t.column(col).null_count == 0, col
    assert set(t.column("device").to_pylist()) <= set(DEVICES)
    hours = t.column("local_hour").to_numpy()
    assert hours.min() >= 0 and hours.max() <= 23
    comp = t.column("completion").to_numpy()
    assert comp.min() >= 0 and comp.max() <= 1
    assert set(t.column("event").to_pylist()) == {"play"}
    # every member watches exactly their activity, never the same title twice
    np.testing.assert_array_equal(np.bincount(log.member_idx, minlength=log.n_members), tiny_world.activity_)
    assert log.matrix().nnz == len(log)
    assert log.members == tiny_world.members_ and log.titles == tiny_world.titles_
    # time order is canonical, and local hour is the hour of the timestamp
    np.testing.assert_array_equal((log.timestamps // 3600) % 24, hours)


def test_play_probabilities_are_a_distribution_with_position_bias(tiny_world):
    m = np.arange(50)
    s = tiny_world.sessions(m, seed=1)
    rows = np.tile(np.arange(10), (50, 1))
    p = tiny_world.play_probabilities(s, rows)
    assert p.shape == (50, 10) and (p > 0).all() and (p.sum(axis=1) < 1).all()
    # the same title is more likely played at rank 0 than at rank 9
    swapped = rows.copy()
    swapped[:, [0, 9]] = swapped[:, [9, 0]]
    q = tiny_world.play_probabilities(s, swapped)
    assert (p[:, 0] > q[:, 9]).all() and (q[:, 0] > p[:, 9]).all()
    # padding and already-watched titles are never played
    padded = rows.copy()
    padded[:, 5:] = -1
    assert (tiny_world.play_probabilities(s, padded)[:, 5:] == 0).all()
    seen = sp.csr_matrix((np.ones(50), (m, np.zeros(50, int))), shape=(tiny_world.n_members, tiny_world.n_titles))
    assert (tiny_world.play_probabilities(s, rows, seen)[:, 0] == 0).all()
    with pytest.raises(ConfigError, match=r"rows must have shape \(n_sessions=50, k\), got \(49, 10\)"):
        tiny_world.play_probabilities(s, rows[:49])


def test_sampled_responses_match_the_ground_truth(tiny_world):
    rng = np.random.default_rng(0)
    m = rng.integers(0, tiny_world.n_members, 20000)
    s = tiny_world.sessions(m, seed=2)
    rows = np.stack([rng.permutation(tiny_world.n_titles)[:8] for _ in range(m.size)])
    truth = tiny_world.expected_engagement(s, rows)
    got = tiny_world.respond(s, rows, seed=3)
    n = m.size
    # sample means within 4 standard errors of the expected means
    assert abs(got.played.mean() - truth.plays.mean()) < 4 * np.sqrt(truth.plays.mean() / n)
    assert abs(got.hours.mean() - truth.hours.mean()) < 4 * got.hours.std() / np.sqrt(n)
    played = got.played
    assert np.isnan(got.completion[~played]).all() and (got.title_idx[~played] == -1).all()
    np.testing.assert_array_equal(got.title_idx[played], rows[played, got.position[played]])


def test_better_rows_engage_more(tiny_world):
    m = np.arange(tiny_world.n_members)
    s = tiny_world.sessions(m, seed=4)
    best = np.argsort(-tiny_world.affinity(m), axis=1)[:, :10]
    worst = np.argsort(tiny_world.affinity(m), axis=1)[:, :10]
    b, w = tiny_world.expected_engagement(s, best), tiny_world.expected_engagement(s, worst)
    assert b.plays.mean() > 2 * w.plays.mean() and b.hours.mean() > 2 * w.hours.mean()


@pytest.mark.realdata
def test_context_shifts_what_members_watch(ml_world, ml_log):
    t = ml_log.table
    device = np.array([DEVICES.index(d) for d in t.column("device").to_pylist()])
    part = t.column("local_hour").to_numpy() // 6
    kids = ml_world.kids_[ml_log.title_idx]
    runtime = ml_world.runtime_[ml_log.title_idx]
    tablet_morning = (device == DEVICES.index("tablet")) & (part == DAYPARTS.index("morning"))
    tv_evening = (device == DEVICES.index("tv")) & (part == DAYPARTS.index("evening"))
    assert kids[tablet_morning].mean() > 1.5 * kids[tv_evening].mean()
    assert runtime[tv_evening].mean() > runtime[tablet_morning].mean() + 3.0  # minutes
    # device shares vary by member
    shares = ml_world.device_shares_
    assert shares[:, 0].std() > 0.1


@pytest.mark.realdata
def test_completion_rises_with_true_affinity(ml_world, ml_log):
    m, i = ml_log.member_idx, ml_log.title_idx
    taste = np.einsum("nd,nd->n", ml_world.member_factors_[m], ml_world.title_factors_[i])
    z = (taste - ml_world.taste_mean_[m]) / ml_world.taste_sd_[m]
    comp = ml_log.table.column("completion").to_numpy()
    assert np.corrcoef(z, comp)[0, 1] > 0.2
