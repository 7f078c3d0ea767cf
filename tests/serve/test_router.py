"""Router and micro-batcher: choice by budget, fallbacks, hot swaps, batching."""

import asyncio
import os
import time

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.rank import EASE, ItemKNN, MostPopular
from marquee.serve.batching import MicroBatcher
from marquee.serve.router import Router
from marquee.testing import block_interactions

DATA = block_interactions()


class Slow(EASE):
    """EASE that takes ``delay`` seconds per call, or raises when ``fail`` is set."""

    delay = 0.0
    fail = False

    def _slow_down(self):
        if self.fail:
            raise RuntimeError("boom")
        time.sleep(self.delay)

    def recommend_index(self, member_idx, k=10, **kw):
        self._slow_down()
        return super().recommend_index(member_idx, k, **kw)

    def recommend_one(self, member_idx, k=10):
        self._slow_down()
        return super().recommend_one(member_idx, k)


def _router(heavy_delay=0.0, heavy_fail=False, max_batch=8, max_wait_ms=1.0):
    router = Router(MostPopular().fit(DATA), default_budget_ms=200)
    heavy = Slow(l2=5.0).fit(DATA)
    heavy.delay, heavy.fail = heavy_delay, heavy_fail
    batcher = MicroBatcher(lambda: (router.tiers["heavy"].model, router.tiers["heavy"].version), max_batch=max_batch, max_wait_ms=max_wait_ms,
                           on_batch=lambda n, ms: router.tiers["heavy"].latency.observe(ms))  # fmt: skip
    router.set_tier("heavy", heavy, "ease:1", batcher=batcher)
    router.set_tier("light", ItemKNN(neighbors=10).fit(DATA), "knn:1")
    return router


def test_heavy_when_the_budget_allows_and_light_when_it_does_not():
    router = _router()
    answer = asyncio.run(router.recommend(1000, 5, budget_ms=500))
    assert (answer.model_used, answer.fallback_reason, answer.switched) == ("heavy", None, False)
    router.tiers["heavy"].latency.observe(80.0)  # heavy now estimated at ~80 ms
    router.tiers["light"].latency.value = 0.1
    answer = asyncio.run(router.recommend(1000, 5, budget_ms=20))
    assert (answer.model_used, answer.fallback_reason, answer.switched) == ("light", None, True)
    assert len(answer.title_ids) == 5


def test_explicit_modes_and_bad_mode():
    router = _router()
    assert asyncio.run(router.recommend(1000, 3, mode="light")).model_used == "light"
    assert asyncio.run(router.recommend(1000, 3, mode="heavy")).model_used == "heavy"
    with pytest.raises(ConfigError, match="model must be one of"):
        asyncio.run(router.recommend(1000, 3, mode="fastest"))


def test_error_falls_back_to_light():
    answer = asyncio.run(_router(heavy_fail=True).recommend(1000, 5))
    assert (answer.model_used, answer.fallback_reason) == ("light", "error")


def test_missed_deadline_falls_back_within_budget():
    router = _router(heavy_delay=0.3)
    answer = asyncio.run(router.recommend(1000, 5, mode="heavy", budget_ms=60))
    assert (answer.model_used, answer.fallback_reason) == ("light", "deadline")
    assert answer.latency_ms < 100


def test_a_late_tier_is_given_up_with_the_budgets_headroom_left():
    # The lighter tier takes microseconds, but the timer that gives up on heavy may fire late on a busy
    # loop: heavy is given up at 80% of the budget (headroom 0.8), not a light answer's time before the end.
    router = _router(heavy_delay=1.2)
    answer = asyncio.run(router.recommend(1000, 5, mode="heavy", budget_ms=1000))
    assert (answer.model_used, answer.fallback_reason) == ("light", "deadline")
    assert 790 <= answer.latency_ms < 950  # given up at 800 ms (slack for a late timer on a busy test machine)


def test_unknown_member_gets_popular_cold_start():
    answer = asyncio.run(_router().recommend(999_999, 4))
    assert (answer.model_used, answer.fallback_reason) == ("popular", "unknown_member")
    pop = MostPopular().fit(DATA).recommend([1000], k=4, exclude_seen=False).title_ids[0]
    np.testing.assert_array_equal(answer.title_ids, pop)


def test_popular_answer_excludes_seen_titles_of_known_members():
    router = Router(MostPopular().fit(DATA))
    answer = asyncio.run(router.recommend(1000, 5))
    assert answer.fallback_reason == "no_model"
    seen = set(DATA.titles.ids[DATA.matrix()[0].indices].tolist())
    assert not seen & set(answer.title_ids.tolist())


def test_batches_form_under_load_and_match_unbatched_results():
    router = _router(max_batch=8, max_wait_ms=20.0)
    sizes = []
    batcher = router.tiers["heavy"].batcher
    batcher.on_batch = lambda n, ms: sizes.append(n)

    async def many():
        return await asyncio.gather(*(router.recommend(1000 + u, 5, mode="heavy", budget_ms=5000) for u in range(20)))

    answers = asyncio.run(many())
    assert sum(sizes) == 20 and max(sizes) == 8 and len(sizes) == 3
    direct = router.tiers["heavy"].model.recommend(np.arange(1000, 1020), 5).title_ids
    np.testing.assert_array_equal(np.stack([a.title_ids for a in answers]), direct)


def test_hot_swap_under_load_fails_no_request():
    router = _router(max_batch=4, max_wait_ms=2.0)
    replacement = Slow(l2=50.0).fit(DATA)

    async def run():
        tasks = [asyncio.create_task(router.recommend(1000 + u % 60, 5, mode="heavy", budget_ms=5000)) for u in range(200)]
        await asyncio.sleep(0.001)
        router.set_tier("heavy", replacement, "ease:2")
        return await asyncio.gather(*tasks)

    answers = asyncio.run(run())
    assert all(a.model_used == "heavy" and a.fallback_reason is None for a in answers)
    assert {a.model_version for a in answers} <= {"ease:1", "ease:2"}
    assert answers[-1].model_version == "ease:2"


def test_a_tier_judged_too_slow_is_probed_again_once_its_estimate_is_stale():
    router = _router()
    heavy = router.tiers["heavy"]
    heavy.latency.stale_after_s = 0.05
    heavy.latency.observe(500.0)  # a past overload
    router.tiers["light"].latency.value = 0.1
    assert asyncio.run(router.recommend(1000, 5, budget_ms=100)).model_used == "light"
    time.sleep(0.1)
    probe = asyncio.run(router.recommend(1000, 5, budget_ms=100))
    assert (probe.model_used, probe.fallback_reason) == ("heavy", None)
    assert heavy.latency.value < 100  # the fresh measurement replaced the stale one
    assert asyncio.run(router.recommend(1000, 5, budget_ms=100)).model_used == "heavy"


def test_only_one_probe_per_staleness_period():
    router = _router()
    heavy = router.tiers["heavy"]
    heavy.latency.stale_after_s = 0.05
    heavy.latency.observe(500.0)
    time.sleep(0.1)
    now = time.monotonic()
    assert heavy.wants_probe(now) and not heavy.wants_probe(now + 0.01)


def test_a_lagging_event_loop_sends_auto_requests_to_the_lighter_tier():
    router = _router()
    router.tiers["heavy"].latency.observe(5.0)
    router.tiers["light"].latency.value = 0.1
    assert router.plan("auto", 50.0) == (["heavy", "light"], False)
    router.loop_lag.value = 38.0  # the loop runs timers 38 ms late: heavy's 5 ms + wait no longer fit
    assert router.plan("auto", 50.0) == (["light"], True)


def test_a_batched_tier_is_tried_only_while_the_loop_keeps_time():
    # Heavy fits the budget easily, but the timer that would give up on it fires ~6 ms late: with 10 ms of
    # headroom (20% of 50 ms), a lag over 5 ms could land the fallback past the deadline.
    router = _router()
    router.tiers["heavy"].latency.observe(5.0)
    router.tiers["light"].latency.value = 0.1
    router.loop_lag.value = 4.0
    assert router.plan("auto", 50.0) == (["heavy", "light"], False)
    router.loop_lag.value = 6.0
    assert router.plan("auto", 50.0) == (["light"], True)
    assert router.plan("auto", 200.0) == (["heavy", "light"], False)  # 40 ms of headroom absorbs it


def test_loop_watch_measures_lag():
    router = _router()

    async def main():
        task = asyncio.create_task(router.watch_loop(interval_s=0.002))
        await asyncio.sleep(0.02)
        time.sleep(0.05)  # block the loop: the watch's timer fires ~50 ms late
        for _ in range(5):  # a few loop turns: the overdue timer fires, then the watch task records it
            await asyncio.sleep(0)
        lag = router.loop_lag.value
        task.cancel()
        return lag

    # One ~50 ms observation moves the smoothed lag (alpha 0.3) by ~15 ms.
    assert asyncio.run(main()) > 5.0


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread niceness is a Linux feature")
def test_batch_thread_yields_the_core_to_the_event_loop():
    import threading

    batcher = MicroBatcher(lambda: (None, ""), priority="low", nice=5)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    worker = batcher._executor.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    assert worker == min(base + 5, 19)
    assert MicroBatcher(lambda: (None, ""))._executor.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result() == min(base + 10, 19)
    idle = MicroBatcher(lambda: (None, ""), priority="idle")  # only spare CPU
    assert idle._executor.submit(lambda: os.sched_getscheduler(threading.get_native_id())).result() == os.SCHED_IDLE
    normal = MicroBatcher(lambda: (None, ""), priority="normal")
    assert normal._executor.submit(lambda: os.sched_getscheduler(threading.get_native_id())).result() == os.SCHED_OTHER
    with pytest.raises(ConfigError, match="priority must be one of idle, low, normal"):
        MicroBatcher(lambda: (None, ""), priority="high")


def test_requests_arriving_during_a_batch_join_the_next_one_whole():
    """Continuous batching: while the worker computes, requests accumulate (even past their
    max_wait_ms) and the next batch takes them all the moment the worker is free."""
    # 250 ms of compute leaves room for the arrivals (~40 ms) on a machine busy with other work
    router = _router(heavy_delay=0.25, max_batch=32, max_wait_ms=1.0)
    sizes = []
    router.tiers["heavy"].batcher.on_batch = lambda n, ms: sizes.append(n)

    async def run():
        first = asyncio.create_task(router.recommend(1000, 5, mode="heavy", budget_ms=5000))
        await asyncio.sleep(0.01)  # the first batch (of one) is computing for 250 ms
        rest = []
        for u in range(10):  # arrivals 3 ms apart: each would have had its own batch before
            rest.append(asyncio.create_task(router.recommend(1001 + u, 5, mode="heavy", budget_ms=5000)))
            await asyncio.sleep(0.003)
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(run())
    assert all(a.model_used == "heavy" for a in answers)
    assert sizes == [1, 10]


def test_string_member_ids_route_through_every_tier():
    """A catalog named by text: heavy (batched), light and the cold start all answer with text title ids."""
    named = block_interactions(string_ids=True)
    router = Router(MostPopular().fit(named), default_budget_ms=200)
    heavy = Slow(l2=5.0).fit(named)
    batcher = MicroBatcher(lambda: (heavy, "ease:1"), max_batch=8, max_wait_ms=1.0)
    router.set_tier("heavy", heavy, "ease:1", batcher=batcher)
    router.set_tier("light", ItemKNN(neighbors=10).fit(named), "knn:1")
    by_int = asyncio.run(_router().recommend(1000, 5, mode="heavy"))
    answer = asyncio.run(router.recommend("m1000", 5, mode="heavy"))
    assert (answer.model_used, answer.fallback_reason) == ("heavy", None)
    assert answer.title_ids.tolist() == [f"t{t}" for t in by_int.title_ids.tolist()]
    assert asyncio.run(router.recommend("m1001", 3, mode="light")).model_used == "light"
    cold = asyncio.run(router.recommend("someone-new", 3))
    assert cold.fallback_reason == "unknown_member" and all(t.startswith("t") for t in cold.title_ids.tolist())
    # An integer-id catalog finds members sent as JSON strings too.
    assert asyncio.run(_router().recommend("1000", 5, mode="heavy")).title_ids.tolist() == by_int.title_ids.tolist()


def test_a_hot_swap_replaces_model_and_version_in_one_reference():
    router = _router()
    heavy = router.tiers["heavy"]
    new = EASE(l2=50.0).fit(DATA)
    router.set_tier("heavy", new, "ease:2")
    assert heavy.serving == (new, "ease:2") and (heavy.model, heavy.version) == (new, "ease:2")
    assert asyncio.run(router.recommend(1000, 5, mode="heavy")).model_version == "ease:2"
