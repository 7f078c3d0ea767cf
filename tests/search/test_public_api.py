import marquee.search


def test_exported_names():
    assert set(marquee.search.__all__) == {
        "BlendConfig", "Personalized", "Query", "QueryWord", "SearchConfig", "SearchHits", "SearchIndex", "SearchLog", "SearchRanks",
        "TypoBudget", "catalog_fingerprint", "normalize", "tokenize",
    }  # fmt: skip
    for name in marquee.search.__all__:
        assert hasattr(marquee.search, name)
