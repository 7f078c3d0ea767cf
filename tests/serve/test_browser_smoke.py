"""The service in a real browser (headless Chromium): /docs renders from the service alone; a 404 is plain JSON."""

import json

import pytest

from marquee.rank import EASE, MostPopular
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Router
from marquee.testing import block_interactions
from tests.browser import live_server


@pytest.fixture
def base_url(tmp_path):
    data = block_interactions()
    registry = ModelRegistry(tmp_path / "reg")
    registry.register("heavy", EASE(l2=5.0).fit(data))
    service = Service(Router(MostPopular().fit(data)), registry, max_wait_ms=1.0)
    service.load("heavy", "heavy")
    with live_server(create_app(service)) as url:
        yield url


def test_docs_render_offline_without_console_errors(open_page, base_url):
    tab = open_page(base_url)
    response = tab.goto("/docs", wait_until="load")
    assert response is not None and response.status == 200
    title = tab.page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=15_000)
    assert "Marquee inference service" in title.inner_text()
    tab.page.locator(".swagger-ui .opblock").first.wait_for(timeout=15_000)  # the operations, from /openapi.json
    assert any(url.endswith("/openapi.json") for url in tab.requests)
    assert 0 < tab.bytes_received() < 5_000_000, tab.bytes_received()  # Swagger UI's bundle is about 1.5 MB
    tab.assert_clean()


def test_unknown_path_shows_the_json_error_and_no_stack_trace(open_page, base_url):
    tab = open_page(base_url)
    response = tab.goto("/no/such/page")
    assert response.status == 404 and response.headers["content-type"].startswith("application/json")
    shown = tab.page.locator("body").inner_text()
    body = json.loads(shown)
    assert body["error"] == "not_found" and body["detail"] == "no endpoint at /no/such/page; /docs lists them"
    assert "Traceback" not in shown and 'File "' not in shown
    assert tab.off_host == []
    # Chromium logs the 404 of the document itself as a console error; nothing else may appear.
    assert all("404" in message for message in tab.console_errors), tab.console_errors



LEAKY = b"""<!doctype html><title>leaky</title><img src="http://example.com/pixel.png">
<script>fetch("https://cdn.example.net/app.js").catch(() => {}); new WebSocket("wss://ws.example.org/live");
throw new Error("boom");</script>"""


async def _leaky_page(scope, receive, send):
    """An ASGI app whose one page reaches for other hosts (an image, a fetch, a WebSocket) and throws."""
    if scope["type"] == "lifespan":
        for reply in ("lifespan.startup.complete", "lifespan.shutdown.complete"):
            await receive()
            await send({"type": reply})
        return
    if scope["path"] != "/":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(LEAKY)).encode())]  # not chunked: exact bytes
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": LEAKY})


def test_the_tab_aborts_and_records_off_host_requests(open_page):
    with live_server(_leaky_page) as url:
        tab = open_page(url)
        tab.goto("/", wait_until="load")
        tab.page.wait_for_timeout(200)  # the fetch and the WebSocket settle after load
        assert sorted(tab.off_host) == ["http://example.com/pixel.png", "https://cdn.example.net/app.js", "wss://ws.example.org/live"]
        assert any("boom" in message for message in tab.console_errors), tab.console_errors
        assert tab.bytes_received() == len(LEAKY), tab.requests  # the page alone: nothing off the host arrived
        with pytest.raises(AssertionError, match="other hosts"):
            tab.assert_clean()
