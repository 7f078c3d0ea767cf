"""Small synthetic logs with a known answer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from marquee.data.catalog import Catalog, Members
from marquee.data.interactions import Interactions
from marquee.random import SeedLike, as_generator

__all__ = ["block_interactions", "with_text_ids"]


def block_interactions(
    n_members: int = 60,
    n_titles: int = 40,
    n_groups: int = 2,
    per_member: int = 8,
    n_cold_titles: int = 2,
    seed: SeedLike = 0,
    string_ids: bool = False,
) -> Interactions:
    """Members in ``n_groups`` taste groups, each watching only its group's titles.

    Member ``u`` belongs to group ``u % n_groups``; title ``i`` to group ``i % n_groups``. Every
    member watches ``per_member`` distinct titles of its group, in a sequence that walks the
    group's titles in order from a random start (so "next title" is learnable). The catalog has
    ``n_cold_titles`` extra titles nobody watched. External ids are offset (members from 1000,
    titles from 5000) so tests catch confusion of ids and positions. With ``string_ids`` the same
    log names them ``"m1000"``... and ``"t5000"``... (same positions, same order).
    """
    rng = as_generator(seed)
    members, titles, times = [], [], []
    group_titles = [np.arange(g, n_titles, n_groups) for g in range(n_groups)]
    for u in range(n_members):
        own = group_titles[u % n_groups]
        start = int(rng.integers(own.size))
        seq = own[(start + np.arange(min(per_member, own.size))) % own.size]
        members += [1000 + u] * seq.size
        titles += (5000 + seq).tolist()
        times += (1_600_000_000 + 3600 * u + 60 * np.arange(seq.size)).tolist()
    catalog_ids = 5000 + np.arange(n_titles + n_cold_titles)
    if string_ids:
        as_text = lambda prefix, ids: np.array([f"{prefix}{i}" for i in ids], dtype=object)  # noqa: E731
        members, titles, catalog_ids = as_text("m", members), as_text("t", titles), as_text("t", catalog_ids)
    return Interactions.from_arrays(members, titles, times, catalog=Catalog.from_arrays(catalog_ids))


def with_text_ids(dataset: Any, member_prefix: str = "", title_prefix: str = "") -> Interactions:
    """A dataset's log with every member and title id written as text, ``f"{prefix}{id}"``.

    Shortlex order gives each id the position its number had, so rankers see the same matrix; only
    the same-second tie draw (which hashes ids as written) changes when a prefix is added.

    Args:
        dataset: a :class:`~marquee.data.Dataset` with integer ids and a members table.
    """

    def text(col: pa.ChunkedArray, prefix: str) -> pa.Array:
        return pa.array([f"{prefix}{v}" for v in col.to_pylist()], pa.string())

    t = dataset.interactions.table
    table = t.set_column(0, "member_id", text(t.column("member_id"), member_prefix))
    table = table.set_column(1, "title_id", text(t.column("title_id"), title_prefix))
    c = dataset.catalog.table
    catalog = Catalog(c.set_column(0, "title_id", text(c.column("title_id"), title_prefix)))
    m = dataset.members.table
    members = Members(m.set_column(m.column_names.index("member_id"), "member_id", text(m.column("member_id"), member_prefix)))
    return Interactions.from_table(table, members=members.index, catalog=catalog, source=f"{dataset.name} (ids as text)")
