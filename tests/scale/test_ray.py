"""Everything that needs Ray, in one module, against a local Ray: Ray Data batch scoring, and the service on
Ray Serve held to the single-process service's contract, under promotion, rollback and a killed replica."""

import socket
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'marquee[ray]' (make test installs it)")

# After the skip: without Ray, nothing here runs.
from marquee.data import Dataset
from marquee.errors import ConfigError, UnknownIdError
from marquee.rank import EASE, ItemKNN
from marquee.scale import batch_score
from marquee.serve.app import create_app
from marquee.serve.build import ServiceSettings, build_service
from marquee.serve.registry import ModelRegistry
from marquee.testing import block_interactions
from tests.scale.test_batch import registry  # noqa: F401 - the fixture


def test_ray_data_gives_the_serial_table(registry):  # noqa: F811
    serial = batch_score(registry, "ease", 5, engine="serial", block=7)
    on_ray = batch_score(registry, "ease", 5, engine="ray", workers=2, block=7, passes=2)
    assert on_ray.table.equals(serial.table)
    assert on_ray.provenance["engine"] == "ray" and on_ray.members_per_s > 0


def test_an_unreachable_cluster_is_one_line(registry):  # noqa: F811
    with pytest.raises(ConfigError, match="could not reach the Ray cluster at 127.0.0.1:1") as e:
        batch_score(registry, "ease", 5, engine="ray", ray_address="127.0.0.1:1")
    assert "\n" not in str(e.value)


# ---- Ray Serve: the service's contract on a local Ray cluster ---------------------------------
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _settings(home, **changes) -> ServiceSettings:
    base = {"dataset": "blocks", "home": str(home), "heavy": "heavy@production", "light": "light@production", "budget_ms": 2000.0,
            "artwork": False, "search": False, "homepage": False, "admin_token": TOKEN}  # fmt: skip
    return ServiceSettings(**{**base, **changes})


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A MARQUEE_HOME with a stored dataset and a registry: heavy v1 (EASE l2=5), heavy v2 (l2=50), light v1 (ItemKNN)."""
    home = tmp_path_factory.mktemp("home")
    data = block_interactions()
    Dataset("blocks", data, data.catalog).save(home / "datasets" / "blocks")
    reg = ModelRegistry(home / "registry")
    reg.register("heavy", EASE(l2=5.0).fit(data))
    reg.register("heavy", EASE(l2=50.0).fit(data))
    reg.register("light", ItemKNN(neighbors=10).fit(data))
    reg.set_alias("heavy", "production", 1)
    reg.set_alias("light", "production", 1)
    return home


@pytest.fixture(scope="module")
def on_ray(home):
    """The service on Ray Serve (a local Ray: one heavy replica, one ingress), reached over HTTP."""
    from ray import serve

    from marquee.scale.ray_serve import RayServeOptions, start

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = start(_settings(home), RayServeOptions(heavy_min=1, heavy_max=1), port=port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            yield client
    finally:
        serve.shutdown()
        if started:
            ray.shutdown()


#: Requests of the contract, answered the same by one process and by Ray Serve.
CONTRACT = [
    ("POST", "/v1/recommendations", {"member_id": 1000, "k": 5}),
    ("POST", "/v1/recommendations", {"member_id": 1001, "k": 7, "model": "heavy"}),
    ("POST", "/v1/recommendations", {"member_id": 1002, "k": 3, "model": "light"}),
    ("POST", "/v1/recommendations", {"member_id": 1003, "k": 4, "priority": "prefetch"}),
    ("POST", "/v1/recommendations", {"member_id": 424242, "k": 3}),
    ("POST", "/v1/recommendations", {"member_id": 1.5}),
    ("POST", "/v1/recommendations", {"member_id": 1, "k": 501}),
    ("POST", "/v1/recommendations", {"member_id": 1, "colour": "red"}),
    ("POST", "/v1/recommendations", b"{not json"),
    ("POST", "/v1/recommendations", b"{" + b" " * 70_000 + b"}"),
    ("POST", "/v1/artwork", {"member_id": 1000, "title_id": 5000}),
    ("GET", "/readyz", None),
    ("GET", "/admin/models", None),
    ("GET", "/v1/nowhere", None),
    ("GET", "/v1/recommendations", None),
]


def _call(client, method, path, body, headers=None):
    if isinstance(body, bytes):
        return client.request(method, path, content=body, headers={"content-type": "application/json", **(headers or {})})
    return client.request(method, path, json=body, headers=headers)


def _comparable(r) -> tuple[int, object]:
    try:
        body = r.json()
    except ValueError:
        return r.status_code, r.text
    if isinstance(body, dict):
        body.pop("latency_ms", None)
        body.pop("request_id", None)
    return r.status_code, body


def test_ray_serve_answers_as_one_process_does(on_ray, home):
    with TestClient(create_app(build_service(_settings(home)))) as local:
        for method, path, body in CONTRACT:
            for headers in (None, AUTH) if path.startswith("/admin") else (None,):
                want, got = _call(local, method, path, body, headers), _call(on_ray, method, path, body, headers)
                assert _comparable(got) == _comparable(want), (method, path, body, headers)
                assert got.headers.get("content-type") == want.headers.get("content-type")
    heavy = on_ray.post("/v1/recommendations", json={"member_id": 1000, "model": "heavy"}).json()
    assert heavy["model_used"] == "heavy" and heavy["model_version"] == "heavy:1" and heavy["fallback_reason"] is None
    metrics = on_ray.get("/metrics").text
    assert 'marquee_model_info{tier="heavy",version="heavy:1"} 1.0' in metrics and "marquee_batch_size_bucket" in metrics


class _Load:
    """Threads posting recommendations until stopped; every answer kept."""

    def __init__(self, client_url: str, threads: int = 3) -> None:
        self.url, self.stop, self.answers = client_url, threading.Event(), []
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=self.url, timeout=30.0) as c:
            while not self.stop.is_set():
                member = 1000 + int(rng.integers(60))
                try:
                    r = c.post("/v1/recommendations", json={"member_id": member, "k": 5})
                    self.answers.append((member, r.status_code, r.json()))
                except httpx.HTTPError as exc:  # a lost request: the test fails on it
                    self.answers.append((member, 0, {"error": repr(exc)}))

    def __enter__(self) -> "_Load":  # noqa: PYI034 - a test helper, never subclassed
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def wait_for(self, predicate, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        start = len(self.answers)
        while time.monotonic() < deadline:
            if any(predicate(a) for a in self.answers[start:]):
                return
            time.sleep(0.2)
        raise AssertionError(f"no answer matched within {timeout_s} s; last: {self.answers[-3:]}")


def _served_by(version):
    return lambda a: a[1] == 200 and a[2]["model_used"] == "heavy" and a[2]["model_version"] == version


def test_promotion_and_rollback_under_load_fail_no_request_and_never_mix_versions(on_ray, home):
    reg = ModelRegistry(home / "registry")
    models = {v: reg.load(f"heavy:{v}")[1] for v in (1, 2)}
    with _Load(str(on_ray.base_url)) as load:
        load.wait_for(_served_by("heavy:1"))
        r = on_ray.post("/admin/models/promote", json={"name": "heavy", "version": 2}, headers=AUTH)
        assert r.status_code == 200 and r.json()["reloaded"] == ["heavy"], r.text
        load.wait_for(_served_by("heavy:2"))
        r = on_ray.post("/admin/models/rollback", json={"name": "heavy"}, headers=AUTH)
        assert r.status_code == 200 and r.json()["to_version"] == 1, r.text
        load.wait_for(_served_by("heavy:1"))
    answers = load.answers
    assert answers and all(status == 200 for _, status, _ in answers), [a for a in answers if a[1] != 200][:3]
    # Every heavy answer is the ranking of the version it names (a batch never mixes versions).
    for member, _, body in answers:
        if body["model_used"] == "heavy":
            model = models[int(body["model_version"].split(":")[1])]
            idx, _ = model.recommend_one(model.members_.position(member), 5)
            assert [i["title_id"] for i in body["items"]] == model.titles_.ids[idx].tolist()


def test_a_killed_heavy_replica_loses_no_request(on_ray):
    from ray.util import list_named_actors

    with _Load(str(on_ray.base_url)) as load:
        load.wait_for(_served_by("heavy:1"))
        replicas = [a for a in list_named_actors(all_namespaces=True) if "heavy" in a["name"] and "REPLICA" in a["name"]]
        assert replicas, list_named_actors(all_namespaces=True)
        for a in replicas:
            ray.kill(ray.get_actor(a["name"], namespace=a["namespace"]), no_restart=True)
        killed = len(load.answers)
        load.wait_for(lambda a: a[1] == 200 and a[2]["model_used"] != "heavy")  # answered by a lighter tier meanwhile
        load.wait_for(_served_by("heavy:1"), timeout_s=90.0)  # Serve replaced the replica
    after = load.answers[killed:]
    assert all(status == 200 for _, status, _ in load.answers), [a for a in load.answers if a[1] != 200][:3]
    assert any(body["fallback_reason"] in ("error", "deadline") for _, _, body in after)


def test_ray_serve_refuses_bad_settings_in_one_line(home):
    from marquee.scale.ray_serve import RayServeOptions, start

    with pytest.raises(UnknownIdError, match="no alias 'staging'") as e:
        start(_settings(home, heavy="heavy@staging"), RayServeOptions())
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="could not reach the Ray cluster at 127.0.0.1:1") as e:
        start(_settings(home), RayServeOptions(address="127.0.0.1:1"))
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="MIN:MAX"):
        RayServeOptions.parse("two")
    with pytest.raises(ConfigError, match="1 <= MIN <= MAX"):
        RayServeOptions.parse("3:1")


def test_serve_on_an_unreachable_cluster_is_one_line_before_anything_loads(tmp_path):
    from typer.testing import CliRunner

    from marquee.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--ray", "--ray-address", "127.0.0.1:1", "--port", "0", "--home", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert "could not reach the Ray cluster at 127.0.0.1:1" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "empty" / "datasets").exists()
    result = CliRunner().invoke(app, ["serve", "--ray", "--heavy-replicas", "4:2", "--port", "0", "--home", str(tmp_path / "empty")])
    assert result.exit_code != 0 and "1 <= MIN <= MAX" in result.output and "Traceback" not in result.output
