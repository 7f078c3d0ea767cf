"""The HTTP service: hot path, validation errors, health, metrics, admin with token, hot swap."""

import asyncio
import json
import logging
import re

import msgspec
import numpy as np
import pytest
from fastapi.testclient import TestClient

from marquee.rank import EASE, ItemKNN, MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Answer, Router
from marquee.serve.schemas import RecommendationRequest, RecommendationResponse, RequestDoc, ResponseDoc
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
        ({"member_id": 1.5}, 422, "Expected `int | str`, got `float` - at `$.member_id`"),
        ({"member_id": 99999999999999999999999}, 422, "Expected `int` <= 9223372036854775807 - at `$.member_id`"),
        ({"member_id": -1}, 422, "Expected `int` >= 0 - at `$.member_id`"),
        ({"member_id": ""}, 422, "Expected `str` of length >= 1 - at `$.member_id`"),
        ({"member_id": "m" * 257}, 422, "Expected `str` of length <= 256 - at `$.member_id`"),
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
    assert r.json() == {"alias": "heavy@production", "from_version": 1, "to_version": 2, "reloaded": ["heavy"], "changed": True}
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:2"
    r = client.post("/admin/models/rollback", json={"name": "heavy"}, headers=auth)
    assert r.json()["to_version"] == 1
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:1"
    history = service.registry.history("heavy", "production")
    assert [(m.to_version, m.kind) for m in history] == [(1, "set"), (2, "set"), (1, "rollback")]


def test_promoting_the_version_in_place_records_and_reloads_nothing(client, service):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = service.registry.history("heavy", "production")
    r = client.post("/admin/models/promote", json={"name": "heavy", "version": 1, "alias": "production"}, headers=auth)
    assert r.status_code == 200 and r.json() == {"alias": "heavy@production", "from_version": 1, "to_version": 1, "reloaded": [], "changed": False}
    assert service.registry.history("heavy", "production") == before
    r = client.post("/admin/models/rollback", json={"name": "heavy"}, headers=auth)
    assert r.status_code == 409 and r.json()["error"] == "nothing_to_roll_back"


def test_following_the_registry_reloads_tiers_whose_alias_moved_elsewhere(client, service, caplog):
    # Another replica's admin API (or `marquee models promote` without --url) moved the alias.
    service.registry.set_alias("heavy", "production", 2)
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:1"
    assert service.follow_registry() == ["heavy"]
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:2"
    assert service.follow_registry() == []  # nothing moved since
    # A version that fails verification is logged and not served; the tier keeps what it had.
    service.registry.set_alias("heavy", "production", 1)
    mv = service.registry.get("heavy", 1)
    (mv.path / "arrays.safetensors").write_bytes(b"broken")  # damaged after the move
    with caplog.at_level(logging.WARNING, logger="marquee.serve"):
        assert service.follow_registry() == []
    assert "could not be loaded" in caplog.text
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:2"


def test_corrupt_version_is_refused_and_serving_continues(client, service):
    mv = service.registry.get("heavy", 2)
    blob = bytearray((mv.path / "arrays.safetensors").read_bytes())
    blob[-1] ^= 1
    (mv.path / "arrays.safetensors").write_bytes(bytes(blob))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = client.post("/admin/models/promote", json={"name": "heavy", "version": 2}, headers=auth)
    assert r.status_code == 409 and r.json()["error"] == "artifact_refused" and "fails its checksum" in r.json()["detail"]
    assert service.registry.alias("heavy", "production") == 1
    assert client.post("/v1/recommendations", json={"member_id": 1000}).json()["model_version"] == "heavy:1"


def test_admin_disabled_without_token(service):
    service.admin_token = None
    with TestClient(create_app(service)) as c:
        r = c.get("/admin/models", headers={"Authorization": "Bearer x"})
    assert r.status_code == 403 and r.json()["error"] == "admin_disabled" and "MARQUEE_ADMIN_TOKEN" in r.json()["detail"]


def _comparable(schema, defs):
    """A JSON schema without what only documents it (titles, descriptions), refs resolved, enums as sets."""
    if isinstance(schema, list):
        return [_comparable(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return _comparable(defs[schema["$ref"].rsplit("/", 1)[1]], defs)
    out = {k: _comparable(v, defs) for k, v in schema.items() if k not in ("title", "description", "$defs")}
    if "enum" in out:
        out["enum"] = sorted(out["enum"])
        out.pop("type", None)
    if out.get("type") == "object":
        out["required"] = sorted(out.get("required", []))
        out.setdefault("additionalProperties", True)
    return out


@pytest.mark.parametrize(("wire", "doc"), [(RecommendationRequest, RequestDoc), (RecommendationResponse, ResponseDoc)])
def test_wire_schema_and_docs_schema_agree(wire, doc):
    """What the hot path accepts and answers (msgspec) is what /docs says (pydantic): same fields, types and bounds."""
    assert set(wire.__struct_fields__) == set(doc.model_fields)
    ours = msgspec.json.schema(wire)
    theirs = doc.model_json_schema()
    assert _comparable(ours, ours["$defs"]) == _comparable(theirs, theirs.get("$defs", {}))


def test_member_ids_are_integers_or_strings_passed_on_and_echoed_as_given(client, service, monkeypatch):
    seen = []
    recommend = service.router.recommend

    async def spy(member_id, k, **kw):
        seen.append(member_id)
        return await recommend(member_id, k, **kw)

    monkeypatch.setattr(service.router, "recommend", spy)
    for member in ("m-42", "1000", 1000, 2**63 - 1):
        r = client.post("/v1/recommendations", json={"member_id": member, "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["member_id"] == member and type(body["member_id"]) is type(member) and len(body["items"]) == 3
    assert seen == ["m-42", "1000", 1000, 2**63 - 1] and [type(m) for m in seen] == [str, str, int, int]
    unknown = client.post("/v1/recommendations", json={"member_id": "m-42", "k": 3}).json()
    assert unknown["model_used"] == "popular" and unknown["fallback_reason"] == "unknown_member"


def test_string_title_ids_go_out_as_strings(client, service, monkeypatch):
    async def recommend(member_id, k, **kw):
        answer = Answer(member_id, np.array(["t-1", "t-2"], dtype=object), np.array([0.5, 0.25]), "light", "light:1", None, False, 0.1)
        return answer, answer.title_ids, answer.scores, None

    monkeypatch.setattr(service, "recommend", recommend)
    body = client.post("/v1/recommendations", json={"member_id": "m-1", "k": 2}).json()
    assert body["items"] == [{"title_id": "t-1", "score": 0.5}, {"title_id": "t-2", "score": 0.25}]


def test_head_on_health_and_readiness(client, service):
    assert client.head("/healthz").status_code == 200 and client.head("/readyz").status_code == 200
    assert client.head("/metrics").status_code == 200
    service.router.tiers.clear()
    assert client.head("/readyz").status_code == 503


# ---- one error shape, from every layer ----------------------------------------------------
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code", "detail"),
    [
        ("GET", "/nope", {}, 404, "not_found", "no endpoint at /nope; /docs lists them"),
        ("GET", "/v1/recommendations", {}, 405, "method_not_allowed", "/v1/recommendations does not answer GET; it answers POST"),
        ("POST", "/v1/recommendations", {"json": {"k": 3}}, 422, "invalid_request", "Object missing required field `member_id`"),
        ("POST", "/v1/recommendations", {"content": b"{nope"}, 400, "malformed_json", "the body is not valid JSON"),
        ("GET", "/v1/assignments/-1", {}, 422, "invalid_request", "at path parameter `member_id`"),
        ("GET", "/admin/models", {}, 401, "unauthorized", "Authorization: Bearer <MARQUEE_ADMIN_TOKEN>"),
        ("POST", "/admin/models/load", {"json": {"tier": "medium", "ref": "heavy"}, "headers": AUTH}, 422, "invalid_request", "at `$.tier`"),
        ("POST", "/admin/models/load", {"json": {"tier": "light"}, "headers": AUTH}, 422, "invalid_request", "Field required - at `$.ref`"),
        ("POST", "/admin/models/load", {"content": b"{nope", "headers": {**AUTH, "content-type": "application/json"}}, 400, "malformed_json", "the body is not valid JSON"),
        ("POST", "/admin/models/load", {"json": {"tier": "light", "ref": "heavy:9"}, "headers": AUTH}, 404, "unknown_model", "no version 9 of model 'heavy'"),
        ("POST", "/admin/models/load", {"json": {"tier": "light", "ref": "heavy:x"}, "headers": AUTH}, 422, "invalid_reference", "must be a number"),
        ("POST", "/admin/models/promote", {"json": {"name": "heavy", "version": 7}, "headers": AUTH}, 404, "unknown_model", "no version 7"),
        ("POST", "/admin/models/promote", {"json": {"name": "heavy", "version": 0}, "headers": AUTH}, 422, "invalid_request", "at `$.version`"),
        ("POST", "/admin/models/rollback", {"json": {"name": "light"}, "headers": AUTH}, 409, "nothing_to_roll_back", "no earlier version"),
        ("POST", "/admin/models/rollback", {"json": {"name": "nope"}, "headers": AUTH}, 404, "unknown_model", "no model named 'nope'"),
    ],
)
def test_every_refusal_has_one_shape_a_snake_case_code_and_a_log_line(client, caplog, method, path, kwargs, status, code, detail):
    with caplog.at_level(logging.INFO, logger="marquee.serve"):
        r = client.request(method, path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == code and detail in body["detail"]
    assert not body["detail"].startswith(code)  # the detail doesn't repeat the code
    [rec] = [rec for rec in caplog.records if rec.getMessage() == "request refused"]
    assert (rec.status, rec.method, rec.path, rec.error) == (status, method, path, code)
    assert rec.levelno == (logging.WARNING if status == 401 else logging.INFO)


def test_an_invalid_tier_loads_nothing(client, service):
    r = client.post("/admin/models/load", json={"tier": "medium", "ref": "heavy:2"}, headers=AUTH)
    assert r.status_code == 422 and set(service.served) == {"heavy", "light"} and service.served["heavy"].version.ref == "heavy:1"
    from marquee.serve.service import Invalid

    with pytest.raises(Invalid, match="unknown_tier: tier must be one of heavy, light, context; got 'medium'"):
        service.load("medium", "heavy:2")


def test_docs_work_offline(client):
    """/docs and /redoc reference only the service's own URLs (no CDN), and each answers with its asset."""
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html, page
        urls = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert len(urls) >= 3 and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000, url
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"] and b"SwaggerUIBundle" in js.content
    assert client.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert "/admin/models/load" in client.get("/openapi.json").json()["paths"]


# ---- bodies: the admin token first, then a cap on every body, read as it streams ------------
STREAM = [b"x" * 16_384] * 6_400  # 100 MiB, 16 KiB at a time (one chunk, many times: the test holds 16 KiB)


def drive(app, method, path, chunks, headers=()):
    """Call the ASGI app directly with a body streamed in ``chunks``: (status, JSON body, chunks it read)."""
    read = 0
    sent = []

    async def receive():
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http", "path": path,
        "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), read


RAW_AUTH = (b"authorization", f"Bearer {TOKEN}".encode())


@pytest.mark.parametrize("path", ["/v1/recommendations", "/v1/artwork", "/v1/feedback", "/admin/models/load", "/v1/assignments/1", "/nope"])
def test_every_body_is_capped_while_it_streams_in(service, path):
    """A 100 MiB upload is refused once it passes the cap (64 KiB: the 5th chunk of 16 KiB), whichever endpoint it is for."""
    status, body, read = drive(create_app(service), "POST", path, STREAM, [RAW_AUTH])
    assert (status, body["error"], read) == (413, "body_too_large", 5)
    # A declared length over the cap is refused before anything is read.
    status, body, read = drive(create_app(service), "POST", path, STREAM, [RAW_AUTH, (b"content-length", str(100 << 20).encode())])
    assert (status, read) == (413, 0)


def test_admin_refuses_before_reading_any_body(service):
    app = create_app(service)
    for headers in ([], [(b"authorization", b"Bearer wrong")]):
        status, body, read = drive(app, "POST", "/admin/models/load", STREAM, headers)
        assert (status, body["error"], read) == (401, "unauthorized", 0)
    service.admin_token = None
    status, body, read = drive(app, "POST", "/admin/models/load", STREAM, [RAW_AUTH])
    assert (status, body["error"], read) == (403, "admin_disabled", 0)


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
