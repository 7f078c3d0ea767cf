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
