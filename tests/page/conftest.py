"""A small log with a catalog, completion fractions and a recent window, for the page tests."""

import numpy as np
import pytest

from marquee.data import Catalog, Interactions

GENRES = [["Comedy"], ["Drama"], ["Horror"], ["Comedy", "Romance"], ["Action"], ["Drama", "War"]]
DAY = 86400


def page_log(n_members: int = 200, n_titles: int = 90, seed: int = 0) -> Interactions:
    """Members of three tastes (title id mod 3); the last 30 days favour titles 1..10; half the plays unfinished."""
    rng = np.random.default_rng(seed)
    years = [1990 + (i % 8) for i in range(n_titles)]
    catalog = Catalog.from_arrays(np.arange(1, n_titles + 1), names=[f"Title {i}" for i in range(1, n_titles + 1)], years=years,
                                  genres=[GENRES[i % len(GENRES)] for i in range(n_titles)])  # fmt: skip
    members, titles, ts, completion = [], [], [], []
    for u in range(n_members):
        w = np.where(np.arange(n_titles) % 3 == u % 3, 5.0, 1.0) / np.arange(1, n_titles + 1) ** 0.5
        k = int(rng.integers(5, 25))
        picks = rng.choice(n_titles, size=k, replace=False, p=w / w.sum())
        members.extend([u + 1] * k)
        titles.extend(picks + 1)
        ts.extend(rng.integers(0, 300 * DAY, k))
        completion.extend(rng.choice([0.3, 1.0], size=k))
    recent = rng.integers(1, 11, 400)  # a burst on titles 1..10 in the last 30 days
    members.extend(rng.integers(1, n_members + 1, 400))
    titles.extend(recent)
    ts.extend(rng.integers(300 * DAY - 20 * DAY, 300 * DAY, 400))
    completion.extend([1.0] * 400)
    data = Interactions.from_arrays(members, titles, ts, catalog=catalog)
    # from_arrays has no completion argument: rebuild the table with one, in the log's order.
    import pyarrow as pa

    order_key = {(m, t, s): c for m, t, s, c in zip(members, titles, ts, completion, strict=True)}
    tab = data.table
    keys = zip(tab.column("member_id").to_pylist(), tab.column("title_id").to_pylist(),
               [int(x.timestamp()) for x in tab.column("timestamp").to_pylist()], strict=True)  # fmt: skip
    comp = pa.array([order_key.get(k, 1.0) for k in keys], pa.float32())
    table = tab.set_column(tab.column_names.index("completion"), "completion", comp)
    return Interactions(table, data.members, data.titles, catalog)


@pytest.fixture(scope="session")
def log():
    return page_log()
