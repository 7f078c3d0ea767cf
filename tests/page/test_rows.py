import numpy as np
import pytest

from marquee.errors import ConfigError, DataError, NotFittedError
from marquee.page import ROW_KINDS, History, RowCandidates


@pytest.fixture(scope="module")
def cand(log):
    return RowCandidates(row_length=12).fit(log)


def scores(n, seed=0):
    return np.random.default_rng(seed).normal(size=n)


def test_unfitted_and_bad_config():
    with pytest.raises(NotFittedError, match="call fit"):
        RowCandidates().rows(np.zeros(3), History())
    with pytest.raises(ConfigError, match="row_length"):
        RowCandidates(row_length=0)
    with pytest.raises(ConfigError, match="finished"):
        RowCandidates(finished=1.5)


def test_history_is_each_title_once_oldest_first(log, cand):
    h = cand.history(0)
    assert len(np.unique(h.titles)) == len(h)
    lo, hi = log.member_indptr[0], log.member_indptr[1]
    assert set(h.titles.tolist()) == set(log.title_idx[lo:hi].tolist())
    assert h.titles[-1] == log.title_idx[hi - 1]  # the latest play is last
    assert len(cand.history(None)) == 0 and len(cand.history(10**6)) == 0


def test_rows_respect_history(cand):
    h = cand.history(3)
    rows = cand.rows(scores(cand.n_titles), h)
    kinds = [r.kind for r in rows]
    assert kinds == sorted(kinds, key=ROW_KINDS.index)
    assert len({r.key for r in rows}) == len(rows)
    seen = set(h.titles.tolist())
    unfinished = set(h.titles[h.completion < 0.9].tolist())
    for r in rows:
        assert 0 < r.items.size <= 12 and len(set(r.items.tolist())) == r.items.size
        if r.kind == "continue":
            assert set(r.items.tolist()) <= unfinished
            assert r.items[0] == h.titles[h.completion < 0.9][-1]  # most recent first
        else:
            assert not set(r.items.tolist()) & seen


def test_top_picks_and_genre_rows_follow_the_scores(cand):
    s = scores(cand.n_titles, 1)
    rows = {r.key: r for r in cand.rows(s, History())}
    assert np.array_equal(rows["top_picks"].items, np.argsort(-s)[:12])
    comedy = rows["genre:Comedy"]
    assert cand.genre_matrix_[cand.genres_.index("Comedy"), comedy.items].all()
    assert np.all(np.diff(s[comedy.items]) <= 0)
    assert comedy.evidence == "Comedy" and "(no genres listed)" not in cand.genres_


def test_because_you_watched_is_co_watched_with_its_evidence(log, cand):
    h = cand.history(5)
    rows = [r for r in cand.rows(scores(cand.n_titles), h) if r.kind == "because_you_watched"]
    assert 1 <= len(rows) <= cand.anchors
    x = log.matrix().toarray() > 0
    for r in rows:
        assert r.evidence in h.titles and r.label.endswith(cand.names_[r.evidence])
        together = (x[:, [r.evidence]] & x[:, r.items]).sum(axis=0)
        assert (together > 0).all()


def test_trending_counts_the_recent_window(cand):
    rows = {r.key: r for r in cand.rows(scores(cand.n_titles), History())}
    assert set(rows["trending"].items[:10].tolist()) == set(range(10))  # the planted burst on titles 1..10


def test_new_is_the_latest_year(log, cand):
    years = np.array(log.catalog.table.column("year").to_pylist())
    rows = {r.key: r for r in cand.rows(scores(cand.n_titles), History())}
    assert (years[rows["new"].items] == years.max()).all()


def test_no_completion_means_no_continue_row(cand):
    h = cand.history(3)
    plain = History(h.titles, np.full(len(h), np.nan))
    assert "continue" not in {r.kind for r in cand.rows(scores(cand.n_titles), plain)}


def test_bad_input(cand, log):
    with pytest.raises(ConfigError, match="shape"):
        cand.rows(np.zeros(3), History())
    with pytest.raises(DataError, match="one length"):
        History(np.arange(3), np.zeros(2))
    with pytest.raises(DataError, match="catalog"):
        RowCandidates().fit(log, log.catalog.__class__.from_arrays(np.arange(1, 4)))


def test_with_play_replaces_an_earlier_play():
    h = History(np.array([1, 2, 3]), np.array([1.0, 0.2, 1.0])).with_play(2, 0.5)
    assert h.titles.tolist() == [1, 3, 2] and h.completion.tolist() == [1.0, 1.0, 0.5]
