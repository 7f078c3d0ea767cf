"""A real uvicorn server on 127.0.0.1, driven over HTTP by httpx (bounded, stops by itself)."""

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from marquee.rank import EASE, ItemKNN, MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Router
from marquee.testing import block_interactions


@pytest.fixture
def server(tmp_path):
    data = block_interactions()
    registry = ModelRegistry(tmp_path / "reg")
    registry.register("heavy", EASE(l2=5.0).fit(data))
    registry.register("light", ItemKNN(neighbors=10).fit(data))
    service = Service(Router(MostPopular().fit(data)), registry, max_wait_ms=1.0)
    service.load("heavy", "heavy")
    service.load("light", "light")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_real_server_answers_concurrent_requests(server):
    with httpx.Client(base_url=server, timeout=5) as client:
        statuses = [client.post("/v1/recommendations", json={"member_id": 1000 + i % 60, "k": 10}).status_code for i in range(200)]
        assert statuses.count(200) == 200
        assert client.post("/v1/recommendations", json={"member_id": 1, "k": 0}).status_code == 422
        assert client.get("/readyz").status_code == 200
        assert "marquee_requests_total" in client.get("/metrics").text
