"""MovieLens with its ids written as text gives the integer-id leaderboard (the fast rankers; bench/ids.py runs all)."""

import numpy as np
import pytest

from marquee.data import leave_one_out
from marquee.evaluate import build_candidates, run_protocol
from marquee.testing import with_text_ids

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_text_ids_give_the_integer_leaderboard(ml100k):
    named = with_text_ids(ml100k)
    assert named.members.is_string and named.titles.is_string
    # Shortlex order gives every member and title the position of its number.
    np.testing.assert_array_equal(named.member_idx, ml100k.interactions.member_idx)
    np.testing.assert_array_equal(named.title_idx, ml100k.interactions.title_idx)
    models = ["popular", "item_knn", "ease"]
    params = {"popular": {"params": {"half_life_days": 30.0}}, "item_knn": {"params": {"neighbors": 50}}, "ease": {"params": {"l2": 100.0}}}
    boards = [run_protocol(build_candidates(models, params, tune=False), leave_one_out(d)) for d in (ml100k.interactions, named)]
    for name in models:
        a, b = boards[0][name].evaluation, boards[1][name].evaluation
        for metric in ("ndcg@10", "hr@10", "mrr@10"):
            assert round(float(np.mean(a.per_member[metric])), 4) == round(float(np.mean(b.per_member[metric])), 4), (name, metric)
        # The exported lists name the same titles, spelled as text.
        top_int = boards[0][name].model.titles_.ids[a.topk[:, :10]]
        top_text = boards[1][name].model.titles_.ids[b.topk[:, :10]]
        assert top_text.tolist() == [[str(t) for t in row] for row in top_int.tolist()]
