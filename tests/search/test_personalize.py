"""Personalized: the member's favourite among text-equal titles comes first, an unknown member gets the
non-personalised order, and weights fitted on a log drawn from a known blend recover it."""

from dataclasses import dataclass

import numpy as np
import pytest

from marquee.data import Catalog, Interactions
from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.random import as_generator
from marquee.rank.base import Recommender
from marquee.search import BlendConfig, Personalized, SearchIndex, SearchLog
from marquee.search.personalize import FEATURES, features


@dataclass(frozen=True)
class TasteConfig:
    seed: int = 0


class Taste(Recommender):
    """A ranker with a known answer: scores are the member's plays (1) plus seeded noise of scale ``0.01``."""

    Config = TasteConfig
    name = "taste"

    def _fit(self, data: Interactions) -> None:
        noise = as_generator(self.config.seed).normal(0.0, 0.01, self.seen_.shape)
        self.scores_ = (self.seen_.toarray() + noise).astype(np.float32)

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        return self.scores_[np.asarray(member_idx)]

    def _state(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.scores_ = state["scores"]


STAR = ["Star Ax", "Star Bx", "Star Cx", "Star Dx"]  # equal text relevance for "star"


@pytest.fixture(scope="module")
def stars():
    """Titles 1-4 are the text-equal stars, 5-8 other titles; member m (1..40) watched star 1 + m % 4, and
    members 41..60 watched star 2 as well (so star 2 is the most popular)."""
    catalog = Catalog.from_arrays(np.arange(1, 9), names=[*STAR, "Moon One", "Moon Two", "Dark Night", "Dawn"])
    members, titles = [], []
    for m in range(1, 61):
        members.append(m)
        titles.append(1 + m % 4 if m <= 40 else 2)
        members.append(m)
        titles.append(5 + m % 4)
    data = Interactions.from_arrays(members, titles, np.arange(len(members)), catalog=catalog)
    index = SearchIndex().build(catalog)
    ranker = Taste().fit(data)
    # Members mostly play the star they watched; a few play the popular one.
    rng = np.random.default_rng(0)
    who = rng.integers(1, 41, 400)
    played = np.where(rng.random(400) < 0.85, 1 + who % 4, 2)
    log = SearchLog(tuple(rng.choice(["st", "sta", "star"], 400).tolist()), who, played)
    return index, ranker, Personalized(index, ranker).fit(log)


def test_member_gets_their_favourite_of_text_equal_titles(stars):
    index, _, search = stars
    text = index.search("star", k=4)
    assert np.unique(text.scores).size == 1  # the four stars tie on text
    for member in (4, 5, 6, 7):  # watched star 1 + member % 4
        hits = search.search("star", k=4, member_id=member)
        assert hits.title_ids[0] == 1 + member % 4
        assert sorted(hits.title_ids.tolist()) == [1, 2, 3, 4]
    assert search.weights_["member_z"] + search.weights_["member_rank"] > 0.5


def test_unknown_or_absent_member_gets_the_non_personalised_order(stars):
    _, _, search = stars
    anonymous = search.search("star", k=4)
    assert anonymous.title_ids[0] == 2  # the most popular star
    assert search.base_weights["popularity"] > 0
    for member in (999, None, "nobody"):
        hits = search.search("star", k=4, member_id=member)
        np.testing.assert_array_equal(hits.title_ids, anonymous.title_ids)
        np.testing.assert_allclose(hits.scores, anonymous.scores)


def test_search_many_matches_search_one_at_a_time(stars):
    _, _, search = stars
    many = search.search_many(["star", "moon", "sta"], [5, None, 7], k=3)
    for hits, (q, m) in zip(many, [("star", 5), ("moon", None), ("sta", 7)], strict=True):
        np.testing.assert_array_equal(hits.title_ids, search.search(q, k=3, member_id=m).title_ids)
    assert len(many[0]) == 3


def test_member_scores_are_cached_per_member_and_change_nothing(stars):
    index, ranker, _ = stars
    log = SearchLog(("st", "star", "sta"), np.array([5, 6, 7]), np.array([2, 3, 4]))
    uncached = Personalized(index, ranker, BlendConfig(member_cache_mb=0)).fit(log)
    cached = Personalized(index, ranker, BlendConfig(member_cache_mb=1)).fit(log)
    for q, m in [("s", 5), ("st", 5), ("sta", 5), ("star", 5), ("star", 6), ("st", 5), ("moon", None)]:
        a, b = cached.search(q, k=4, member_id=m), uncached.search(q, k=4, member_id=m)
        np.testing.assert_array_equal(a.title_ids, b.title_ids)
        np.testing.assert_array_equal(a.scores, b.scores)
    info = cached._row.cache_info()
    assert (info.hits, info.misses) == (4, 2)  # members 5 and 6 scored once each
    assert cached.member_index(5) >= 0 and cached.member_index(999) == cached.member_index(None) == -1


def test_titles_the_ranker_does_not_know_rank_below_known_ones():
    """A title added to the catalog after the ranker's fit: its member score is below every known
    candidate's, in the fit and at search time alike."""
    names = ["Star Ax", "Star Bx", "Star Cx", "Star New"]
    catalog = Catalog.from_arrays(np.arange(1, 5), names=names)
    old = Catalog.from_arrays(np.arange(1, 4), names=names[:3])
    members = np.repeat(np.arange(1, 31), 1)
    data = Interactions.from_arrays(members, 1 + members % 3, np.arange(members.size), catalog=old)
    ranker = Taste().fit(data)
    index = SearchIndex().build(catalog)
    rng = np.random.default_rng(0)
    who = rng.integers(1, 31, 300)
    search = Personalized(index, ranker).fit(SearchLog(("star",) * 300, who, 1 + who % 3))
    for m in (3, 4, 5):
        hits = search.search("star", k=4, member_id=m)
        assert hits.title_ids[0] == 1 + m % 3 and hits.title_ids[-1] == 4
    np.testing.assert_array_equal(features(np.ones(3), np.ones(3), np.array([0.5, np.nan, 0.2]))[:, 4], -np.log1p([0, 2, 1]))


def test_ranks_place_the_played_title(stars):
    _, _, search = stars
    log = SearchLog(("star", "star", "zzzz"), np.array([5, 999, 5]), np.array([2, 2, 2]))
    ranks = search.ranks(log)
    assert ranks.personal[0] == 1 and ranks.known.tolist() == [True, False, True]
    assert ranks.base[1] == ranks.personal[1] == 1  # anonymous: the popular star first
    assert ranks.text[2] == ranks.base[2] == ranks.personal[2] == 0  # no candidate


@pytest.mark.slow
def test_weights_recover_the_generating_blend():
    """Choices drawn from softmax(w · x) over each query's candidates: the fitted weights come back."""
    rng = np.random.default_rng(1)
    first = ["Star", "Stone", "Storm", "Moon", "Money", "Mother", "Dark", "Dance", "Dawn"]
    second = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel"]
    names = [f"{a} {b}" for a in first for b in second]
    catalog = Catalog.from_arrays(np.arange(1, len(names) + 1), names=names)
    n_members = 200
    members = np.repeat(np.arange(n_members), 6)
    titles = rng.choice(len(names), members.size, p=np.arange(len(names), 0, -1) / np.arange(len(names), 0, -1).sum()) + 1
    keep = np.unique(members * 1000 + titles, return_index=True)[1]
    data = Interactions.from_arrays(members[keep], titles[keep], np.arange(keep.size), catalog=catalog)

    class Noisy(Taste):
        def _fit(self, data: Interactions) -> None:
            self.scores_ = as_generator(3).normal(size=self.seen_.shape).astype(np.float32)

    index, ranker = SearchIndex().build(catalog), Noisy().fit(data)
    search = Personalized(index, ranker, BlendConfig(l2=0.0))
    search._prepare()
    truth = np.array([1.0, 0.0, 0.8, 1.5, 0.0])
    queries = [w[:n] for w in first for n in (2, 3)]
    texts, who, played = [], [], []
    for _ in range(1200):
        q, m = queries[int(rng.integers(len(queries)))], int(rng.integers(n_members))
        hits = index.candidates(q, 200)
        x = features(hits.scores, search.popularity_[hits.positions], ranker.scores_[m, hits.positions].astype(np.float64))
        p = np.exp(x @ truth)
        texts.append(q)
        who.append(m)
        played.append(hits.title_ids[rng.choice(len(hits), p=p / p.sum())])
    search.fit(SearchLog(tuple(texts), np.array(who), np.array(played)))
    w = np.array([search.weights_[f] for f in FEATURES])
    assert search.n_skipped_ == 0
    np.testing.assert_allclose(w[[0, 2, 3]], truth[[0, 2, 3]], atol=0.3)
    assert abs(w[4]) < 0.3


def test_bad_input_is_refused_by_name(stars):
    index, ranker, search = stars
    with pytest.raises(NotFittedError, match=r"call fit\(search_log\) first"):
        Personalized(index, ranker).search("star")
    with pytest.raises(DataError, match="takes a SearchLog"):
        Personalized(index, ranker).fit([("star", 1, 1)])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="one member id and one played title per query"):
        SearchLog(("a", "b"), np.array([1]), np.array([1, 2]))
    with pytest.raises(DataError, match="nothing to learn from"):
        Personalized(index, ranker).fit(SearchLog(("zzzz",), np.array([1]), np.array([1])))
    with pytest.raises(ConfigError, match="k must be an int >= 1"):
        search.search("star", k=0)
    with pytest.raises(ConfigError, match="candidates"):
        BlendConfig(candidates=0)
    with pytest.raises(ConfigError, match="no hyperparameter 'l3'"):
        Personalized(index, ranker, l3=1.0)
    with pytest.raises(NotFittedError, match="call fit"):
        Personalized(index, Taste()).fit(SearchLog(("star",), np.array([1]), np.array([1])))
    assert len(search.search("", member_id=5)) == 0  # an empty query: no hits, never an error
    assert len(search.search("\x00\x01" + "x" * 10_000, member_id=5)) == 0
