"""Demand at the edge from the simulated world: plays, chunk requests, release days and the fill study."""

import numpy as np
import pytest

from marquee.errors import ConfigError


@pytest.fixture(scope="module")
def region(tiny_world, planted):
    from marquee.rank import MostPopular
    from marquee.sim.delivery import DeliveryConfig, Region, persona_rows

    ranker = MostPopular().fit(planted)
    pop = np.argsort(-tiny_world.title_bias_)
    config = DeliveryConfig(pool_per_device=6, pool_minutes=5.0, promote_k=1, scheme="rb")
    return Region(tiny_world, persona_rows(tiny_world, ranker, k=14), config, releases={1: pop[[3, 9]]})


def test_plays_and_their_chunk_requests(region):
    day = region.day(0, seed=3)
    assert day.n_plays > 0 and day.n_sessions >= day.n_plays
    assert np.all(day.watch_s <= region.runtime_s[day.title] + 1e-9) and np.all(day.watch_s >= 0)
    time, file, size = region.requests(day)
    assert np.all(np.diff(time) >= 0)
    cat = region.catalog
    # every request names a file of the played title, at a rung whose chunk size it carries
    assert set(np.unique(cat.title[file])) <= set(day.title.tolist())
    assert np.array_equal(size, region.chunk_bytes[cat.rung[file].astype(np.int64)])
    expected_chunks = np.ceil(day.watch_s / region.config.chunk_s).sum()
    assert time.size == expected_chunks
    assert region.day_bytes(day).sum() == size.sum()
    trace = region.chunk_requests(day)
    assert len(trace) == time.size and trace.total_bytes == size.sum()


def test_release_day_rows_and_predictions(region):
    released = region.released(1)
    before = region.day_rows(np.arange(50), 0)
    assert not np.isin(before, released).any()  # not shown before release
    on = region.day_rows(np.arange(50), 1)
    assert np.all(on[:, 0] == released[0])  # promoted at the head of every row on release day
    yesterday = region.day(0, seed=1)
    predicted = region.predicted_bytes(1, yesterday)
    seen = region.yesterday_bytes(yesterday)
    files = np.isin(region.catalog.title, released[:1])
    assert seen[files].sum() == 0 and predicted[files].sum() > 0
    assert np.all(predicted >= 0)


def test_fill_study_orders_the_plans(region):
    from marquee.sim.delivery import fill_study

    study = fill_study(region, 1, (0.05, 0.2), policies=("lru", "fifo"), n_bootstrap=200)
    for j in range(2):
        oracle = study.hit["oracle"][j]
        assert oracle.estimate >= study.hit["predicted"][j].estimate > study.hit["yesterday"][j].estimate
        assert study.margin[("predicted", "yesterday")][j].low > 0
        assert oracle.low <= oracle.estimate <= oracle.high
    assert 0 < study.new_release_share < 1
    with pytest.raises(ConfigError):
        fill_study(region, 0)


def test_chunk_demand_is_the_days_requests_by_member(region):
    day = region.day(0, seed=5)
    demand = region.chunk_demand(day)
    time, file, size = region.requests(day)
    assert np.array_equal(demand.time, time) and np.array_equal(demand.file, file)
    assert demand.n_units == region.world.n_members
    per_member = np.bincount(demand.unit, weights=demand.size, minlength=demand.n_units)
    assert per_member.sum() == size.sum() and set(np.flatnonzero(per_member)) <= set(day.member_idx.tolist())
