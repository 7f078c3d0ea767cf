"""GET /v1/search: personalised title search over HTTP, bad input refused in the service's error shape, metrics."""

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from marquee.data import Catalog, Interactions
from marquee.rank import EASE, MostPopular
from marquee.search import Personalized, SearchIndex, SearchLog
from marquee.serve import ModelRegistry
from marquee.serve.app import Service, create_app
from marquee.serve.router import Router
from marquee.serve.search import TitleSearch

STARS = ["Star Ax", "Star Bx", "Star Cx", "Star Dx"]  # titles 1-4: equal text relevance for "star"


@pytest.fixture(scope="module")
def world():
    """Member m (1..40) watched star 1 + m % 4 and its companion 5 + m % 4; members 41..60 watched star 2
    (the most popular) with a companion. Searches for "st"/"star" mostly end in the member's own star."""
    catalog = Catalog.from_arrays(np.arange(1, 9), names=[*STARS, "Moon One", "Moon Two", "Dark Night", "Dawn"])
    members, titles = [], []
    for m in range(1, 61):
        members += [m, m]
        titles += [1 + m % 4 if m <= 40 else 2, 5 + m % 4]
    data = Interactions.from_arrays(members, titles, np.arange(len(members)), catalog=catalog)
    ranker = EASE(l2=1.0).fit(data)
    rng = np.random.default_rng(0)
    who = rng.integers(1, 41, 400)
    played = np.where(rng.random(400) < 0.85, 1 + who % 4, 2)
    log = SearchLog(tuple(rng.choice(["st", "sta", "star"], 400).tolist()), who, played)
    engine = Personalized(SearchIndex().build(catalog), ranker).fit(log)
    return data, TitleSearch(engine, "EASE fitted in the test")


def make_client(tmp_path, data, search):
    service = Service(Router(MostPopular().fit(data)), ModelRegistry(tmp_path / "reg"), search=search)
    return TestClient(create_app(service))


@pytest.fixture
def client(tmp_path, world):
    data, search = world
    with make_client(tmp_path, data, search) as c:
        yield c


def test_search_answers_titles_with_their_matched_fields(client):
    r = client.get("/v1/search", params={"q": "moon", "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"query", "member_id", "personalized", "results", "warnings", "ranker", "latency_ms"}
    assert body["query"] == "moon" and body["member_id"] is None and body["personalized"] is False
    assert body["ranker"] == "EASE fitted in the test" and body["warnings"] == [] and body["latency_ms"] >= 0
    assert {hit["title"] for hit in body["results"][:2]} == {"Moon One", "Moon Two"}
    first = body["results"][0]
    assert set(first) == {"title_id", "title", "score", "matched_fields"} and "title" in first["matched_fields"]


def test_member_gets_their_favourite_of_text_tied_titles(client):
    anonymous = client.get("/v1/search", params={"q": "star", "k": 4}).json()
    assert anonymous["results"][0]["title_id"] == 2  # the most popular star
    for member in (4, 7):  # watched star 1 + member % 4
        body = client.get("/v1/search", params={"q": "star", "k": 4, "member_id": member}).json()
        assert body["personalized"] is True and body["member_id"] == member
        assert body["results"][0]["title_id"] == 1 + member % 4
        assert sorted(hit["title_id"] for hit in body["results"]) == [1, 2, 3, 4]


@pytest.mark.parametrize("member", ["999", "nobody", "4x"])
def test_unknown_member_gets_the_non_personalised_answer(client, member):
    anonymous = client.get("/v1/search", params={"q": "star", "k": 4}).json()
    body = client.get("/v1/search", params={"q": "star", "k": 4, "member_id": member}).json()
    assert body["personalized"] is False and body["member_id"] == (int(member) if member.isdigit() else member)
    assert body["results"] == anonymous["results"]


def test_a_long_query_is_cut_with_a_warning(client):
    r = client.get("/v1/search", params={"q": "star " * 2000})  # 10 kB
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["query"]) == 256 and any("cut to its first 256 of 10000 characters" in w for w in body["warnings"])


@pytest.mark.parametrize(
    ("query", "status", "code", "pattern"),
    [
        ("", 422, "invalid_request", "Missing required parameter"),
        ("q=", 422, "empty_query", "the query is empty"),
        ("q=%20%20%20", 422, "empty_query", "the query is empty"),
        ("q=%21%3F%21", 422, "empty_query", "no letter or digit"),
        ("q=st%00ar", 422, "invalid_query", r"control character '\\x00'"),
        ("q=st%09ar", 422, "invalid_query", r"control character '\\t'"),
        ("q=st%E2%80%8Bar", 422, "invalid_query", r"control character '\\u200b'"),
        ("q=star&k=0", 422, "invalid_request", "<= 100, got 0 - at query parameter `k`"),
        ("q=star&k=101", 422, "invalid_request", "at query parameter `k`"),
        ("q=star&k=-3", 422, "invalid_request", "at query parameter `k`"),
        ("q=star&k=ten", 422, "invalid_request", "Expected `int`, got 'ten' - at query parameter `k`"),
        ("q=star&k=1.5", 422, "invalid_request", "at query parameter `k`"),
        ("q=star&member_id=", 422, "invalid_request", "at query parameter `member_id`"),
        ("q=star&member_id=-1", 422, "invalid_request", "Expected `int` >= 0 - at query parameter `member_id`"),
        ("q=star&member_id=99999999999999999999999", 422, "invalid_request", "<= 9223372036854775807"),
        ("q=star&member_id=" + "m" * 257, 422, "invalid_request", "length <= 256"),
        ("q=star&member_id=m%0A", 422, "invalid_request", "printable"),
        ("q=star&colour=red", 422, "invalid_request", "Unknown parameter.* - at query parameter `colour`"),
        ("q=star&q=moon", 422, "invalid_request", "more than once; give it once - at query parameter `q`"),
        ("q=st%FFar", 400, "malformed_query", "not UTF-8"),
    ],
)
def test_bad_input_is_a_json_error_that_says_what_is_wrong(client, query, status, code, pattern):
    r = client.get("/v1/search?" + query)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] == code
    assert re.search(pattern, body["detail"]), body["detail"]


def test_other_methods_are_refused_in_the_same_shape(client):
    r = client.post("/v1/search", json={"q": "star"})
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_metrics_count_requests_by_status_and_time_searches(client):
    client.get("/v1/search", params={"q": "star", "member_id": 4})
    client.get("/v1/search", params={"q": "star"})
    client.get("/v1/search", params={"q": ""})
    text = client.get("/metrics").text
    assert 'marquee_requests_total{endpoint="/v1/search",status="200"} 2.0' in text
    assert 'marquee_requests_total{endpoint="/v1/search",status="422"} 1.0' in text
    assert 'marquee_search_latency_seconds_count{personalized="true"} 1.0' in text
    assert 'marquee_search_latency_seconds_count{personalized="false"} 1.0' in text


def cache_counts(client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {o: float(v) for o, v in re.findall(r'marquee_search_cache_total\{outcome="(\w+)"\} (\S+)', text)}


def test_metrics_count_text_cache_hits_and_misses(client):
    before = cache_counts(client)
    assert set(before) == {"hit", "miss"}
    q = "moon tw"  # searched by no other test
    for member in (4, 5, None):
        assert client.get("/v1/search", params={"q": q, **({"member_id": member} if member else {})}).status_code == 200
    after = cache_counts(client)
    assert after["miss"] - before["miss"] == 1 and after["hit"] - before["hit"] == 2


def test_the_endpoint_is_documented(client):
    params = {p["name"] for p in client.get("/openapi.json").json()["paths"]["/v1/search"]["get"]["parameters"]}
    assert params == {"q", "member_id", "k"}


def test_a_service_without_search_answers_404_no_search(tmp_path, world):
    data, _ = world
    with make_client(tmp_path, data, None) as client:
        r = client.get("/v1/search", params={"q": "star"})
        assert r.status_code == 404
        assert r.json()["error"] == "no_search" and "not configured" in r.json()["detail"]
        r = client.get("/v1/search", params={"q": ""})  # bad input is still named as such
        assert r.status_code == 422 and r.json()["error"] == "empty_query"
