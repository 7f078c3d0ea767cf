"""The homepage over HTTP (no browser): pages, artwork logged with propensities, impressions, Play,
experiments, bad input. The real-browser tests are in test_homepage_browser.py."""

import json
import re
import sqlite3
from xml.etree import ElementTree

import pytest
from starlette.testclient import TestClient

from marquee.errors import ConfigError
from marquee.rank import EASE, MostPopular
from marquee.serve.app import create_app
from marquee.serve.artwork import build_artwork
from marquee.serve.registry import ModelRegistry
from marquee.serve.router import Router
from marquee.serve.service import Service
from marquee.serve.web import PAGE_EXPERIMENT, HomePages
from tests.serve.homepage_site import homepage_service

EXPERIMENTS = {"layers": [
    {"name": "home", "experiments": [{"name": PAGE_EXPERIMENT, "variants": [{"name": "template", "weight": 0.5}, {"name": "learned", "weight": 0.5}]}]},
    {"name": "other", "experiments": [{"name": "checkout-colour", "variants": [{"name": "red", "weight": 0.5}, {"name": "blue", "weight": 0.5}]}]},
]}  # fmt: skip
HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def site(ml100k, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("homepage")
    service, exposures = homepage_service(ml100k, tmp, EXPERIMENTS, durable=True)  # durable: the tests read the log back at once
    with TestClient(create_app(service)) as client:
        yield {"client": client, "service": service, "tmp": tmp, "exposures": exposures}


def impressions(site):
    """The impression log, once everything queued is written."""
    site["service"].pages.flush()
    return [json.loads(x) for x in (site["tmp"] / "impressions.jsonl").read_text().splitlines()]


def tiles(html):
    return re.findall(r'<a class="tile" href="([^"]+)" data-row="(\d+)" data-col="(\d+)" data-title="([^"]+)" data-decision="([0-9a-f]+)">'
                      r'<img src="([^"]+)" alt="([^"]*)"', html)  # fmt: skip


def meta(html):
    return json.loads(re.search(r'<meta name="marquee-page" content="([^"]+)"', html).group(1).replace("&quot;", '"'))


def decisions(site):
    with sqlite3.connect(site["tmp"] / "art.sqlite") as db:
        sql = "select d.decision_id, d.record, r.reward from decisions d left join rewards r using (decision_id)"
        return {row[0]: row for row in db.execute(sql)}


def test_picker_lists_profiles_and_a_guest(site):
    r = site["client"].get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    links = re.findall(r'class="profile[^"]*" href="(/home/[^"]+)"', r.text)
    assert len(links) >= 6 and "/home/guest" in links
    assert site["client"].get("/home?id=42", follow_redirects=False).headers["location"] == "/home/42"


def test_a_members_page_logs_every_tile_with_its_propensity(site):
    r = site["client"].get("/home/1?device=tv&hour=20")
    assert r.status_code == 200
    shown = tiles(r.text)
    m = meta(r.text)
    assert m["personalised"] and m["device"] == "tv" and m["local_hour"] == 20 and m["policy"] in ("learned", "template")
    assert len(shown) >= 60 and all(alt for *_, alt in shown)
    titles = [t[3] for t in shown]
    assert len(set(titles)) == len(titles)  # no title twice on a page
    log = decisions(site)
    for _, _, _, title, decision, src, _ in shown:
        record = json.loads(log[decision][1])
        assert str(record["title_id"]) == title and 0 < record["propensity"] <= 1
        assert src == f"/art/{title}/{record['variant_ids'][record['action']]}.svg"  # the tile shows the chosen variant
    page = [x for x in impressions(site) if x["page_id"] == m["page_id"]]
    assert len(page) == len(shown)
    assert {(x["row"], x["column"], str(x["title_id"]), x["decision_id"]) for x in page} == {
        (int(r_), int(c), t, d) for _, r_, c, t, d, _, _ in shown}  # fmt: skip


def test_a_click_is_the_reward_of_its_decision(site):
    shown = tiles(site["client"].get("/home/2").text)
    decision = shown[0][4]
    r = site["client"].post("/v1/feedback", json={"decision_id": decision, "reward": 1.0})
    assert r.status_code == 200 and not r.json()["duplicate"]
    assert decisions(site)[decision][2] == 1.0


def test_a_queued_page_can_be_clicked_at_once(ml100k, tmp_path):
    """Without durable pages the page is sent once its decisions are queued; the log's one writer still
    writes them before a click's reward, so feedback right away finds its decision."""
    router = Router(MostPopular().fit(ml100k.interactions))
    service = Service(router, ModelRegistry(tmp_path / "registry"), artwork=build_artwork(ml100k.catalog, tmp_path / "art.sqlite"))
    service.pages = HomePages(service, ml100k.interactions)
    with TestClient(create_app(service)) as client:
        for member in (7, 8, 9):
            decision = tiles(client.get(f"/home/{member}").text)[-1][4]
            r = client.post("/v1/feedback", json={"decision_id": decision, "reward": 1.0})
            assert r.status_code == 200, r.text


def test_an_exploration_slice_logs_shuffled_pages_with_their_propensity(ml100k, tmp_path):
    import math

    router = Router(MostPopular().fit(ml100k.interactions))
    router.set_tier("light", EASE().fit(ml100k.interactions), "ease:1")
    service = Service(router, ModelRegistry(tmp_path / "registry"))
    service.pages = HomePages(service, ml100k.interactions, impressions=tmp_path / "imp.jsonl", explore=0.5, seed=0)
    with TestClient(create_app(service)) as client:
        policies = [meta(client.get(f"/home/{m}").text)["policy"] for m in range(1, 41)]
        assert client.get("/home/guest").status_code == 200  # unknown members are never explored
    service.pages.close()
    assert 10 < policies.count("explore") < 30 and set(policies) == {"explore", "learned"}
    lines = [json.loads(x) for x in (tmp_path / "imp.jsonl").read_text().splitlines()]
    explored = [x for x in lines if x["policy"] == "explore"]
    rows = {}
    for x in explored:
        rows.setdefault(x["page_id"], set()).add(x["row"])
    for page_id, r in rows.items():
        props = [x["page_propensity"] for x in explored if x["page_id"] == page_id]
        assert props == pytest.approx([1 / math.factorial(len(r))] * len(props))
    with pytest.raises(ConfigError, match="explore"):
        HomePages(service, ml100k.interactions, explore=1.5)


def test_the_page_experiment_decides_the_policy_and_logs_an_exposure(site):
    seen = {}
    for member in range(1, 40):
        m = meta(site["client"].get(f"/home/{member}").text)
        assert m["experiment"] == PAGE_EXPERIMENT and m["variant"] == m["policy"]
        seen[member] = m["variant"]
    assert set(seen.values()) == {"template", "learned"}
    exposed = {(e.member_id, e.experiment, e.variant) for e in site["exposures"].exposures}
    assert all((member, PAGE_EXPERIMENT, v) in exposed for member, v in seen.items())
    # Opening the homepage exposes the member to the page's experiment only, not to the others they are in.
    assert not any(e.experiment == "checkout-colour" for e in site["exposures"].exposures)


def test_unknown_and_guest_members_get_the_popular_page(site):
    for path in ("/home/guest", "/home/99999999", "/home/someone"):
        r = site["client"].get(path)
        assert r.status_code == 200 and "Not personalised" in r.text
        m = meta(r.text)
        assert not m["personalised"] and m["policy"] == "template" and m["experiment"] is None


def test_play_adds_the_title_to_continue_watching(site):
    c = site["client"]
    r = c.post("/home/play", json={"member_id": 3, "title_id": 50, "device": "mobile"})
    assert r.status_code == 200
    played = r.json()
    assert played["device_class"] == "phone" and played["startup_delay_s"] > 0 and played["rebuffer_s"] >= 0
    page = c.get("/home/3").text
    row = re.search(r'data-kind="continue".*?</section>', page).group(0)
    assert 'data-title="50"' in row
    assert c.post("/home/play", json={"title_id": 10**9}).status_code == 404
    assert c.post("/home/play", json={"title_id": 50, "device": "fridge"}).status_code == 422
    assert c.post("/home/play", json={"title_id": "<x>", "extra": 1}).status_code == 422
    assert c.post("/home/play", json={"title_id": "fifty"}).status_code == 404  # a string id the integer catalog lacks
    # A member id sent as text is the same member as the path's integer.
    c.post("/home/play", json={"member_id": "4", "title_id": 60, "device": "tv"})
    row = re.search(r'data-kind="continue".*?</section>', c.get("/home/4").text).group(0)
    assert 'data-title="60"' in row


def test_title_page_has_details_play_and_more_like_this(site):
    r = site["client"].get("/title/1?member=1&device=tv")
    assert r.status_code == 200
    assert "Toy Story" in r.text and 'id="play"' in r.text and "More like this" in r.text
    assert len(tiles(r.text)) == 10


def test_unclicked_tiles_get_reward_zero_after_the_window(site):
    c, pages = site["client"], site["service"].pages
    shown = tiles(c.get("/home/11").text)
    clicked = shown[0][4]
    assert c.post("/v1/feedback", json={"decision_id": clicked, "reward": 1.0}).status_code == 200
    import time

    assert pages.sweep(now=time.monotonic() + pages.click_window_s + 1) >= 1
    site["service"].artwork.sink.submit_missing_rewards([], 0.0).result()  # everything queued before is written
    log = decisions(site)
    assert log[clicked][2] == 1.0  # a click keeps its reward
    assert all(log[d][2] == 0.0 for *_, d, _, _ in shown[1:])


def test_the_title_page_shows_the_tiles_poster_without_a_decision(site):
    c = site["client"]
    href, *_, src, _ = tiles(c.get("/home/12").text)[0]
    variant = src.rsplit("/", 1)[1].removesuffix(".svg")
    before = len(decisions(site))
    page = c.get(href.replace("&amp;", "&")).text
    assert f'class="poster" src="{src}"' in page
    assert "art=" + variant in href
    assert len(decisions(site)) == before + 10  # the More Like This row only
    assert 'class="poster" src="/art/1/default.svg"' in c.get("/title/1?art=999").text


def test_posters_and_static_files(site):
    c = site["client"]
    r = c.get("/art/1/0.svg")
    assert r.headers["content-type"] == "image/svg+xml" and "max-age" in r.headers["cache-control"]
    assert ElementTree.fromstring(r.content).tag.endswith("svg")
    assert c.get("/art/1/99.svg", headers=HTML).status_code == 404
    assert c.get("/art/1/" + "x" * 5000 + ".svg", headers=HTML).status_code == 404
    for name in ("home.css", "home.js"):
        assert c.get(f"/static/{name}").status_code == 200
    assert c.get("/static/../app.py", headers=HTML).status_code == 404


def test_nothing_leaves_the_host_and_the_page_is_light(site):
    c = site["client"]
    html = c.get("/home/1?device=tv").text
    assets = [c.get(u).content for u in ("/static/home.css", "/static/home.js")]
    assets += [c.get(src).content for *_, src, _ in tiles(html)]
    for text in [html, *(a.decode() for a in assets)]:
        assert not re.search(r"(?:src|href)=\"(?:https?:)?//", text) and "url(http" not in text and "@import" not in text
    assert len(html.encode()) + sum(map(len, assets)) < 300_000


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/home/" + "9" * 30, 422, "integer member ids go up to"),
    ("/home/" + "x" * 300, 422, "1 to 256 characters"),
    ("/home/a%00b", 422, "control"),
    ("/home/1?device=fridge", 422, "device must be one of"),
    ("/home/1?hour=25", 422, "0-23"),
    ("/home/1?hour=soon", 422, "hour"),
    ("/title/123456789", 404, "no title"),
    ("/no/such/page", 404, "nothing here"),
])  # fmt: skip
def test_bad_input_is_a_4xx_page_never_a_stack_trace(site, path, status, says):
    r = site["client"].get(path, headers=HTML)
    assert r.status_code == status
    assert says in r.text and "Traceback" not in r.text
