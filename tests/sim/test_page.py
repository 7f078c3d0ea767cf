import numpy as np
import pytest

from marquee import page
from marquee.errors import ConfigError
from marquee.rank import EASE
from marquee.sim.page import PageWorld, log_impressions, page_study


@pytest.fixture(scope="module")
def setup(tiny_world, planted):
    log = tiny_world.log(seed=1)
    cand = page.RowCandidates(row_length=12).fit(log, planted.catalog)
    members = np.arange(tiny_world.n_members)
    ease = EASE().fit(log)
    return {"pw": PageWorld(tiny_world, cand.genre_matrix_), "cand": cand, "members": members,
            "scores": ease.score_index(members), "hist": [cand.history(int(m)) for m in members]}  # fmt: skip


def test_expected_plays_is_the_mean_of_drawn_plays(tiny_world, setup):
    s = setup
    b = page.PageBuilder(s["cand"], page.RuleTemplate(n_rows=6, genres=s["cand"].genres_))
    members = np.repeat(s["members"][:50], 80)
    sessions = tiny_world.sessions(members, seed=3)
    hist = [s["hist"][m] for m in members]
    grids = np.stack([b.page(s["scores"][m], s["hist"][m]).grid(6) for m in members])
    e = s["pw"].expected_plays(sessions, grids, hist)
    drawn = s["pw"].respond(sessions, grids, hist, seed=4)
    se = np.sqrt(e.mean() * (1 - e.mean()) / e.size)
    assert (drawn >= 0).mean() == pytest.approx(e.mean(), abs=4 * se)


def test_finished_titles_are_never_played_and_unfinished_ones_gain(tiny_world, setup):
    s = setup
    h = next(x for x in s["hist"] if (x.completion >= 0.9).any() and (x.completion < 0.9).any())
    m = s["hist"].index(h)
    done, left = h.titles[h.completion >= 0.9][0], h.titles[h.completion < 0.9][0]
    sessions = tiny_world.sessions(np.array([m, m]), seed=0)
    grid = np.array([[[done, left, -1]], [[done, left, -1]]])
    p = s["pw"].play_probabilities(sessions, grid, [h, page.History()])
    assert (p[0, :, 0] == 0).all() and (p[1, :, 0] > 0).all()
    assert (p[0, :, 1] > p[1, :, 1]).all()  # resumed more readily than a fresh title would be played


def test_learned_page_beats_the_template(tiny_world, setup):
    s = setup
    cand = s["cand"]
    b = page.PageBuilder(cand, page.RuleTemplate(genres=cand.genres_))
    sessions = tiny_world.sessions(s["members"], seed=5)
    imp = log_impressions(s["pw"], b, page.ShuffledTemplate(genres=cand.genres_, seed=0), sessions, s["scores"], s["hist"], seed=6)
    assert 0 < (imp.played >= 0).mean() < 1
    model = page.PageModel().fit(imp, cand.genre_matrix_)
    policies = {"template": b.policy, "learned": page.GreedyPolicy(model=model, genre_matrix=cand.genre_matrix_)}
    study = page_study(s["pw"], b, policies, tiny_world.sessions(s["members"], seed=7), s["scores"], s["hist"], baseline="template")
    rows = {r["policy"]: r for r in study.summary()}
    assert rows["template"]["diff"] == 0
    assert rows["learned"]["diff_low"] > 0
    with pytest.raises(ConfigError, match="baseline"):
        page_study(s["pw"], b, policies, sessions, s["scores"], s["hist"], baseline="nope")


def test_replay_of_logged_pages_beside_the_truth(tiny_world, setup):
    from marquee.sim.page import replay_check

    s = setup
    cand = s["cand"]
    b = page.PageBuilder(cand, page.RuleTemplate(genres=cand.genres_))
    sessions = tiny_world.sessions(s["members"], seed=8)
    imp = log_impressions(s["pw"], b, page.ShuffledTemplate(genres=cand.genres_, seed=1), sessions, s["scores"], s["hist"], seed=9)
    assert imp.row_keys.shape == (len(imp), 10) and (imp.row_keys[:, 0] != "").all()
    learned = page.GreedyPolicy(genre_matrix=cand.genre_matrix_)
    rows = {r["target"]: r for r in replay_check(s["pw"], b, learned, imp, sessions, s["scores"], s["hist"])}
    assert set(rows) == {"template order", "learned order"}
    for r in rows.values():
        assert r["replay_low"] < r["replay"] < r["replay_high"] and 0 < r["truth"] < 1
        assert 0.05 < r["matched"] < 0.2  # about 1/10 of the rows sit at their target slot
        # 400 sessions: the replay's interval is wide, but it lands in the truth's neighbourhood.
        assert abs(r["replay"] - r["truth"]) < 3 * (r["replay_high"] - r["replay_low"])
