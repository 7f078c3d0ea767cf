"""Capacity planning: live-event demand, offload at peak per candidate site, the cheapest site that clears the target."""

import numpy as np
import pytest

from marquee.cdn.capacity import Demand, live_event, plan_capacity
from marquee.cdn.openconnect import ApplianceKind
from marquee.errors import ConfigError

RUNGS = np.array([300.0, 750.0, 1200.0, 1850.0, 2850.0, 4300.0])
SHARE = np.array([0.05, 0.1, 0.15, 0.2, 0.2, 0.3])


def test_live_event_ramps_to_its_peak():
    cat, d = live_event(RUNGS, SHARE, peak_viewers=500, ramp_min=10, hold_min=10, seed=1)
    assert d.n_units == 500 and np.all(np.diff(d.time) >= 0)
    per_minute = np.bincount((d.time // 60).astype(int))
    assert per_minute[:10].argmax() >= 8  # still ramping in the first ten minutes
    assert per_minute[12:19].min() > 0.95 * per_minute[12:19].max()  # a plateau at the peak
    # viewers stream every chunk from their join to the end, at one rung
    assert d.size.sum() == pytest.approx(d.size.mean() * len(d.time))
    assert set(np.unique(cat.rung[d.file])) <= set(range(RUNGS.size))


def test_plan_picks_the_cheapest_site_that_clears_the_target():
    draws = [live_event(RUNGS, SHARE, peak_viewers=n, ramp_min=5, hold_min=10, seed=k)[1]
             for k, n in enumerate((800, 1000, 1200))]
    cat = live_event(RUNGS, SHARE, peak_viewers=1, ramp_min=5, hold_min=10)[0]
    gbps = max(d.offered_gbps(60.0)[1].max() for d in draws)  # the busiest minute of any draw
    # storage appliances that each serve a bit more than a third of that: three are needed, whatever the draw
    kind = ApplianceKind("storage", 1e12, serve_gbps=gbps / 2.9, fill_gbps=1.2)
    plan = plan_capacity(cat, draws, np.arange(cat.n_files), target=0.99, flash=(0,), storage=(1, 2, 3, 4),
                         storage_kind=kind, replicas=8, replicate_share=1.0, window_s=600)
    by = {c.storage: c for c in plan.candidates}
    assert by[1].offload.estimate < by[2].offload.estimate < 0.99 <= by[3].offload.low
    assert by[1].health_miss > 0 and by[1].content_miss == 0  # everything is stored: only health misses
    assert (plan.chosen.flash, plan.chosen.storage) == (0, 3)
    assert plan.appliances_needed.estimate == 3
    assert plan.offered_gbps.max() > 0 and np.all(plan.served_gbps <= plan.offered_gbps + 1e-9)


def test_bad_inputs():
    with pytest.raises(ConfigError):
        Demand(np.array([2.0, 1.0]), np.zeros(2, int), np.ones(2, int), np.zeros(2, int), 1)
    with pytest.raises(ConfigError):
        live_event(RUNGS, SHARE[:3], peak_viewers=10)
    cat, d = live_event(RUNGS, SHARE, peak_viewers=10, ramp_min=1, hold_min=1)
    with pytest.raises(ConfigError):
        plan_capacity(cat, [d], np.arange(cat.n_files), target=1.5)
    with pytest.raises(ConfigError):
        plan_capacity(cat, [], np.arange(cat.n_files))
