import numpy as np
import pytest

from marquee.errors import ConfigError, DataError
from marquee.evaluate.interleaving import interleaving_test, team_draft


def test_identical_lists_interleave_to_themselves():
    a = np.array([[5, 3, 8, 1], [2, 7, 4, 6]])
    out = team_draft(a, a.copy(), seed=0)
    np.testing.assert_array_equal(out.rows, a)
    # each title goes to whichever captain picked it; teams stay balanced
    assert ((out.team == 0).sum(axis=1) == 2).all()


def test_disjoint_lists_alternate_in_rank_order_and_teams_are_balanced():
    a = np.tile(np.arange(0, 5), (200, 1))
    b = np.tile(np.arange(10, 15), (200, 1))
    out = team_draft(a, b, k=4, seed=1)
    # pick j and j+1 (j even) are the two captains' next titles, in either order
    for j in (0, 2):
        pair = np.sort(out.rows[:, j : j + 2], axis=1)
        np.testing.assert_array_equal(pair, np.tile([j // 2, 10 + j // 2], (200, 1)))
    assert ((out.team == 1).sum(axis=1) == 2).all()
    np.testing.assert_array_equal(out.team == 1, out.rows >= 10)
    # the coin decides who picks first: both orders occur (200 sessions)
    first_b = (out.team[:, 0] == 1).mean()
    assert 0.35 < first_b < 0.65


def test_overlapping_lists_skip_titles_already_shown():
    a = np.array([[1, 2, 3, 4]])
    b = np.array([[2, 1, 5, 6]])
    rows = team_draft(a, b, seed=0).rows[0]
    assert len(set(rows.tolist())) == 4 and set(rows.tolist()) <= {1, 2, 3, 4, 5, 6}
    short = team_draft(np.array([[1, -1]]), np.array([[1, -1]]), k=3, seed=0)
    np.testing.assert_array_equal(short.rows[0], [1, -1, -1])
    np.testing.assert_array_equal(short.team[0, 1:], [-1, -1])


def test_outcome_credits_the_team_that_picked_the_played_title():
    a = np.array([[0, 1], [0, 1], [0, 1]])
    b = np.array([[9, 8], [9, 8], [9, 8]])
    out = team_draft(a, b, seed=3)
    position = np.array([0, 1, -1])
    expected = np.where(out.team[[0, 1], [0, 1]] == 1, 1, -1).tolist() + [0]
    np.testing.assert_array_equal(out.outcome(position), expected)
    with pytest.raises(ConfigError, match=r"position must have shape \(3,\), got \(2,\)"):
        out.outcome(np.array([0, 1]))


def test_interleaving_test_known_answers():
    members = np.array([0, 0, 1, 1, 2, 3])
    outcome = np.array([1, 1, 1, -1, 1, 0])
    res = interleaving_test(outcome, members)
    np.testing.assert_allclose(np.sort(res.per_member), [0.0, 1.0, 1.0])  # member 3 never played
    assert res.preference.estimate == pytest.approx(2 / 3)
    assert (res.wins_a, res.wins_b, res.n_members) == (1, 4, 3)
    with pytest.raises(DataError, match=r"1 member\(s\) played an interleaved title"):
        interleaving_test(np.array([1, 0]), np.array([0, 1]))


def test_a_clear_preference_is_detected_and_no_preference_is_not():
    rng = np.random.default_rng(0)
    members = np.repeat(np.arange(300), 5)
    prefers_b = rng.choice([-1, 1], size=members.size, p=[0.3, 0.7])
    assert interleaving_test(prefers_b, members).winner == "B"
    # no preference: the test rejects at about its level (200 runs; 5% expected, 9% allowed: p(exceed) < 0.01)
    rejections = sum(
        interleaving_test(rng.choice([-1, 0, 1], size=members.size), members).p_value < 0.05 for _ in range(200)
    )
    assert rejections <= 18
