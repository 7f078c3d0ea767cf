"""Real-browser fixtures: ``browser`` (one headless Chromium per test module) and ``open_page`` (watched tabs).

Without Chromium or the playwright package the tests that use them are skipped, except where ``$CI`` or
``$MARQUEE_REQUIRE_BROWSER`` is set (``.ci/run`` sets the latter): there they fail, so CI never passes by skipping.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import browser as browsers


def _missing(reason: str) -> None:
    if os.environ.get("CI") or os.environ.get("MARQUEE_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (a browser is required here: $CI or $MARQUEE_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's ``Browser``: Debian's Chromium (``tests.browser.find_chromium()``), headless, shared by a module.

    Per module, not per session: while Playwright's sync API is started, the main thread's asyncio loop counts as
    running, and ``asyncio.run`` fails there (tests/serve/test_router.py uses it); so a module that uses the
    browser cannot call ``asyncio.run`` either. Starting Playwright and Chromium takes about 0.6 s.
    """
    executable = browsers.find_chromium()
    if executable is None:
        _missing(browsers.NO_CHROMIUM)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(browsers.NO_CHROMIUM + " (and the playwright package is missing: pip install -e '.[test]')")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=str(executable), args=list(browsers.CHROMIUM_ARGS))
    except Exception:
        playwright.stop()
        raise
    yield launched
    launched.close()
    playwright.stop()


@pytest.fixture
def open_page(browser) -> Iterator[Callable[[str], browsers.Tab]]:
    """``open_page(base_url) -> tests.browser.Tab``: a watched page in a fresh context; closed after the test."""
    tabs: list[browsers.Tab] = []

    def opener(base_url: str) -> browsers.Tab:
        tabs.append(browsers.open_page(browser, base_url))
        return tabs[-1]

    yield opener
    for tab in tabs:
        tab.page.context.close()
