import math

import numpy as np
import pytest

from marquee import page
from marquee.errors import ConfigError
from marquee.page import (
    GreedyPolicy,
    MemberState,
    PageBuilder,
    PageModel,
    PageParams,
    Row,
    RowCandidates,
    RuleTemplate,
    ShuffledTemplate,
)


@pytest.fixture(scope="module")
def cand(log):
    return RowCandidates().fit(log)


def all_titles(page):
    return [t for r in page.rows for t in r.items.tolist()]


@pytest.mark.parametrize("policy", ["template", "shuffled", "greedy"])
def test_pages_never_repeat_a_title_and_keep_the_layout(cand, policy):
    make = {"template": lambda: RuleTemplate(n_rows=6, columns=8, genres=cand.genres_),
            "shuffled": lambda: ShuffledTemplate(n_rows=6, columns=8, genres=cand.genres_, seed=0),
            "greedy": lambda: GreedyPolicy(n_rows=6, columns=8, genre_matrix=cand.genre_matrix_)}[policy]  # fmt: skip
    b = PageBuilder(cand, make())
    for m in range(20):
        page = b.page(np.random.default_rng(m).normal(size=cand.n_titles), cand.history(m))
        titles = all_titles(page)
        assert len(titles) == len(set(titles))
        assert 1 <= len(page.rows) <= 6 and all((1 if r.kind == "continue" else 4) <= r.items.size <= 8 for r in page.rows)
        grid = page.grid(7)
        assert grid.shape == (7, 8) and (grid[len(page.rows):] == -1).all()


def test_template_order_and_genres_by_share(cand):
    b = PageBuilder(cand, RuleTemplate(n_rows=20, genres=cand.genres_))
    page = b.page(np.random.default_rng(0).normal(size=cand.n_titles), cand.history(2))
    kinds = [r.kind for r in page.rows]
    assert kinds[:2] == ["continue", "top_picks"] and kinds[-1] == "genre"
    member = b.member(np.zeros(cand.n_titles), cand.history(2))
    shares = [member.intents[cand.genres_.index(r.evidence)] for r in page.rows if r.kind == "genre"]
    assert shares == sorted(shares, reverse=True)


def test_shuffled_template_logs_its_propensity(cand):
    b = PageBuilder(cand, ShuffledTemplate(n_rows=5, genres=cand.genres_, seed=1))
    s = np.random.default_rng(0).normal(size=cand.n_titles)
    orders = {tuple(r.key for r in b.page(s, cand.history(1)).rows) for _ in range(30)}
    page = b.page(s, cand.history(1))
    assert len(orders) > 5 and page.propensity == pytest.approx(1 / math.factorial(len(page.rows)))


def test_greedy_diversifies_across_intents():
    """Two intents of equal share, row A and B of intent 0 (better scores), row C of intent 1:
    one slot each for two rows -> the greedy page takes A then C, not A then B."""
    genre = np.zeros((2, 12), bool)
    genre[0, :8] = True
    genre[1, 8:] = True
    z = np.r_[np.full(8, 2.0), np.full(4, 1.5)]
    rows = [Row("genre", "a", "A", np.arange(0, 4)), Row("genre", "b", "B", np.arange(4, 8)), Row("genre", "c", "C", np.arange(8, 12))]
    member = MemberState(z, np.array([0.5, 0.5]), np.zeros(12, bool))
    model = PageModel(PageParams(alpha=1.0, beta=-1.0, intent=4.0, eta_row=0.5, eta_col=0.5))
    page = GreedyPolicy(n_rows=2, columns=4, model=model, genre_matrix=genre).arrange(rows, member)
    assert [r.key for r in page.rows] == ["a", "c"]
    one = MemberState(z, np.array([1.0, 0.0]), np.zeros(12, bool))  # one intent: relevance decides
    page = GreedyPolicy(n_rows=2, columns=4, model=model, genre_matrix=genre).arrange(rows, one)
    assert [r.key for r in page.rows] == ["a", "b"]


def test_greedy_is_at_least_the_template_under_its_model(cand):
    model = PageModel()
    greedy = GreedyPolicy(genre_matrix=cand.genre_matrix_, model=model)
    b = PageBuilder(cand, RuleTemplate(genres=cand.genres_))
    for m in range(10):
        s = np.random.default_rng(m).normal(size=cand.n_titles)
        h = cand.history(m)
        st = b.member(s, h)
        vals = []
        for pol in (b.policy, greedy):
            g = b.page(s, h, pol).grid(10)
            safe = np.maximum(g, 0)
            vals.append(model.expected_plays(np.where(g >= 0, st.z[safe], 0)[None], g[None], (st.unfinished[safe] & (g >= 0))[None],
                                             st.intents[None], cand.genre_matrix_)[0])  # fmt: skip
        assert vals[1] >= vals[0] - 1e-12


def test_continue_watching_shows_even_one_title(cand):
    h = page.History(np.array([5, 6]), np.array([1.0, 0.2]))
    for pol in (RuleTemplate(genres=cand.genres_), GreedyPolicy(genre_matrix=cand.genre_matrix_)):
        home = PageBuilder(cand, pol).page(np.random.default_rng(0).normal(size=cand.n_titles), h)
        rows = {r.kind: r for r in home.rows}
        assert rows["continue"].items.tolist() == [6]


def test_layout_checks():
    with pytest.raises(ConfigError, match="min_tiles"):
        RuleTemplate(columns=3, min_tiles=4)
    with pytest.raises(ConfigError, match="genre_matrix"):
        GreedyPolicy(genre_matrix=np.zeros((2, 3), bool)).arrange([], MemberState(np.zeros(5), np.ones(2) / 2, np.zeros(5, bool)))


def test_a_catalog_without_genres_still_gets_a_learned_page():
    from marquee.data import Catalog, Interactions

    rng = np.random.default_rng(0)
    catalog = Catalog.from_arrays(np.arange(1, 41))
    members = np.repeat(np.arange(1, 31), 8)
    titles = np.concatenate([rng.choice(np.arange(1, 41), 8, replace=False) for _ in range(30)])
    data = Interactions.from_arrays(members, titles, rng.integers(0, 10**6, members.size), catalog=catalog)
    cand = RowCandidates(row_length=10).fit(data)
    assert cand.genres_ == ()
    greedy = GreedyPolicy(genre_matrix=cand.genre_matrix_)
    home = PageBuilder(cand, greedy).page(rng.normal(size=40), cand.history(0))
    assert {r.kind for r in home.rows} >= {"top_picks", "trending"}
