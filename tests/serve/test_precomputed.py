"""The precomputed tier: the table on disk, the router's fallback to it, and shedding by priority."""

import asyncio
import json
import time

import numpy as np
import pyarrow as pa
import pytest

from marquee.errors import ArtifactError
from marquee.rank import EASE, MostPopular
from marquee.serve.precomputed import MANIFEST, TABLE, Precomputed, write_precomputed
from marquee.serve.router import Router, Shed
from marquee.testing import block_interactions
from tests.serve.test_router import Slow, _router

DATA = block_interactions()


def table_for(model, k=5):
    idx, scores = model.recommend_index(np.arange(len(model.members_)), k)
    n = idx.shape[0]
    return pa.table({"member_id": np.repeat(model.members_.ids, k), "rank": np.tile(np.arange(1, k + 1, dtype=np.int16), n),
                     "title_id": np.asarray(model.titles_.ids)[idx.ravel()], "score": scores.ravel()})  # fmt: skip


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    model = EASE(l2=5.0).fit(DATA)
    path = write_precomputed(tmp_path_factory.mktemp("pre") / "ease", table_for(model), {"model": "ease@production", "model_version": "ease:1",
                             "created_at": "2026-12-06T10:00:00+00:00", "k": 5})  # fmt: skip
    return path, model


def test_round_trip_gives_each_members_row_and_its_age(stored):
    path, model = stored
    pre = Precomputed.load(path)
    assert len(pre) == len(model.members_) and pre.version == "precomputed ease:1"
    member = model.members_.ids[3].item()
    ids, scores = pre.row(member, 3)
    want_idx, want_scores = model.recommend_one(3, 3)
    assert ids.tolist() == np.asarray(model.titles_.ids)[want_idx].tolist() and np.allclose(scores, want_scores)
    assert pre.row(10**9, 3) is None
    assert pre.staleness_s(now=pre.created + 60) == pytest.approx(60)


def test_an_altered_or_foreign_table_is_refused(stored, tmp_path):
    path, model = stored
    with pytest.raises(ArtifactError, match="no precomputed table here"):
        Precomputed.load(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / MANIFEST).write_text((path / MANIFEST).read_text())
    (bad / TABLE).write_bytes((path / TABLE).read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ArtifactError, match="altered"):
        Precomputed.load(bad)
    (bad / MANIFEST).write_text(json.dumps({"kind": "something"}))
    with pytest.raises(ArtifactError, match="not a precomputed table"):
        Precomputed.load(bad)
    shuffled = table_for(model).take(pa.array(np.random.default_rng(0).permutation(len(model.members_) * 5)))
    with pytest.raises(ArtifactError, match="contiguous|ranks"):
        Precomputed.load(write_precomputed(tmp_path / "shuffled", shuffled, {"model_version": "x"}))


def test_the_router_falls_back_to_precomputed_before_popularity(stored):
    path, model = stored
    router = Router(MostPopular().fit(DATA))
    light = Slow(l2=5.0).fit(DATA)
    light.fail = True  # the online tier fails
    router.set_tier("light", light, "ease:2")
    router.precomputed = Precomputed.load(path)
    member = model.members_.ids[0].item()
    answer = asyncio.run(router.recommend(member, 4))
    assert answer.model_used == "precomputed" and answer.fallback_reason == "error" and answer.staleness_s > 0
    assert len(answer.title_ids) == 4
    assert asyncio.run(router.recommend(10**9, 4)).model_used == "popular"  # no row: popularity


def test_popularity_only_service_answers_from_the_table(stored):
    path, model = stored
    router = Router(MostPopular().fit(DATA))
    router.precomputed = Precomputed.load(path)
    answer = asyncio.run(router.recommend(model.members_.ids[1].item(), 3))
    assert (answer.model_used, answer.fallback_reason) == ("precomputed", "no_model")


def test_prefetch_is_shed_first_under_overload(stored):
    path, model = stored
    member = model.members_.ids[2].item()
    router = _router()
    router.tiers["heavy"].latency.observe(80.0)
    router.tiers["light"].latency.value = 0.1
    # Overloaded for a 20 ms budget: heavy does not fit. Critical moves down a tier; prefetch is shed.
    critical = asyncio.run(router.recommend(member, 5, budget_ms=20))
    assert (critical.model_used, critical.switched) == ("light", True)
    with pytest.raises(Shed):
        asyncio.run(router.recommend(member, 5, budget_ms=20, priority="prefetch"))
    router.precomputed = Precomputed.load(path)
    shed = asyncio.run(router.recommend(member, 5, budget_ms=20, priority="prefetch"))
    assert (shed.model_used, shed.fallback_reason) == ("precomputed", "shed")
    # Not overloaded: prefetch is served like any request.
    assert asyncio.run(router.recommend(member, 5, budget_ms=500, priority="prefetch")).model_used == "heavy"


def test_a_request_queued_past_its_deadline_is_answered_at_once(stored):
    path, model = stored
    router = _router(heavy_delay=0.2)
    router.precomputed = Precomputed.load(path)
    member = model.members_.ids[0].item()
    t0 = time.perf_counter()
    answer = asyncio.run(router.recommend(member, 5, budget_ms=50, arrived=time.perf_counter() - 0.06))
    assert (answer.model_used, answer.fallback_reason) == ("precomputed", "deadline")
    assert time.perf_counter() - t0 < 0.05  # no model was called
    with pytest.raises(Shed):
        asyncio.run(_router().recommend(member, 5, budget_ms=50, priority="prefetch", arrived=time.perf_counter() - 0.06))


def test_the_endpoint_sheds_prefetch_with_429_and_counts_it(stored, tmp_path):
    from starlette.testclient import TestClient

    from marquee.serve.app import create_app
    from marquee.serve.registry import ModelRegistry
    from marquee.serve.service import Service

    path, model = stored
    router = _router()
    router.tiers["heavy"].latency.observe(80.0)
    router.tiers["light"].latency.value = 0.1
    service = Service(router, ModelRegistry(tmp_path / "registry"))
    member = model.members_.ids[0].item()
    with TestClient(create_app(service)) as client:
        body = {"member_id": member, "k": 3, "latency_budget_ms": 20}
        r = client.post("/v1/recommendations", json={**body, "priority": "prefetch"})
        assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.json()["error"] == "overloaded"
        ok = client.post("/v1/recommendations", json=body)
        assert ok.status_code == 200 and ok.json()["model_used"] == "light"
        service.load_precomputed(path)
        pre = client.post("/v1/recommendations", json={**body, "priority": "prefetch"}).json()
        assert pre["model_used"] == "precomputed" and pre["fallback_reason"] == "shed" and pre["staleness_s"] > 0
        assert client.post("/v1/recommendations", json={**body, "priority": "urgent"}).status_code == 422
        metrics = client.get("/metrics").text
        assert 'marquee_shed_total{priority="prefetch"} 1.0' in metrics
        assert 'marquee_degraded_total{model="light",priority="critical"} 1.0' in metrics


def test_critical_goes_to_the_table_when_no_online_tier_fits(stored):
    path, model = stored
    router = _router()
    router.tiers["heavy"].latency.observe(80.0)
    router.tiers["light"].latency.value = 30.0  # the lightest tier no longer fits a 20 ms budget either
    member = model.members_.ids[0].item()
    assert asyncio.run(router.recommend(member, 5, budget_ms=20)).model_used == "light"  # no table: it still tries
    router.precomputed = Precomputed.load(path)
    answer = asyncio.run(router.recommend(member, 5, budget_ms=20))
    assert (answer.model_used, answer.fallback_reason, answer.switched) == ("precomputed", "overload", True)


def test_after_a_missed_deadline_a_lighter_tier_that_no_longer_fits_gives_way_to_the_table(stored):
    path, model = stored
    router = _router(heavy_delay=0.3)
    router.tiers["heavy"].latency.value = 1.0  # judged fast: auto tries it, and it runs late
    router.tiers["light"].latency.value = 15.0  # what the light tier takes: more than is left when heavy gives up
    router.precomputed = Precomputed.load(path)
    member = model.members_.ids[0].item()
    answer = asyncio.run(router.recommend(member, 5, budget_ms=50))
    assert (answer.model_used, answer.fallback_reason) == ("precomputed", "deadline")
    assert answer.latency_ms < 50
    # The same without a table: the light tier answers (late rather than not at all).
    router.precomputed = None
    assert asyncio.run(router.recommend(member, 5, budget_ms=50)).model_used == "light"
