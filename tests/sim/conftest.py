"""Worlds shared by the simulation tests: a tiny one on planted data (fast), one on MovieLens-100K."""

import numpy as np
import pytest

from marquee.data import Catalog, Interactions

GENRES = [["Children's", "Animation"], ["War", "Drama"], ["Comedy"], ["Drama"], ["Action", "Sci-Fi"], ["Horror"]]


def planted_log(n_members: int = 300, n_titles: int = 120, seed: int = 0) -> Interactions:
    """Two taste groups over a catalog whose genres cycle through GENRES; popularity falls with the id."""
    rng = np.random.default_rng(seed)
    catalog = Catalog.from_arrays(np.arange(1, n_titles + 1), genres=[GENRES[i % len(GENRES)] for i in range(n_titles)])
    group = np.arange(n_members) % 2
    members, titles = [], []
    for u in range(n_members):
        w = 1.0 / np.arange(1, n_titles + 1) ** 0.8 * np.where((np.arange(n_titles) % 2) == group[u], 4.0, 1.0)
        k = int(rng.integers(5, 40))
        titles.extend(rng.choice(n_titles, size=k, replace=False, p=w / w.sum()) + 1)
        members.extend([u + 1] * k)
    ts = rng.integers(0, 10**6, len(members))
    return Interactions.from_arrays(members, titles, ts, catalog=catalog)


@pytest.fixture(scope="session")
def planted():
    return planted_log()


@pytest.fixture(scope="session")
def tiny_world(planted):
    from marquee.sim import World

    return World(n_members=400, factors=8, calibration_rounds=1, seed=0).fit(planted)


@pytest.fixture(scope="session")
def ml_world(ml100k):
    from marquee.sim import World

    return World(n_members=1500, seed=0).fit(ml100k.interactions)


@pytest.fixture(scope="session")
def ml_log(ml_world):
    return ml_world.log(seed=1)
