"""Rankers: one API (``fit(data) -> self``, ``score``, ``recommend``, ``save``/``load``)."""

from marquee.rank.base import Recommendations, Recommender, top_k
from marquee.rank.ease import EASE, EASEConfig
from marquee.rank.knn import ItemKNN, ItemKNNConfig
from marquee.rank.mf import ALS, BPR, ALSConfig, BPRConfig
from marquee.rank.popular import MostPopular, MostPopularConfig
from marquee.rank.sasrec import SASRec, SASRecConfig

#: Registry names of the rankers, as the CLI and configuration files spell them.
RANKERS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (MostPopular, ItemKNN, EASE, ALS, BPR, SASRec)
}

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "RANKERS",
    "ALSConfig",
    "BPRConfig",
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
