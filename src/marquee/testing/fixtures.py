"""Small synthetic logs with a known answer."""

from __future__ import annotations

import numpy as np

from marquee.data.catalog import Catalog
from marquee.data.interactions import Interactions
from marquee.random import SeedLike, as_generator

__all__ = ["block_interactions"]


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
