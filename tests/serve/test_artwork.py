"""Artwork in the service: decisions and feedback over HTTP, durably logged before the answer, judged by OPE."""

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import msgspec
import numpy as np
import pytest
from fastapi.testclient import TestClient

from marquee.bandit import SQLiteDecisionLog
from marquee.bandit.artwork import CandidateEpsilonGreedy, CandidateLinearTS, context_features
from marquee.data.artwork import generate_variants
from marquee.data.artwork_log import ArtworkLog
from marquee.errors import DataError
from marquee.ope import SNIPS
from marquee.rank import MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.artwork import Artwork, build_artwork, evaluate_artwork
from marquee.serve.router import Router
from marquee.sim import ArtworkMembers
from marquee.testing import block_interactions

DATA = block_interactions()
VARIANTS = generate_variants(DATA.catalog)
TITLE = 5000


def make_service(tmp_path, artwork):
    return Service(Router(MostPopular().fit(DATA)), ModelRegistry(tmp_path / "reg"), artwork=artwork)


@pytest.fixture
def artwork(tmp_path):
    return Artwork(VARIANTS, CandidateEpsilonGreedy(epsilon=0.2), SQLiteDecisionLog(tmp_path / "art.sqlite"), seed=0)


@pytest.fixture
def client(tmp_path, artwork):
    with TestClient(create_app(make_service(tmp_path, artwork))) as c:
        yield c


def test_decision_is_durable_before_the_answer_and_feedback_updates_the_policy(client, artwork, tmp_path):
    r = client.post("/v1/artwork", json={"member_id": 7, "title_id": TITLE, "context": {"device": "tv", "local_hour": 21}})
    assert r.status_code == 200, r.text
    body = r.json()
    found = VARIANTS.of(TITLE)
    assert body["variant_id"] in found.variant_ids.tolist() and body["n_variants"] == len(found)
    assert body["policy"] == "epsilon_greedy" and set(body["attributes"]) == {"palette", "subject", "text"}
    # A fresh connection (another process's view) already sees the decision, with the propensity that was answered.
    record, reward = SQLiteDecisionLog(tmp_path / "art.sqlite").record(body["decision_id"])
    assert record["propensity"] == body["propensity"] and reward is None
    assert record["variant_ids"][record["action"]] == body["variant_id"]
    before = artwork.policy.n_updates_
    r = client.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 1})
    assert r.status_code == 200 and r.json()["duplicate"] is False
    assert artwork.policy.n_updates_ == before + 1
    assert SQLiteDecisionLog(tmp_path / "art.sqlite").record(body["decision_id"])[1] == 1.0
    # Idempotent retry: acknowledged, not learned twice; a different reward is a conflict.
    r = client.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 1.0})
    assert r.status_code == 200 and r.json()["duplicate"] is True and artwork.policy.n_updates_ == before + 1
    r = client.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 0})
    assert r.status_code == 409 and r.json()["error"] == "feedback_conflict" and "already has reward 1.0" in r.json()["detail"]
    metrics = client.get("/metrics").text
    assert 'marquee_artwork_decisions_total{policy="epsilon_greedy"} 1.0' in metrics
    assert 'marquee_artwork_feedback_total{outcome="logged",policy="epsilon_greedy"} 1.0' in metrics
    assert 'marquee_artwork_feedback_total{outcome="duplicate",policy="epsilon_greedy"} 1.0' in metrics
    assert 'marquee_artwork_reward_sum{policy="epsilon_greedy"} 1.0' in metrics


@pytest.mark.parametrize(
    ("path", "body", "pattern"),
    [
        ("/v1/artwork", {"member_id": 1.5, "title_id": TITLE}, "Expected `int | str`, got `float` - at `$.member_id`"),
        ("/v1/artwork", {"member_id": "", "title_id": TITLE}, "Expected `str` of length >= 1 - at `$.member_id`"),
        ("/v1/artwork", {"member_id": "m" * 257, "title_id": TITLE}, "Expected `str` of length <= 256 - at `$.member_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": ""}, "Expected `str` of length >= 1 - at `$.title_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": "t" * 257}, "Expected `str` of length <= 256 - at `$.title_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": [TITLE]}, "Expected `int | str`, got `array` - at `$.title_id`"),
        ("/v1/artwork", {"member_id": 1}, "Object missing required field `title_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": TITLE, "colour": "red"}, "Object contains unknown field `colour`"),
        ("/v1/artwork", {"member_id": -1, "title_id": TITLE}, "Expected `int` >= 0 - at `$.member_id`"),
        ("/v1/artwork", {"member_id": 99999999999999999999999, "title_id": TITLE}, "Expected `int` <= 9223372036854775807 - at `$.member_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": 2**63}, "Expected `int` <= 9223372036854775807 - at `$.title_id`"),
        ("/v1/artwork", {"member_id": 1, "title_id": TITLE, "context": {"local_hour": 24}}, "Expected `int` <= 23 - at `$.context.local_hour`"),
        ("/v1/artwork", {"member_id": 1, "title_id": TITLE, "context": {"device": "fridge"}}, "at `$.context.device`"),
        ("/v1/feedback", {"decision_id": "abc", "reward": "1"}, "Expected `float`, got `str` - at `$.reward`"),
        ("/v1/feedback", {"decision_id": "abc"}, "Object missing required field `reward`"),
        ("/v1/feedback", {"decision_id": "", "reward": 1}, "Expected `str` of length >= 1 - at `$.decision_id`"),
        ("/v1/feedback", {"decision_id": "abc", "reward": 1, "extra": 1}, "Object contains unknown field `extra`"),
    ],
)
def test_bad_input_is_a_422_that_names_the_field(client, artwork, path, body, pattern):
    r = client.post(path, json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert pattern in r.json()["detail"]
    assert len(artwork.sink) == 0  # refused at the edge: nothing reached the decision log


def test_unknown_ids_are_404s_that_say_so(client):
    r = client.post("/v1/feedback", json={"decision_id": "nope", "reward": 1})
    assert r.status_code == 404 and r.json()["error"] == "unknown_decision"
    assert "unknown decision id 'nope'; feedback must quote a decision_id the service returned" in r.json()["detail"]
    r = client.post("/v1/artwork", json={"member_id": 1, "title_id": 99})
    assert r.status_code == 404 and "title 99 has no artwork variants" in r.json()["detail"]


def test_malformed_body_and_docs_schema(client):
    r = client.post("/v1/feedback", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    # The wire structs (msgspec) and the documented models (pydantic) declare the same fields.
    from marquee.serve.artwork import ArtworkBody, ArtworkRequest, FeedbackBody, FeedbackRequest

    assert set(ArtworkRequest.__struct_fields__) == set(ArtworkBody.model_fields)
    assert set(FeedbackRequest.__struct_fields__) == set(FeedbackBody.model_fields)
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/artwork" in paths and "/v1/feedback" in paths


def test_without_artwork_the_endpoints_say_how_to_enable_it(tmp_path):
    with TestClient(create_app(make_service(tmp_path, None))) as c:
        r = c.post("/v1/artwork", json={"member_id": 1, "title_id": TITLE})
        assert r.status_code == 404 and r.json()["error"] == "no_artwork" and "marquee serve --artwork" in r.json()["detail"]


def test_the_service_refuses_with_typed_errors_the_http_layer_maps(tmp_path, artwork):
    """The service knows nothing of HTTP: it raises typed errors; errors.STATUS gives their status."""
    import asyncio

    from marquee.serve.errors import status_of
    from marquee.serve.service import Conflict, NotEnabled, NotFound

    with pytest.raises(NotEnabled, match="no_artwork: start the service with artwork enabled") as e:
        asyncio.run(make_service(tmp_path, None).choose_artwork(1, TITLE, None, None))
    assert e.value.code == "no_artwork" and status_of(e.value) == 404
    service = make_service(tmp_path, artwork)
    with pytest.raises(NotFound, match="unknown_title: title 99 has no artwork variants"):
        asyncio.run(service.choose_artwork(1, 99, None, None))

    async def decide_then_contradict() -> None:
        d = await service.choose_artwork(1, TITLE, None, None)
        await service.artwork_feedback(d["decision_id"], 1.0)
        await service.artwork_feedback(d["decision_id"], 0.0)

    with pytest.raises(Conflict, match="feedback_conflict: .*already has reward 1.0") as e:
        asyncio.run(decide_then_contradict())
    assert status_of(e.value) == 409


def test_shutdown_closes_the_decision_log(tmp_path, artwork):
    with TestClient(create_app(make_service(tmp_path, artwork))) as c:
        assert c.post("/v1/artwork", json={"member_id": 1, "title_id": TITLE}).status_code == 200
    with pytest.raises(DataError, match="is closed; open the log again to append"):
        artwork.sink.append_decisions([])
    assert len(SQLiteDecisionLog(tmp_path / "art.sqlite")) == 1


def test_a_restart_relearns_from_the_log(tmp_path, artwork):
    rng = np.random.default_rng(0)
    for _ in range(30):
        d = artwork.decide(1, TITLE, "tv", int(rng.integers(24)))
        artwork.feedback(d.decision_id, float(rng.random() < 0.5))
    restarted = Artwork(VARIANTS, CandidateEpsilonGreedy(epsilon=0.2), SQLiteDecisionLog(tmp_path / "art.sqlite"), seed=1)
    assert restarted.replay() == 30
    assert np.allclose(restarted.policy.A_inv_, artwork.policy.A_inv_) and np.allclose(restarted.policy.b_, artwork.policy.b_)


def _poison(path, reward):
    """Append rows no valid request can make: an id past int64, a propensity of 0, text that is not JSON."""
    import dataclasses
    import sqlite3

    good = dataclasses.asdict(Artwork(VARIANTS, CandidateEpsilonGreedy(), SQLiteDecisionLog(":memory:"), seed=0).decide(1, TITLE))
    bad = [{**good, "member_id": 99999999999999999999999}, {**good, "propensity": 0.0}, "{not json"]
    db = sqlite3.connect(path)
    with db:
        for i, record in enumerate(bad):
            text = record if isinstance(record, str) else msgspec.json.encode(record).decode()
            # "poison" is not hex: no real decision id (hex) can match the prefix ("bad" could, 1 in 4096).
            db.execute("INSERT INTO decisions (decision_id, kind, timestamp_us, record) VALUES (?, 'ArtworkDecision', 0, ?)", (f"poison{i}", text))
            db.execute("INSERT INTO rewards VALUES (?, ?, 0)", (f"poison{i}", reward))
        ids = [r[0] for r in db.execute("SELECT seq FROM decisions WHERE decision_id LIKE 'poison%' ORDER BY seq")]
    db.close()
    return ids


def test_a_start_on_a_poisoned_log_skips_and_reports_each_bad_row(tmp_path, artwork, caplog):
    """Rows that cannot be read neither crash the start nor reach the policy: each is logged with its row id."""
    for _ in range(5):
        d = artwork.decide(1, TITLE, "tv", 21)
        artwork.feedback(d.decision_id, 1.0)
    artwork.sink.close()
    bad = _poison(tmp_path / "art.sqlite", 1.0)
    with caplog.at_level(logging.WARNING, logger="marquee.serve.artwork"):
        restarted = build_artwork(DATA.catalog, tmp_path / "art.sqlite", policy=CandidateEpsilonGreedy(epsilon=0.2), seed=0)
    assert restarted.policy.n_updates_ == 5  # the good rows only
    skipped = [r for r in caplog.records if r.getMessage() == "artwork log row skipped"]
    assert [r.row_id for r in skipped] == bad and [r.field for r in skipped] == ["member_id", "propensity", "record"]
    assert "Expected `int` <= 9223372036854775807" in skipped[0].reason
    restarted.sink.close()


def test_feedback_conflict_is_logged_as_json(tmp_path, artwork, caplog):
    d = artwork.decide(1, TITLE)
    artwork.feedback(d.decision_id, 1.0)
    with TestClient(create_app(make_service(tmp_path, artwork))) as c, caplog.at_level(logging.WARNING, logger="marquee.serve"):
        assert c.post("/v1/feedback", json={"decision_id": d.decision_id, "reward": 0}).status_code == 409
    [rec] = [r for r in caplog.records if r.getMessage() == "artwork feedback refused"]
    assert rec.decision_id == d.decision_id and rec.reward == 0.0


def test_end_to_end_decisions_feedback_log_and_off_policy_evaluation(tmp_path):
    """Decisions -> feedback through HTTP -> the durable log -> OPE of candidates, with intervals
    that cover the truth the simulated members know."""
    artwork = Artwork(VARIANTS, CandidateLinearTS(scale=1.0, n_samples=500), SQLiteDecisionLog(tmp_path / "e2e.sqlite"), seed=0)
    members = ArtworkMembers(n_features=len(VARIANTS.feature_names), seed=3)
    rng = np.random.default_rng(3)
    titles = VARIANTS.title_ids
    truth_uniform = []
    with TestClient(create_app(make_service(tmp_path, artwork))) as c:
        for _ in range(400):
            member, title, ctx = 1000 + int(rng.integers(60)), int(rng.choice(titles)), members.draw_context(rng)
            body = c.post("/v1/artwork", json={"member_id": member, "title_id": title, "context": ctx}).json()
            found = VARIANTS.of(title)
            q = members.click_probability(member, context_features(ctx["device"], ctx["local_hour"]), found.features)
            truth_uniform.append(q.mean())
            reward = float(rng.random() < q[int(np.flatnonzero(found.variant_ids == body["variant_id"])[0])])
            assert c.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": reward}).status_code == 200
    log = ArtworkLog.from_records(SQLiteDecisionLog(tmp_path / "e2e.sqlite").records())
    assert len(log) == 400 and log.feedback.policy == "linear_ts"
    for c in evaluate_artwork(log, "uniform", seed=0):
        iv = c.estimate.interval
        assert iv.low < c.estimate.value < iv.high and iv.low < float(np.mean(truth_uniform)) < iv.high, (c.estimator, iv)
        assert c.current.estimate == pytest.approx(log.feedback.mean_reward)
        assert c.difference.low < c.difference.estimate < c.difference.high and c.verdict in {"beats", "worse", "inconclusive"}
    [c] = evaluate_artwork(log, CandidateEpsilonGreedy(epsilon=0.1), [SNIPS(n_bootstrap=200)])
    assert c.estimate.interval.high - c.estimate.interval.low > 0


SERVER = textwrap.dedent(
    """
    import sys, uvicorn
    from marquee.rank import MostPopular
    from marquee.serve import ModelRegistry
    from marquee.serve.app import Service, create_app
    from marquee.serve.artwork import build_artwork
    from marquee.serve.router import Router
    from marquee.testing import block_interactions
    data = block_interactions()
    art = build_artwork(data.catalog, sys.argv[1], policy="epsilon_greedy", seed=0)
    service = Service(Router(MostPopular().fit(data)), ModelRegistry(sys.argv[2]), artwork=art)
    uvicorn.run(create_app(service), host="127.0.0.1", port=int(sys.argv[3]), log_level="warning", lifespan="on")
    """
)


def test_kill_9_of_the_server_loses_no_acknowledged_decision_or_feedback(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path / "kill.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(path), str(tmp_path / "reg"), str(port)])
    url = f"http://127.0.0.1:{port}"
    acked_decisions: list[str] = []
    acked_feedback: dict[str, float] = {}
    stop = threading.Event()

    def drive(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            i = 0
            while not stop.is_set():
                try:
                    r = client.post("/v1/artwork", json={"member_id": worker, "title_id": TITLE + i % 40})
                    if r.status_code == 200:
                        acked_decisions.append(r.json()["decision_id"])
                        reward = float(i % 2)
                        if client.post("/v1/feedback", json={"decision_id": r.json()["decision_id"], "reward": reward}).status_code == 200:
                            acked_feedback[r.json()["decision_id"]] = reward
                except httpx.HTTPError:
                    pass  # the server is dying: nothing unacknowledged is promised
                i += 1

    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        threads = [threading.Thread(target=drive, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        while len(acked_feedback) < 60:
            assert time.monotonic() < deadline + 30, "too slow"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # with requests in flight
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        stop.set()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    logged = {r["decision_id"]: w for r, w in SQLiteDecisionLog(path).records()}
    assert set(acked_decisions) <= set(logged)
    assert all(logged[d] == w for d, w in acked_feedback.items())
    assert len(acked_feedback) >= 60


def test_logged_propensities_match_how_often_the_service_shows_each_variant():
    """Known answer through the component the endpoints call: a fixed member, title and context,
    many seeded decisions (no learning in between), each variant shown as often as its logged propensity says."""
    policy = CandidateEpsilonGreedy(epsilon=0.4)
    found = VARIANTS.of(TITLE)
    x = context_features("mobile", 8)
    for j in range(len(found)):  # teach it that the last variant is best
        for _ in range(5):
            policy.update(x, found.features[j], float(j == len(found) - 1))
    artwork = Artwork(VARIANTS, policy, SQLiteDecisionLog(":memory:"), seed=5, learn=False)
    n = 3000
    decisions = [artwork.decide(1, TITLE, "mobile", 8) for _ in range(n)]
    shown = np.bincount([d.action for d in decisions], minlength=len(found)) / n
    logged = {d.action: d.propensity for d in decisions}
    m = len(found)
    assert logged == {j: pytest.approx(0.6 + 0.4 / m if j == m - 1 else 0.4 / m) for j in range(m)}
    for j, p in logged.items():
        assert abs(shown[j] - p) < 4 * np.sqrt(p * (1 - p) / n), (j, shown[j], p)


# ---- text ids: a catalog that names its titles, members named by strings ------------------------
TEXT_CATALOG_IDS = [f"tt{i:07d}" for i in range(1, 31)]


@pytest.fixture
def text_artwork(tmp_path):
    from marquee.data.catalog import Catalog

    catalog = Catalog.from_arrays(TEXT_CATALOG_IDS, genres=[["Drama"]] * len(TEXT_CATALOG_IDS))
    art = build_artwork(catalog, tmp_path / "text.sqlite", policy=CandidateEpsilonGreedy(epsilon=0.2), seed=0)
    yield art, catalog
    art.sink.close()


def test_text_ids_end_to_end_through_the_endpoints_the_log_and_a_restart(tmp_path, text_artwork):
    art, catalog = text_artwork
    member = "3f1c9a2e-5b7d-4e21-9c4a-0d8e6f1a2b3c"
    with TestClient(create_app(make_service(tmp_path, art))) as c:
        r = c.post("/v1/artwork", json={"member_id": member, "title_id": "tt0000007", "context": {"device": "tv", "local_hour": 20}})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["member_id"] == member and body["title_id"] == "tt0000007"
        assert body["variant_id"] in art.variants.of("tt0000007").variant_ids.tolist()
        r = c.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 1})
        assert r.status_code == 200 and r.json()["duplicate"] is False, r.text
        assert c.post("/v1/feedback", json={"decision_id": body["decision_id"], "reward": 1}).json()["duplicate"] is True
        # An integer member id is logged as an integer, beside the string ones; a title named like the catalog's numbers is not one of them.
        assert c.post("/v1/artwork", json={"member_id": 12, "title_id": "tt0000008"}).status_code == 200
        r = c.post("/v1/artwork", json={"member_id": 12, "title_id": 8})
        assert r.status_code == 404 and "title 8 has no artwork variants" in r.json()["detail"]
        r = c.post("/v1/artwork", json={"member_id": member, "title_id": "tt9"})
        assert r.status_code == 404 and "title 'tt9' has no artwork variants" in r.json()["detail"]
    record, reward = SQLiteDecisionLog(tmp_path / "text.sqlite").record(body["decision_id"])
    assert record["member_id"] == member and record["title_id"] == "tt0000007" and reward == 1.0
    assert [(r["member_id"], r["title_id"]) for r, _ in SQLiteDecisionLog(tmp_path / "text.sqlite").records()] == [
        (member, "tt0000007"), (12, "tt0000008")
    ]  # fmt: skip
    restarted = build_artwork(catalog, tmp_path / "text.sqlite", policy=CandidateEpsilonGreedy(epsilon=0.2), seed=0)
    assert restarted.policy.n_updates_ == 1  # re-learned from the text-id log
    log = ArtworkLog.from_rows(restarted.sink.rows())
    assert log.member_id.tolist() == [member] and log.title_id.tolist() == ["tt0000007"]
    restarted.sink.close()


def test_text_ids_through_the_component(text_artwork):
    art, _ = text_artwork
    d = art.decide("alice", "tt0000003", "mobile", 8)
    assert d.member_id == "alice" and d.title_id == "tt0000003" and set(art.attributes(d)) == {"palette", "subject", "text"}
    decision, new = art.feedback(d.decision_id, 1.0)
    assert new and decision.member_id == "alice" and decision.title_id == "tt0000003" and decision == d


def test_the_documented_model_takes_what_the_wire_takes():
    """The pydantic model (the docs) accepts and refuses the same ids as the msgspec struct (the wire)."""
    from pydantic import ValidationError

    from marquee.serve.artwork import ArtworkBody, ArtworkRequest

    for ok in (0, 2**63 - 1, "a", "x" * 256, "tt0111161"):
        body = {"member_id": ok, "title_id": ok}
        assert msgspec.convert(body, ArtworkRequest).member_id == ok and ArtworkBody(**body).title_id == ok
    for bad in (-1, 2**63, "", "x" * 257, 1.5, True, None):
        for field in ("member_id", "title_id"):
            body = {"member_id": 1, "title_id": 1, field: bad}
            with pytest.raises(msgspec.ValidationError, match=field):
                msgspec.convert(body, ArtworkRequest)
            with pytest.raises(ValidationError, match=field):
                ArtworkBody(**body)
