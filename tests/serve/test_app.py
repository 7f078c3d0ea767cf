"""The HTTP service: hot path, validation errors, health, metrics, admin with token, hot swap."""

import pytest
from fastapi.testclient import TestClient

from marquee.rank import EASE, ItemKNN, MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Router
from marquee.serve.schemas import RecommendationRequest, RequestDoc
from marquee.testing import block_interactions

DATA = block_interactions()
TOKEN = "s3cret"


@pytest.fixture
def service(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    registry.register("heavy", EASE(l2=5.0).fit(DATA))
    registry.register("heavy", EASE(l2=50.0).fit(DATA))
    registry.register("light", ItemKNN(neighbors=10).fit(DATA))
    registry.set_alias("heavy", "production", 1)
    registry.set_alias("light", "production", 1)
    svc = Service(Router(MostPopular().fit(DATA), default_budget_ms=1000), registry, admin_token=TOKEN, max_wait_ms=1.0)
    svc.load("heavy", "heavy@production")
    svc.load("light", "light@production")
    return svc


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def test_recommendations_hot_path(client):
    r = client.post("/v1/recommendations", json={"member_id": 1000, "k": 5, "context": {"device": "tv", "local_hour": 21}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_used"] == "heavy" and body["model_version"] == "heavy:1" and body["fallback_reason"] is None
    assert len(body["items"]) == 5 and body["latency_ms"] >= 0
    r = client.post("/v1/recommendations", json={"member_id": 1000, "k": 5, "model": "light"})
    assert r.json()["model_used"] == "light"


@pytest.mark.parametrize(
    ("body", "status", "pattern"),
    [
        ({"member_id": "x"}, 422, "Expected `int`, got `str` - at `$.member_id`"),
        ({"member_id": 1, "k": 0}, 422, "Expected `int` >= 1 - at `$.k`"),
        ({"member_id": 1, "k": 501}, 422, "Expected `int` <= 500 - at `$.k`"),
        ({"member_id": 1, "colour": "red"}, 422, "Object contains unknown field `colour`"),
        ({"member_id": 1, "model": "fastest"}, 422, "at `$.model`"),
        ({"member_id": 1, "context": {"local_hour": 24}}, 422, "at `$.context.local_hour`"),
    ],
)
def test_bad_input_is_a_json_error_that_names_the_field(client, body, status, pattern):
    r = client.post("/v1/recommendations", json=body)
    assert r.status_code == status
    assert r.json()["error"] == "invalid_request" and pattern in r.json()["detail"]


def test_malformed_and_oversized_bodies(client):
    r = client.post("/v1/recommendations", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = client.post("/v1/recommendations", content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_unknown_member_gets_cold_start(client):
    body = client.post("/v1/recommendations", json={"member_id": 424242, "k": 3}).json()
    assert body["model_used"] == "popular" and body["fallback_reason"] == "unknown_member" and len(body["items"]) == 3


def test_health_ready_metrics_docs(client):
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["tiers"] == {"heavy": "heavy:1", "light": "light:1"}
    client.post("/v1/recommendations", json={"member_id": 1000})
    text = client.get("/metrics").text
    assert 'marquee_requests_total{endpoint="/v1/recommendations",status="200"}' in text
    assert "marquee_request_latency_seconds_bucket" in text and "marquee_batch_size_bucket" in text
    assert 'marquee_model_info{tier="heavy",version="heavy:1"} 1.0' in text
    schema = client.get("/openapi.json").json()
    assert "/v1/recommendations" in schema["paths"]


def test_admin_needs_the_token(client):
    assert client.get("/admin/models").status_code == 401
    assert client.get("/admin/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/admin/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json()["heavy"]["version"] == "heavy:1"


def test_promote_and_rollback_hot_swap(client, service):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/admin/models/promote", json={"name": "heavy", "version": 2, "alias": "production", "reason": "better"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"alias": "heavy@production", "from_version": 1, "to_version": 2, "reloaded": ["heavy"]}
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:2"
    r = client.post("/admin/models/rollback", json={"name": "heavy"}, headers=auth)
    assert r.json()["to_version"] == 1
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:1"
    history = service.registry.history("heavy", "production")
    assert [(m.to_version, m.kind) for m in history] == [(1, "set"), (2, "set"), (1, "rollback")]


def test_corrupt_version_is_refused_and_serving_continues(client, service):
    mv = service.registry.get("heavy", 2)
    blob = bytearray((mv.path / "arrays.safetensors").read_bytes())
    blob[-1] ^= 1
    (mv.path / "arrays.safetensors").write_bytes(bytes(blob))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/admin/models/promote", json={"name": "heavy", "version": 2}, headers=auth)
    assert r.status_code == 409 and "fails its checksum" in r.json()["detail"]
    assert service.registry.alias("heavy", "production") == 1
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:1"


def test_admin_disabled_without_token(service):
    service.admin_token = None
    with TestClient(create_app(service)) as c:
        r = c.get("/admin/models", headers={"Authorization": "Bearer x"})
    assert r.status_code == 403 and "MARQUEE_ADMIN_TOKEN" in r.json()["detail"]


def test_wire_schema_and_docs_schema_agree():
    fields = set(RecommendationRequest.__struct_fields__)
    assert fields == set(RequestDoc.model_fields)


ALLOCATION = {
    "layers": [{"name": "home", "experiments": [{"name": "row-order", "variants": [{"name": "control"}, {"name": "new"}]}]}],
}


def test_assignments_are_deterministic_and_logged_as_exposures(service, tmp_path):
    from marquee.experiment import Allocator, ParquetSink

    service.allocator = Allocator.from_dict(ALLOCATION)
    service.exposures = ParquetSink(tmp_path / "exposures")
    with TestClient(create_app(service)) as client:
        r = client.get("/v1/assignments/42")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["member_id"] == 42 and body["holdouts"] == []
        [a] = body["assignments"]
        assert a["experiment"] == "row-order" and a["layer"] == "home"
        assert a["variant"] == service.allocator.variants([42], "row-order")[0]  # same answer as the Python API
        assert client.get("/v1/assignments/42").json() == body
        assert client.get("/v1/assignments/43", params={"expose": "false"}).status_code == 200
        r = client.get("/v1/assignments/-1")
        assert r.status_code == 422 and "member_id" in r.json()["detail"]
    # Leaving the client shuts the app down, which flushes the buffered exposures to Parquet.
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "exposures")
    assert table.column("member_id").to_pylist() == [42, 42]  # 43 only looked, so it was not exposed
    assert set(table.column("variant").to_pylist()) == {a["variant"]}


def test_assignments_without_experiments_say_how_to_configure_them(client):
    r = client.get("/v1/assignments/42")
    assert r.status_code == 404 and r.json()["error"] == "no_experiments"
    assert "start the service with --experiments FILE" in r.json()["detail"]


def test_max_batch_zero_serves_the_heavy_model_inline(tmp_path):
    registry = ModelRegistry(tmp_path / "reg")
    registry.register("heavy", EASE(l2=5.0).fit(DATA))
    svc = Service(Router(MostPopular().fit(DATA), default_budget_ms=1000), registry, max_batch=0)
    svc.load("heavy", "heavy")
    assert svc.router.tiers["heavy"].batcher is None
    with TestClient(create_app(svc)) as client:
        r = client.post("/v1/recommendations", json={"member_id": 1000, "k": 3, "model": "heavy"})
    assert r.status_code == 200 and r.json()["model_used"] == "heavy"


def test_context_stage_reranks_only_requests_that_state_their_context(service, tmp_path):
    """A stage whose lift strongly favours one title on TV in the evening: that title leads the
    list for such requests (it was among the stage's candidates, not the plain top 5); every
    other request is served exactly as before."""
    import numpy as np

    from marquee.rank import ContextRerankerConfig, ContextStage
    from marquee.rank.context import context_cells

    with TestClient(create_app(service)) as c:
        plain = c.post("/v1/recommendations", json={"member_id": 1000, "k": 5, "model": "heavy"}).json()
        longer = c.post("/v1/recommendations", json={"member_id": 1000, "k": 20, "model": "heavy"}).json()
    favoured = longer["items"][12]["title_id"]
    ids = DATA.catalog.index.ids
    lift = np.zeros((16, ids.size), np.float32)
    (cell,) = context_cells(np.array(["tv"]), np.array([21]))
    lift[cell, int(np.flatnonzero(ids == favoured)[0])] = 50.0
    service.registry.register("context", ContextStage(ids, lift, 1.0, ContextRerankerConfig(candidates=20)))
    assert service.load_context("context").ref == "context:1"
    with TestClient(create_app(service)) as c:
        r = c.post("/v1/recommendations", json={"member_id": 1000, "k": 5, "model": "heavy", "context": {"device": "tv", "local_hour": 21}})
        body = r.json()
        assert body["context_stage"] == "context:1" and len(body["items"]) == 5
        assert body["items"][0]["title_id"] == favoured and favoured not in [i["title_id"] for i in plain["items"]]
        for ctx in ({"device": "mobile", "local_hour": 21}, {"device": "tv"}, None):
            r = c.post("/v1/recommendations", json={"member_id": 1000, "k": 5, "model": "heavy", "context": ctx}).json()
            if ctx == {"device": "mobile", "local_hour": 21}:  # a known cell without lift: re-ranked, same titles first
                assert r["context_stage"] == "context:1"
            else:
                assert r["context_stage"] is None and r["items"] == plain["items"]
    with pytest.raises(Exception, match="not a context stage"):
        service.load_context("heavy@production")
    assert service.context[1].ref == "context:1"  # a refused artifact changed nothing

    # Versioned like a model: served through an alias, promotion and rollback swap it live.
    service.registry.register("context", ContextStage(ids, np.zeros_like(lift), 1.0, ContextRerankerConfig(candidates=20)))
    service.registry.set_alias("context", "production", 1)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(create_app(service)) as c:
        assert c.post("/admin/models/load", json={"tier": "context", "ref": "context@production"}, headers=auth).json()["version"] == "context:1"
        assert c.get("/admin/models", headers=auth).json()["context"]["version"] == "context:1"
        moved = c.post("/admin/models/promote", json={"name": "context", "version": 2, "alias": "production"}, headers=auth).json()
        assert moved["reloaded"] == ["context"]
        tv = {"member_id": 1000, "k": 5, "model": "heavy", "context": {"device": "tv", "local_hour": 21}}
        body = c.post("/v1/recommendations", json=tv).json()
        assert body["context_stage"] == "context:2" and body["items"][0]["title_id"] != favoured  # no lift any more
        c.post("/admin/models/rollback", json={"name": "context", "alias": "production"}, headers=auth)
        body = c.post("/v1/recommendations", json=tv).json()
        assert body["context_stage"] == "context:1" and body["items"][0]["title_id"] == favoured
