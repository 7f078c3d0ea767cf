"""SASRec specifics: it learns order, handles empty histories, validates its config."""

import numpy as np
import pytest

from marquee.data import IdIndex, Interactions
from marquee.errors import ConfigError
from marquee.rank import SASRec


def _cycles(n_members=60, n_titles=12, length=10, seed=0):
    """Every member walks the titles in one fixed cycle from a random start: the next title is
    always (last + 1) mod n_titles, which popularity or co-occurrence alone cannot tell."""
    rng = np.random.default_rng(seed)
    m, t, ts = [], [], []
    for u in range(n_members):
        start = int(rng.integers(n_titles))
        seq = (start + np.arange(length)) % n_titles
        m += [u] * length
        t += seq.tolist()
        ts += list(range(length))
    return Interactions.from_arrays(m, t, ts)


def test_learns_the_next_title_in_order():
    data = _cycles()
    model = SASRec(max_len=10, hidden=32, epochs=150, batch_size=16, weight_decay=0.0, learning_rate=5e-3, dropout=0.0).fit(data)
    top = model.recommend(data.members.ids, k=1).title_ids[:, 0]
    last = data.titles.ids[data.title_idx[data.member_indptr[1:] - 1]]
    accuracy = np.mean(top == (last + 1) % 12)
    assert accuracy >= 0.9, f"next-title accuracy {accuracy:.2f}"


def test_member_without_history_gets_finite_scores():
    data = _cycles(n_members=20)
    wider = data.with_indices(IdIndex(np.arange(21), "member"), data.titles)
    model = SASRec(max_len=5, hidden=8, epochs=2).fit(wider)
    scores = model.score([20])
    assert scores.shape == (1, 12) and np.isfinite(scores).all()


@pytest.mark.parametrize(
    ("params", "pattern"),
    [({"heads": 3}, "heads must be a divisor of hidden=64"), ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"), ({"epochs": 0}, "epochs must be an int >= 1")],
)
def test_config_errors(params, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SASRec(**params)


def _uneven(seed=0):
    """Members with 1 to 30 titles, so groups of similar length and cropping are exercised."""
    rng = np.random.default_rng(seed)
    m, t, ts = [], [], []
    for u in range(40):
        n = int(rng.integers(1, 31))
        m += [u] * n
        t += rng.choice(40, n, replace=False).tolist()
        ts += list(range(n))
    return Interactions.from_arrays(m, t, ts)


@pytest.fixture(scope="module")
def uneven_model():
    return SASRec(max_len=20, hidden=16, epochs=2, batch_size=8).fit(_uneven())


def test_scores_do_not_depend_on_batch_company(uneven_model):
    """Cropping to a group's longest history and grouping by length change no score."""
    model = uneven_model
    together = model.score_index(np.arange(40))
    alone = np.vstack([model.score_index(np.array([u])) for u in range(40)])
    padded = np.vstack([model._run(model._sequences(np.array([u]), 20)) for u in range(40)])  # no cropping
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(together, padded, atol=1e-5)


def test_length_groups_cover_every_member_once_with_bounded_padding():
    from marquee.rank.sasrec import _length_groups

    lengths = np.random.default_rng(1).integers(1, 200, 500)
    groups = _length_groups(lengths, batch_size=64)
    assert np.array_equal(np.sort(np.concatenate(groups)), np.arange(500))
    for g in groups:
        assert g.size <= 64
        assert g.size == 1 or g.size * lengths[g].max() <= 1.3 * lengths[g].sum()


def test_served_graph_matches_torch_and_survives_save_load(tmp_path):
    from marquee.rank import Recommender

    model = SASRec(max_len=20, hidden=16, epochs=2, batch_size=8).fit(_uneven())
    eager = model.score_index(np.arange(40))
    model.for_serving()
    np.testing.assert_allclose(model.score_index(np.arange(40)), eager, atol=1e-4)
    model.save(tmp_path / "m")
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.graph_ == model.graph_  # the checked graph is saved, not re-exported
    np.testing.assert_allclose(loaded.for_serving().score_index(np.arange(40)), eager, atol=1e-4)


def test_int8_variant_ranks_like_the_source_and_round_trips(tmp_path):
    from marquee.rank import Recommender
    from marquee.rank.quantize import QuantizedSASRec, quantize

    data = _cycles()
    model = SASRec(max_len=10, hidden=32, epochs=60, batch_size=16, weight_decay=0.0, learning_rate=5e-3, dropout=0.0).fit(data)
    q = quantize(model)
    assert len(q.graph_) < len(model.graph_)
    q.save(tmp_path / "q")
    loaded = Recommender.load(tmp_path / "q")
    assert isinstance(loaded, QuantizedSASRec) and loaded.name == "sasrec-int8"
    top_src = model.recommend(data.members.ids, k=1).title_ids
    top_q = loaded.recommend(data.members.ids, k=1).title_ids
    assert np.mean(top_src == top_q) >= 0.9
    with pytest.raises(ConfigError, match="made from a fitted SASRec"):
        QuantizedSASRec().fit(data)


def test_quantize_refuses_other_rankers():
    from marquee.rank import EASE
    from marquee.rank.quantize import quantize

    with pytest.raises(ConfigError, match="implemented for SASRec, got EASE"):
        quantize(EASE().fit(_cycles()))
