"""The Open Connect site: files and ranges, placement by consistent hashing, the fill's caps, hits and both kinds of miss."""

import numpy as np
import pytest

from marquee.cdn.openconnect import ApplianceKind, FileCatalog, Site, SiteConfig, serve
from marquee.errors import ConfigError

MB = 1_000_000


def small_site(flash=1, storage=2, flash_tb=0.2, storage_tb=1.0, serve_gbps=10.0, fill_gbps=1.2, **kw):
    return Site(SiteConfig(
        flash=flash, storage=storage,
        flash_kind=ApplianceKind("flash", flash_tb * 1e12, serve_gbps * 4, fill_gbps),
        storage_kind=ApplianceKind("storage", storage_tb * 1e12, serve_gbps, fill_gbps), **kw,
    ))


def test_catalog_cuts_renditions_into_ranges():
    cat = FileCatalog.build(np.array([100.0, 3600.0]), np.array([800.0, 8000.0]), range_bytes=10 * MB)
    # 100 s at 800 kbps = 10 MB exactly: one range; 3600 s at 8 Mbps = 3.6 GB: 360 ranges.
    assert cat.n_ranges.tolist() == [[1, 10], [36, 360]]
    assert cat.size.sum() == 10 * MB + 100 * 8000 * 125 + 3600 * 800 * 125 + 3600 * 8000 * 125
    f = cat.file_of(np.array([1, 1]), np.array([1, 1]), np.array([0, 25 * MB]))
    assert cat.title[f].tolist() == [1, 1] and cat.rung[f].tolist() == [1, 1] and cat.range_index[f].tolist() == [0, 2]
    with pytest.raises(ConfigError):
        FileCatalog.build(np.array([-1.0]), np.array([100.0]))


def test_fill_respects_disks_and_the_nightly_fill_budget():
    rng = np.random.default_rng(1)
    cat = FileCatalog.build(rng.uniform(1800, 7200, 400), np.array([300.0, 1200.0, 4300.0]))
    site = small_site(fill_gbps=0.01)  # 0.01 Gbps x 12 h = 54 GB a night per appliance
    plan = rng.permutation(cat.n_files)
    night1 = site.fill(cat, plan)
    assert np.all(night1.used_bytes <= site.capacity) and np.all(night1.filled_bytes <= site.fill_budget)
    assert night1.skipped_fill > 0  # the budget, not the disks, stopped the first night
    stored = cat.size[night1.stored].sum()
    night2 = site.fill(cat, plan, previous=night1)
    assert cat.size[night2.stored].sum() > stored  # a second night adds to what is kept
    kept = night1.stored & night2.stored
    assert np.all(night2.holders[kept, 0] == night1.holders[kept, 0])  # same ring, same appliance
    assert np.all(night2.filled_bytes <= site.fill_budget)


def test_top_files_are_replicated_on_distinct_appliances():
    cat = FileCatalog.build(np.full(50, 600.0), np.array([1000.0]))
    site = small_site(flash=0, storage=4, replicas=3, replicate_share=0.1)
    plan = np.arange(cat.n_files)
    p = site.fill(cat, plan)
    top = plan[: int(0.1 * plan.size)]
    assert np.all(np.sort(p.holders[top], axis=1)[:, 0] >= 0)
    assert all(len(set(row)) == 3 for row in p.holders[top].tolist())
    assert np.all(p.holders[plan[int(0.1 * plan.size):], 1:] == -1)


def test_popular_files_go_to_flash_first():
    cat = FileCatalog.build(np.full(100, 600.0), np.array([1000.0]))
    site = small_site(flash=1, storage=1, flash_tb=0.001, storage_tb=1.0)
    p = site.fill(cat, np.arange(cat.n_files))
    first_on_storage = np.flatnonzero(p.holders[:, 0] == 1).min()
    assert first_on_storage > 0 and np.all(p.holders[:first_on_storage, 0] == 0)  # flash takes the head of the plan
    assert p.used_bytes[0] > 0.9 * site.capacity[0]


def test_serve_hits_content_misses_and_health_misses():
    cat = FileCatalog.build(np.full(4, 100.0), np.array([800.0]))  # 4 files of 10 MB
    site = small_site(flash=0, storage=1, serve_gbps=8 * 25 * MB / 60 / 1e9, replicas=1)  # 25 MB per minute
    p = site.fill(cat, np.array([0, 1]))
    time = np.array([0.0, 1.0, 2.0, 3.0, 61.0])
    files = np.array([0, 1, 0, 3, 0])
    size = np.full(5, 10 * MB)
    res = serve(cat, [(site, p)], time, files, size)
    # minute 0: file 0 hit (10 MB), file 1 hit (20 MB), file 0 again would make 30 > 25: health miss;
    # file 3 is not stored: content miss; minute 1: room again.
    assert res.level.tolist() == [0, 0, 1, 1, 0]
    assert res.miss_kind.tolist() == [0, 0, 2, 1, 0]
    assert res.byte_share() == {"site": 0.6, "origin": 0.4}


def test_misses_go_to_the_peer_before_origin():
    cat = FileCatalog.build(np.full(4, 100.0), np.array([800.0]))
    edge, peer = small_site(flash=0, storage=1, name="edge"), small_site(flash=0, storage=1, name="peer")
    res = serve(cat, [(edge, edge.fill(cat, np.array([0]))), (peer, peer.fill(cat, np.array([1, 2])))],
                np.arange(4.0), np.array([0, 1, 2, 3]), np.full(4, MB))
    assert res.level.tolist() == [0, 1, 1, 2] and res.level_names == ("edge", "peer")
    _, offered, served = res.hourly(levels=2)
    assert offered.sum() == 4 * MB and served.sum() == 3 * MB


def test_bad_plans_and_requests_are_refused():
    cat = FileCatalog.build(np.full(3, 100.0), np.array([800.0]))
    site = small_site()
    with pytest.raises(ConfigError, match="twice"):
        site.fill(cat, np.array([0, 0]))
    with pytest.raises(ConfigError, match="outside the catalog"):
        site.fill(cat, np.array([5]))
    p = site.fill(cat, np.array([0]))
    with pytest.raises(ConfigError, match="sorted by time"):
        serve(cat, [(site, p)], np.array([2.0, 1.0]), np.array([0, 0]), np.array([1, 1]))
    with pytest.raises(ConfigError, match="at least one appliance"):
        SiteConfig(flash=0, storage=0)
