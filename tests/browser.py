"""Real-browser test helpers: a live uvicorn server on 127.0.0.1 and Chromium pages that may not leave it.

The browser is Debian's ``chromium`` (``apt-get install chromium``) driven by Playwright for Python through
``executable_path``: Playwright's own browser download (``playwright install``) is never used. The fixtures that
launch it are in ``tests/serve/conftest.py``; this module holds what they and the tests share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn

#: Where Chromium is looked for, in order, after ``$MARQUEE_CHROMIUM``.
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")

#: Headless, no sandbox (CI runs as root), and none of Chromium's own traffic (updates, sync, QUIC probes).
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: The only hosts a page may reach; every other request is aborted and recorded.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})

NO_CHROMIUM = (
    "no Chromium: install Debian's chromium package (apt-get install chromium) or set MARQUEE_CHROMIUM; .ci/run installs it"
)


def find_chromium() -> Path | None:
    """The Chromium executable: ``$MARQUEE_CHROMIUM`` when set (None if it is not a file), else the first of
    ``CHROMIUM_PATHS`` that exists, else ``chromium`` on ``PATH``."""
    if configured := os.environ.get("MARQUEE_CHROMIUM"):
        return Path(configured) if Path(configured).is_file() else None
    for candidate in CHROMIUM_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    found = shutil.which("chromium")
    return Path(found) if found else None


@contextlib.contextmanager
def live_server(app: Any, *, start_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn (lifespan on) in a background thread; yields its base URL,
    ``http://127.0.0.1:<port>``, once it answers HTTP, and stops it (lifespan shutdown included) on exit.

    The socket is bound here, to port 0, and handed to uvicorn: the port is the kernel's choice and never
    released between choosing and serving.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the server on {url} stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server on {url} did not start within {start_timeout_s} s")
            time.sleep(0.02)
        httpx.get(url + "/", timeout=start_timeout_s)  # any status: it answers
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(f"the server on {url} did not stop within 10 s")


@dataclass
class Tab:
    """A Chromium page in its own browser context, with what it did recorded.

    Attributes:
        page: the Playwright ``Page``; drive it as usual (``tab.page.goto(...)``).
        base_url: the live server's URL; ``tab.goto("/docs")`` is relative to it.
        console_errors: console messages of type ``error`` and uncaught page errors (``pageerror``), as text.
        off_host: URLs of requests to any host but 127.0.0.1/localhost, each aborted before it left.
        requests: every request URL the page made, in order.
    """

    page: Any
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    off_host: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _finished: list[Any] = field(default_factory=list, repr=False)

    def goto(self, path: str, **kwargs: Any) -> Any:
        """Navigate to ``base_url + path``; returns the main response (Playwright's ``Response`` or None)."""
        return self.page.goto(self.base_url + path, **kwargs)

    def bytes_received(self) -> int:
        """Response body bytes received over the wire by every request that finished since the tab opened or
        since ``reset()``: as sent (compressed if the server compressed; a chunked body's framing included)."""
        return sum(max(request.sizes()["responseBodySize"], 0) for request in self._finished)

    def reset(self) -> None:
        """Forget what was recorded (before a second load whose weight is measured on its own)."""
        self.console_errors.clear()
        self.off_host.clear()
        self.requests.clear()
        self._finished.clear()

    def assert_clean(self) -> None:
        """No request tried to leave the host and nothing was logged as a console error or page error."""
        assert not self.off_host, f"the page tried to reach other hosts (aborted): {self.off_host}"
        assert not self.console_errors, f"console errors: {self.console_errors}"


def open_page(browser: Any, base_url: str) -> Tab:
    """A new page in a fresh browser context (no cookies or cache shared with other tabs), watched:
    console errors and page errors collected, requests off 127.0.0.1/localhost aborted and recorded,
    finished requests kept for ``bytes_received()``. Close it with ``tab.page.context.close()``.

    Service workers are blocked: requests a service worker answers would bypass the routing that keeps
    the page on the host.
    """
    context = browser.new_context(service_workers="block")
    page = context.new_page()
    tab = Tab(page=page, base_url=base_url)

    def on_console(message: Any) -> None:
        if message.type == "error":
            location = message.location or {}
            tab.console_errors.append(f"{message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})")

    def guard(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            tab.off_host.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def guard_socket(socket: Any) -> None:
        if urlsplit(socket.url).hostname in LOCAL_HOSTS:
            socket.connect_to_server()
        else:
            tab.off_host.append(socket.url)
            socket.close()

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.console_errors.append(f"pageerror: {error}"))
    page.on("request", lambda request: tab.requests.append(request.url))
    page.on("requestfinished", lambda request: tab._finished.append(request))
    context.route("**/*", guard)
    context.route_web_socket("**/*", guard_socket)
    return tab
