"""Rankers: one API (``fit(data) -> self``, ``score``, ``recommend``, ``save``/``load``).

``import marquee.rank`` stays cheap: SASRec (and so torch) is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from marquee.rank.base import Recommendations, Recommender, top_k
from marquee.rank.context import ContextReranker, ContextRerankerConfig, ContextStage
from marquee.rank.ease import EASE, EASEConfig
from marquee.rank.knn import ItemKNN, ItemKNNConfig
from marquee.rank.mf import ALS, BPR, ALSConfig, BPRConfig
from marquee.rank.popular import MostPopular, MostPopularConfig

if TYPE_CHECKING:
    from marquee.rank.sasrec import SASRec, SASRecConfig

_LAZY = {"SASRec": "marquee.rank.sasrec", "SASRecConfig": "marquee.rank.sasrec"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'marquee.rank' has no attribute {name!r}")


class _Rankers(Mapping[str, type[Recommender]]):
    """Registry names -> ranker classes, importing each class's module on first lookup."""

    _paths = {
        "popular": "marquee.rank.popular:MostPopular",
        "item_knn": "marquee.rank.knn:ItemKNN",
        "ease": "marquee.rank.ease:EASE",
        "als": "marquee.rank.mf:ALS",
        "bpr": "marquee.rank.mf:BPR",
        "sasrec": "marquee.rank.sasrec:SASRec",
    }

    def __getitem__(self, name: str) -> type[Recommender]:
        module, _, cls = self._paths[name].partition(":")
        return getattr(importlib.import_module(module), cls)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


#: Registry names of the rankers, as the CLI and configuration files spell them.
RANKERS: Mapping[str, type[Recommender]] = _Rankers()

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "RANKERS",
    "ALSConfig",
    "BPRConfig",
    "ContextReranker",
    "ContextRerankerConfig",
    "ContextStage",
    "EASEConfig",
    "ItemKNN",
    "ItemKNNConfig",
    "MostPopular",
    "MostPopularConfig",
    "Recommendations",
    "Recommender",
    "SASRec",
    "SASRecConfig",
    "top_k",
]
