"""Known answers for individual rankers."""

import numpy as np
import pytest

from marquee.data import Interactions
from marquee.errors import ConfigError
from marquee.rank import EASE, ItemKNN, MostPopular, top_k
from marquee.rank.base import top_k_row


def _log(pairs, times=None):
    m, t = zip(*pairs, strict=True)
    return Interactions.from_arrays(m, t, times if times is not None else list(range(len(pairs))))


def test_most_popular_counts_members():
    data = _log([(1, 10), (2, 10), (3, 10), (1, 11), (2, 11), (1, 12)])
    model = MostPopular().fit(data)
    np.testing.assert_array_equal(model.popularity_, [3, 2, 1])
    assert model.recommend([3], k=2).title_ids.tolist() == [[11, 12]]


def test_recency_decay_prefers_recent_titles():
    day = 86400
    # Title 10: two old plays; title 11: one play today.
    data = _log([(1, 10), (2, 10), (3, 11)], times=[0, 0, 100 * day])
    assert MostPopular().fit(data).recommend([3], k=1, exclude_seen=False).title_ids[0, 0] == 10
    assert MostPopular(half_life_days=7.0).fit(data).recommend([3], k=1, exclude_seen=False).title_ids[0, 0] == 11


def test_ease_matches_closed_form():
    rng = np.random.default_rng(0)
    pairs = sorted({(int(u), int(i)) for u, i in zip(rng.integers(0, 30, 200), rng.integers(0, 12, 200), strict=True)})
    data = _log(pairs)
    model = EASE(l2=3.0).fit(data)
    x = data.matrix().toarray().astype(np.float64)
    # Steck (2019), eq. 8: B = I - P diagMat(1/diag(P)), P = (X'X + λI)^-1.
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)
    np.testing.assert_allclose(model.weights_, b, atol=1e-5)
    assert np.allclose(np.diag(model.weights_), 0)


def test_item_knn_neighbours_are_cosine():
    data = _log([(1, 10), (1, 11), (2, 10), (2, 11), (3, 10), (3, 12)])
    model = ItemKNN(neighbors=5).fit(data)
    sim = model.similarity_.toarray()
    x = data.matrix().toarray()
    norms = np.linalg.norm(x, axis=0)
    expected = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(sim, expected, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -1.0, "big"])
def test_ease_rejects_bad_l2(bad):
    with pytest.raises(ConfigError, match=r"EASEConfig.l2 must be > 0"):
        EASE(l2=bad)


def test_top_k_breaks_ties_by_lower_index():
    scores = np.array([[1.0, 3.0, 3.0, 3.0, 0.0]], dtype=np.float32)
    idx, vals = top_k(scores, 2)
    assert idx.tolist() == [[1, 2]]
    assert vals.tolist() == [[3.0, 3.0]]


def test_top_k_matches_full_sort_on_random_scores():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, size=(50, 30)).astype(np.float32)  # many ties
    idx, _ = top_k(scores, 7)
    expected = np.array([np.lexsort((np.arange(30), -row))[:7] for row in scores])
    np.testing.assert_array_equal(idx, expected)


@pytest.mark.parametrize("k", [1, 3, 7, 29, 30, 40])
def test_top_k_row_matches_top_k_with_ties_and_exclusions(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, size=(200, 30)).astype(np.float32)  # ties everywhere
    scores[rng.random(scores.shape) < 0.3] = -np.inf  # excluded titles
    idx, vals = top_k(scores, k)
    for r, row in enumerate(scores):
        one_idx, one_vals = top_k_row(row, k)
        np.testing.assert_array_equal(one_idx, idx[r])
        np.testing.assert_array_equal(one_vals, vals[r])


def test_an_artifact_with_unreadable_id_arrays_is_refused_as_an_artifact(tmp_path, monkeypatch):
    """A saved model whose id arrays do not decode is an ArtifactError naming the directory (not a NameError)."""
    import numpy as np

    from marquee.data import Interactions
    from marquee.data.ids import IdIndex
    from marquee.errors import ArtifactError, DataError
    from marquee.rank import MostPopular
    from marquee.rank.base import Recommender

    data = Interactions.from_arrays([1, 1, 2], [5, 6, 5], np.arange(3))
    MostPopular().fit(data).save(tmp_path / "m")

    def broken(*args, **kwargs):
        raise DataError("ids out of order")

    monkeypatch.setattr(IdIndex, "from_arrays", broken)
    with pytest.raises(ArtifactError, match="ids out of order"):
        Recommender.load(tmp_path / "m")
