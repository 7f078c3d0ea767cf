import numpy as np
import pytest

from marquee.data import Catalog
from marquee.errors import ArtifactError, ConfigError, DataError, NotFittedError
from marquee.search import SearchConfig, SearchIndex, TypoBudget, catalog_fingerprint

NAMES = [
    "Toy Story (1995)",
    "Shawshank Redemption, The",
    "Spider-Man",
    "Batman Returns",
    "Star Wars",
    "Star Trek: Generations",
    "Stargate",
    "Heat",
    "Heat and Dust",
    "Amélie (Fabuleux destin d'Amélie Poulain, Le)",
    "Godfather, The",
    "Godfather: Part II, The",
    "Independence Day (ID4)",
    "Sense and Sensibility",
    "Jurassic Park",
    "Lost World: Jurassic Park, The",
]
GENRES = [["Animation"], ["Drama"], ["Action"], ["Action"], ["Sci-Fi"], ["Sci-Fi"], ["Sci-Fi"], ["Crime"], ["Drama"],
          ["Comedy"], ["Crime"], ["Crime"], ["Action"], ["Drama"], ["Adventure"], ["Adventure"]]  # fmt: skip


@pytest.fixture(scope="module")
def catalog():
    return Catalog.from_arrays(np.arange(10, 10 + len(NAMES)), names=NAMES, years=[1995] * len(NAMES), genres=GENRES)


@pytest.fixture(scope="module")
def index(catalog):
    return SearchIndex().build(catalog)


def top(index, catalog, query, k=3):
    return catalog.names(index.search(query, k).title_ids)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("toy story", "Toy Story (1995)"),
        ("the shawshank redemption", "Shawshank Redemption, The"),
        ("shawshank", "Shawshank Redemption, The"),
        ("shawshnak", "Shawshank Redemption, The"),  # 9 letters: 2 typos, a swap is one
        ("sahwshank redmeption", "Shawshank Redemption, The"),
        ("jurasic park", "Jurassic Park"),  # deletion in an 8-letter word: one typo
        ("amelie", "Amélie (Fabuleux destin d'Amélie Poulain, Le)"),  # accents folded
        ("AMÉLIE", "Amélie (Fabuleux destin d'Amélie Poulain, Le)"),
        ("fabuleux destin", "Amélie (Fabuleux destin d'Amélie Poulain, Le)"),  # alternative title
        ("id4", "Independence Day (ID4)"),
        ("spiderman", "Spider-Man"),  # join
        ("bat man", "Batman Returns"),  # split
        ("godfather part", "Godfather: Part II, The"),
    ],
)
def test_finds(index, catalog, query, first):
    assert top(index, catalog, query)[0] == first


def test_typo_budget_at_length_boundaries(catalog):
    names = ["Abcd", "Abcde", "Abcdefgh", "Abcdefghi"]
    c = Catalog.from_arrays([1, 2, 3, 4], names=names)
    index = SearchIndex().build(c)

    def hit(query, name):
        return name in c.names(index.search(query + " ", 10).title_ids)  # trailing space: not a prefix

    assert hit("abcd", "Abcd") and not hit("abce", "Abcd")  # 4 letters: no typo
    assert hit("abcdx", "Abcde") and not hit("abcxy", "Abcde")  # 5: one typo
    assert hit("abcdefgx", "Abcdefgh") and not hit("abcdefxy", "Abcdefgh")  # 8: one typo
    assert hit("abcdefgxy", "Abcdefghi") and not hit("abcdefxyz", "Abcdefghi")  # 9: two typos
    assert hit("bacde", "Abcde")  # a transposition is one edit
    assert hit("bacdefhgi", "Abcdefghi")  # two transpositions in 9 letters


def test_prefix_as_you_type(index, catalog):
    assert top(index, catalog, "toy st", 1) == ["Toy Story (1995)"]
    assert top(index, catalog, "star", 3) == ["Stargate", "Star Wars", "Star Trek: Generations"]
    assert top(index, catalog, "star w", 1) == ["Star Wars"]
    assert top(index, catalog, "shawshnk red", 1) == ["Shawshank Redemption, The"]  # typo in the prefix word
    # A finished word is not a prefix.
    assert "Stargate" not in top(index, catalog, "star ", 10)


def test_ranking_rules(index, catalog):
    # Exact whole title before a longer one (exactness, then shorter first).
    assert top(index, catalog, "heat ", 2) == ["Heat", "Heat and Dust"]
    # Word order: both words in order and adjacent first.
    assert top(index, catalog, "jurassic park", 2) == ["Jurassic Park", "Lost World: Jurassic Park, The"]
    # Title above genre.
    c = Catalog.from_arrays([1, 2], names=["Something Else", "Drama Queen"], genres=[["Drama"], ["Comedy"]])
    hits = SearchIndex().build(c).search("drama", 2)
    assert list(hits.title_ids) == [2, 1] and hits.matched_fields == (("title",), ("genres",))
    # More words matched beat fewer typos.
    assert top(index, catalog, "sense and sensibilty", 1) == ["Sense and Sensibility"]


def test_hits_carry_ids_scores_and_fields(index, catalog):
    hits = index.search("toy story 1995", 5)
    assert hits.title_ids[0] == 10 and hits.positions[0] == 0
    assert hits.matched_fields[0] == ("title", "year")
    assert np.all(np.diff(hits.scores) <= 0) and hits.words[0] == 3 and hits.typos[0] == 0
    assert len(hits) <= 5


def test_genre_search(index, catalog):
    assert set(top(index, catalog, "crime", 10)) == {"Heat", "Godfather, The", "Godfather: Part II, The"}


def test_rescore_hook_reorders(index, catalog):
    boost = lambda positions, scores: scores + (positions == 5) * 10.0
    assert top(index, catalog, "star", 1) == ["Stargate"]
    assert catalog.names(index.search("star", 1, rescore=boost).title_ids) == ["Star Trek: Generations"]
    with pytest.raises(ConfigError, match="rescore must return shape"):
        index.search("star", 1, rescore=lambda p, s: s[:1])


@pytest.mark.parametrize("query", ["", "   ", "\x00\x1b[2J", "!!!", "é" * 10_000, "star " * 2_000, "\U0001f600 emoji"])
def test_bad_input_never_crashes(index, query):
    hits = index.search(query, 10)
    assert len(hits) <= 10 and len(hits.title_ids) == len(hits.scores) == len(hits.matched_fields)
    if not hits.query.words:
        assert len(hits) == 0 and hits.warnings


def test_bad_arguments(index, catalog):
    with pytest.raises(ConfigError, match="k must be an int >= 1"):
        index.search("star", 0)
    with pytest.raises(DataError, match="query must be a str"):
        index.search(None)  # type: ignore[arg-type]
    with pytest.raises(NotFittedError, match=r"call build\(catalog\) first"):
        SearchIndex().search("star")
    with pytest.raises(DataError, match="takes a marquee.data.Catalog"):
        SearchIndex().build(NAMES)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="fields"):
        SearchConfig(fields=("title", "plot"))
    with pytest.raises(ConfigError, match="candidates"):
        SearchIndex(candidates=0)


def test_config_round_trip_and_options(catalog):
    index = SearchIndex(typos=TypoBudget(one_from=4, two_from=8), fields=("title",)).build(catalog)
    assert "Heat" in catalog.names(index.search("haet ", 5).title_ids)  # 4 letters may now hold a typo
    assert len(index.search("crime", 5)) == 0  # genres not indexed


def test_save_load_round_trip(index, catalog, tmp_path):
    index.save(tmp_path / "idx")
    loaded = SearchIndex.load(tmp_path / "idx", catalog)
    for q in ("shawshnak", "star", "spiderman", "toy story 1995"):
        a, b = index.search(q), loaded.search(q)
        assert list(a.title_ids) == list(b.title_ids) and np.allclose(a.scores, b.scores)
        assert a.matched_fields == b.matched_fields
    assert loaded.config == index.config


def test_load_refuses_another_catalog(index, tmp_path):
    index.save(tmp_path / "idx")
    other = Catalog.from_arrays([1], names=["Something"])
    with pytest.raises(ArtifactError, match="built from catalog .* rebuild it"):
        SearchIndex.load(tmp_path / "idx", other)
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        SearchIndex.load(tmp_path / "nothing", other)


def test_fingerprint_tracks_content(catalog):
    same = Catalog.from_arrays(np.arange(10, 10 + len(NAMES)), names=NAMES, years=[1995] * len(NAMES), genres=GENRES)
    renamed = Catalog.from_arrays(np.arange(10, 10 + len(NAMES)), names=[*NAMES[:-1], "X"], years=[1995] * len(NAMES), genres=GENRES)
    assert catalog_fingerprint(catalog) == catalog_fingerprint(same) != catalog_fingerprint(renamed)


def test_empty_and_nameless_catalogs():
    c = Catalog.from_arrays([1, 2], names=[None, "Heat"])
    index = SearchIndex().build(c)
    assert list(index.search("heat").title_ids) == [2]
    assert len(SearchIndex().build(Catalog.from_arrays([])).search("heat")) == 0


def test_text_stage_cache_gives_the_same_answers_and_counts_hits(catalog):
    cached, cold = SearchIndex(cache_queries=8).build(catalog), SearchIndex(cache_queries=0).build(catalog)
    queries = ["st", "sta", "star", "star w", "sta", "jurasic", "st", "heat", "the god", "st"] * 2

    def same(a, b):
        assert a.title_ids.tolist() == b.title_ids.tolist() and a.scores.tolist() == b.scores.tolist()
        assert a.words.tolist() == b.words.tolist() and a.typos.tolist() == b.typos.tolist()
        assert a.matched_fields == b.matched_fields

    for q in queries:
        same(cached.search(q, 5), cold.search(q, 5))
    hits, misses = cached.cache_info()
    assert hits + misses == len(queries) and hits >= len(queries) - 8  # 8 distinct queries: the rest are hits
    assert cold.cache_info() == (0, len(queries))  # no cache: every search computed
    # A hook runs on every search, cached or not, and a hook's order never leaks into the cache.
    first = cached.search("star", 4).title_ids.tolist()
    flipped = cached.search("star", 4, rescore=lambda pos, s: pos.astype(float)).title_ids.tolist()
    assert flipped == sorted(first, reverse=True) and cached.search("star", 4).title_ids.tolist() == first
    # The cached arrays are shared, so they are read-only.
    hit = cached.search("star", 4)
    with pytest.raises(ValueError):
        hit.scores[0] = 1.0
    cached.cache_clear()
    assert cached.cache_info() == (0, 0)
    with pytest.raises(ConfigError, match="cache_queries"):
        SearchIndex(cache_queries=-1)


def test_candidates_option_widens_the_reranked_set(catalog):
    index = SearchIndex(candidates=2).build(catalog)
    assert len(index.search("star", 10)) == 3  # never fewer than k: 3 titles start with "star"
    prefer_last = lambda pos, s: pos.astype(float)
    assert index.search("sta", 1, rescore=prefer_last, candidates=50).positions[0] == 6  # "Stargate": the last of the 3
    with pytest.raises(ConfigError, match="candidates"):
        index.search("star", 3, candidates=0)


def test_cached_queries_leave_nothing_for_the_garbage_collector(catalog):
    """The caches hold tuples of atoms and arrays, which the collector stops tracking: thousands of cached
    objects it had to scan made each full collection a long pause on the serving path."""
    import gc

    for q in ("toy st", "shawshnak redemp", "jurasic park"):  # first calls compile and load what searches use
        SearchIndex().build(catalog).search(q, 5)
    index = SearchIndex().build(catalog)
    queries = sorted({name.lower()[:n] for name in NAMES for n in range(2, len(name) + 1)})
    assert len(queries) > 200
    gc.collect()
    before = len(gc.get_objects())
    for q in queries:
        index.search(q, 5)
    gc.collect()
    distinct = len({index.parse(q).words for q in queries})
    assert index.cache_info()[1] == distinct > 200  # each distinct one computed and cached
    # What stays tracked is about one tantivy clause per distinct word (1.6 per query here); cached dataclass
    # keys and matches left over 7 per query.
    assert len(gc.get_objects()) - before < 2.5 * distinct
