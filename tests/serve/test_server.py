"""A real uvicorn server on 127.0.0.1, driven over HTTP by httpx (bounded, stops by itself)."""

import socket
import time

import httpx
import pytest

from marquee.rank import EASE, ItemKNN, MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Router
from marquee.testing import block_interactions
from tests.browser import live_server


@pytest.fixture
def server(tmp_path):
    data = block_interactions()
    registry = ModelRegistry(tmp_path / "reg")
    registry.register("heavy", EASE(l2=5.0).fit(data))
    registry.register("light", ItemKNN(neighbors=10).fit(data))
    service = Service(Router(MostPopular().fit(data)), registry, max_wait_ms=1.0)
    service.load("heavy", "heavy")
    service.load("light", "light")
    with live_server(create_app(service)) as url:
        yield url


def test_real_server_answers_concurrent_requests(server):
    with httpx.Client(base_url=server, timeout=5) as client:
        statuses = [client.post("/v1/recommendations", json={"member_id": 1000 + i % 60, "k": 10}).status_code for i in range(200)]
        assert statuses.count(200) == 200
        assert client.post("/v1/recommendations", json={"member_id": 1, "k": 0}).status_code == 422
        assert client.get("/readyz").status_code == 200
        assert "marquee_requests_total" in client.get("/metrics").text


def _status_of_upload(url, path, *, declared=None, send_bytes=0, chunk=16_384):
    """POST ``path`` over a raw socket: headers (Content-Length ``declared``, else chunked), then up to
    ``send_bytes`` of body, stopping as soon as the server answers; (status, bytes sent)."""
    host, port = url.removeprefix("http://").split(":")
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {declared}\r\n" if declared is not None else "Transfer-Encoding: chunked\r\n"
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall((head + "\r\n").encode())
        s.setblocking(False)
        answer = b""
        while sent < send_bytes and not answer:
            try:
                answer = s.recv(4096)
            except BlockingIOError:
                pass
            if answer:
                break
            piece = b"x" * chunk
            try:
                s.sendall(piece if declared is not None else f"{chunk:x}\r\n".encode() + piece + b"\r\n")
            except OSError:  # the server closed the connection after answering
                break
            sent += chunk
            time.sleep(0.0005)
        s.setblocking(True)
        answer += s.recv(4096) if not answer else b""
    return int(answer.split(b" ", 2)[1]), sent


def test_real_server_refuses_large_uploads_early_and_answers_head(server):
    with httpx.Client(base_url=server, timeout=5) as client:
        assert client.head("/healthz").status_code == 200 and client.head("/readyz").status_code == 200
    # Admin (disabled here) answers from the headers: a declared 100 MiB is never read.
    assert _status_of_upload(server, "/admin/models/load", declared=100 << 20)[0] == 403
    # A streamed body is refused once it passes the cap, long before the client has sent it all, whatever the endpoint.
    for path in ("/v1/assignments/1", "/v1/recommendations"):
        status, sent = _status_of_upload(server, path, send_bytes=100 << 20)
        assert status == 413 and sent < 10 << 20, (path, sent)
