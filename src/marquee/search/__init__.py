"""Title search: typo-tolerant, as-you-type, over a catalog's titles, alternative titles, genres and years.

``SearchIndex().build(catalog).search("shawshnak redemp", k=10)`` -> :class:`SearchHits` (title ids, scores,
matched fields). Queries are parsed leniently (:class:`Query`); :mod:`marquee.search.evaluate` generates a
query set from a catalog and scores hit@1, hit@10 and MRR per query kind.
"""

from __future__ import annotations

from marquee.search.index import SearchConfig, SearchHits, SearchIndex, catalog_fingerprint
from marquee.search.personalize import BlendConfig, Personalized, SearchLog, SearchRanks
from marquee.search.query import Query, QueryWord, TypoBudget, normalize, tokenize

__all__ = [
    "BlendConfig",
    "Personalized",
    "Query",
    "QueryWord",
    "SearchConfig",
    "SearchHits",
    "SearchIndex",
    "SearchLog",
    "SearchRanks",
    "TypoBudget",
    "catalog_fingerprint",
    "normalize",
    "tokenize",
]
