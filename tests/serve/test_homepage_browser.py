"""The homepage in a real browser: headless Debian Chromium driven by Playwright against a live server.

Picker -> a member's page -> rows and artwork -> keyboard like a TV remote -> a title (its click logged as
the artwork decision's reward) -> Play -> search as you type; no console errors, no request off the host,
every tile with alt text, at phone and TV widths. ``MARQUEE_SCREENSHOTS=DIR`` saves the screenshots
(the README's come from here)."""

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from marquee.serve.app import create_app
from marquee.serve.web import PAGE_EXPERIMENT
from tests.browser import live_server
from tests.serve.homepage_site import homepage_service

PHONE = {"width": 390, "height": 844}
TV = {"width": 1920, "height": 1080}
EXPERIMENTS = {"layers": [{"name": "home", "experiments": [{"name": PAGE_EXPERIMENT, "variants": [
    {"name": "template", "weight": 0.5}, {"name": "learned", "weight": 0.5}]}]}]}  # fmt: skip


@pytest.fixture(scope="module")
def site(ml100k, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("homepage-browser")
    service, exposures = homepage_service(ml100k, tmp, EXPERIMENTS, search=True)
    with live_server(create_app(service)) as url:
        yield {"url": url, "tmp": tmp, "exposures": exposures}


def screenshot(tab, name):
    where = os.environ.get("MARQUEE_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        tab.page.screenshot(path=str(Path(where) / f"{name}.png"))


def rewards(site):
    with sqlite3.connect(site["tmp"] / "art.sqlite") as db:
        return dict(db.execute("select decision_id, reward from rewards"))


def focused(tab):
    return tab.page.evaluate("() => { const e = document.activeElement; return e && e.classList.contains('tile') ? "
                             "[Number(e.dataset.row), Number(e.dataset.col), e.dataset.title] : null; }")  # fmt: skip


def test_browse_play_and_search(site, open_page):
    tab = open_page(site["url"])
    tab.page.set_viewport_size(TV)
    tab.goto("/")
    assert tab.page.locator(".profile").count() >= 6
    screenshot(tab, "picker-tv")
    tab.page.locator(".profile").first.click()
    tab.page.wait_for_selector(".row .tile")
    assert re.search(r"/home/\d+$", tab.page.url)

    # Rows and artwork: every tile has alt text, the first rows' posters are drawn.
    rows = tab.page.locator("section.row")
    assert rows.count() >= 6
    assert tab.page.locator("section.row h2").first.inner_text()
    alts = tab.page.eval_on_selector_all(".tile img", "imgs => imgs.map(i => i.getAttribute('alt'))")
    assert len(alts) >= 60 and all(a and a.strip() for a in alts)
    tab.page.wait_for_function("() => Array.from(document.querySelectorAll('section.row:nth-of-type(-n+2) img')).every(i => i.complete && i.naturalWidth > 0)")
    meta = json.loads(tab.page.get_attribute('meta[name="marquee-page"]', "content"))
    assert meta["experiment"] == PAGE_EXPERIMENT and meta["policy"] == meta["variant"] and meta["personalised"]
    assert any(e.experiment == PAGE_EXPERIMENT for e in site["exposures"].exposures)
    screenshot(tab, "home-tv")

    # The remote: down into the grid, along a row, down a row, back up; Enter opens the title.
    tab.page.keyboard.press("ArrowDown")
    assert focused(tab)[:2] == [0, 0]
    tab.page.keyboard.press("ArrowRight")
    tab.page.keyboard.press("ArrowRight")
    assert focused(tab)[:2] == [0, 2]
    tab.page.keyboard.press("ArrowDown")
    assert focused(tab)[:2] == [1, 2]
    tab.page.keyboard.press("ArrowUp")
    tab.page.keyboard.press("ArrowLeft")
    row, col, title = focused(tab)
    assert (row, col) == (0, 1)
    decision = tab.page.evaluate("() => document.activeElement.dataset.decision")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url(re.compile(r"/title/"))
    assert f"/title/{title}?" in tab.page.url
    assert rewards(site)[decision] == 1.0  # the click reached the decision log before the title opened

    # The title page: details, more like this, Play.
    assert tab.page.locator(".title h1").inner_text()
    assert tab.page.locator(".row .tile").count() >= 4
    tab.page.click("#play")
    tab.page.wait_for_selector("#playback-result")
    result = tab.page.inner_text("#playback-result")
    assert "Start-up delay" in result and "Rebuffering" in result and "VMAF" in result
    screenshot(tab, "title-tv")

    # Search as you type, with a typo.
    tab.page.fill("#q", "toy stroy")
    tab.page.wait_for_selector("#results a")
    assert "Toy Story" in tab.page.inner_text("#results")
    tab.page.keyboard.press("ArrowDown")
    assert tab.page.evaluate("() => document.activeElement.closest('#results') !== null")
    tab.page.keyboard.press("Enter")
    tab.page.wait_for_url(re.compile(r"/title/1\?"))
    tab.assert_clean()


def test_phone_width_and_page_weight(site, open_page):
    tab = open_page(site["url"])
    tab.page.set_viewport_size(PHONE)
    tab.goto("/home/5?device=mobile")
    tab.page.wait_for_load_state("networkidle")
    # Nothing sticks out sideways at a phone's width; rows scroll on their own.
    assert tab.page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(tab, "home-phone")
    # Every poster loaded (scroll through the lazy ones), and the whole page still under 300 kB.
    tab.page.evaluate("() => document.querySelectorAll('.tile img').forEach(i => i.loading = 'eager')")
    tab.page.wait_for_function("() => Array.from(document.querySelectorAll('.tile img')).every(i => i.complete && i.naturalWidth > 0)")
    tab.page.wait_for_load_state("networkidle")
    assert tab.bytes_received() < 300_000, tab.bytes_received()
    assert all(u.startswith(site["url"]) or u.startswith("data:") for u in tab.requests)
    tab.assert_clean()


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/home/" + "x" * 300, 422, "1 to 256 characters"),
    ("/title/99999999", 404, "no title"),
    ("/nowhere", 404, "nothing here"),
])  # fmt: skip
def test_bad_paths_are_pages_not_stack_traces(site, open_page, path, status, text):
    tab = open_page(site["url"])
    response = tab.goto(path)
    assert response.status == status
    body = tab.page.inner_text("body")
    assert text in body and "Traceback" not in body
    assert tab.page.locator("a[href='/']").count() >= 1
    # The only console error is the browser's own note of the document's status.
    assert all(str(status) in e for e in tab.console_errors) and not tab.off_host
