"""MovieLens with its ids written as text gives the integer-id leaderboard (the fast rankers; bench/ids.py runs all)."""

import numpy as np
import pyarrow as pa
import pytest

from marquee.data import Catalog, Interactions, leave_one_out
from marquee.data.catalog import Members
from marquee.evaluate import build_candidates, run_protocol

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _as_text(ds, member_prefix="", title_prefix=""):
    text = lambda col, p: pa.array([f"{p}{v}" for v in col.to_pylist()], pa.string())  # noqa: E731
    t = ds.interactions.table
    table = t.set_column(0, "member_id", text(t.column("member_id"), member_prefix))
    table = table.set_column(1, "title_id", text(t.column("title_id"), title_prefix))
    c = ds.catalog.table
    catalog = Catalog(c.set_column(0, "title_id", text(c.column("title_id"), title_prefix)))
    m = ds.members.table
    members = Members(m.set_column(m.column_names.index("member_id"), "member_id", text(m.column("member_id"), member_prefix)))
    return Interactions.from_table(table, members=members.index, catalog=catalog)


def test_text_ids_give_the_integer_leaderboard(ml100k):
    named = _as_text(ml100k)
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
