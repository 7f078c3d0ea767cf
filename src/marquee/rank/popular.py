"""MostPopular: rank titles by how many members watched them, optionally decayed by age."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.data.interactions import Interactions
from marquee._validate import require
from marquee.rank.base import Recommender

__all__ = ["MostPopular", "MostPopularConfig"]


@dataclass(frozen=True)
class MostPopularConfig:
    """Args:
    half_life_days: with a value, an interaction ``d`` days before the newest one counts
        ``0.5 ** (d / half_life_days)``; ``None`` counts every interaction as 1.
    """

    half_life_days: float | None = None

    def __post_init__(self) -> None:
        h = self.half_life_days
        require(h is None or (isinstance(h, int | float) and h > 0), "MostPopularConfig", "half_life_days", "None or > 0", h)


class MostPopular(Recommender):
    """Popularity, the baseline every ranker must beat; with a half-life it follows trends.

    ``score(u, i) = sum over interactions with i of 0.5 ** ((t_max - t) / half_life)``,
    the same for every member.
    """

    Config = MostPopularConfig
    name = "popular"

    def _fit(self, data: Interactions) -> None:
        weights = None
        if self.config.half_life_days is not None:
            age_days = (data.timestamps.max() - data.timestamps) / 86400.0
            weights = 0.5 ** (age_days / self.config.half_life_days)
        self.popularity_ = np.bincount(data.title_idx, weights=weights, minlength=data.n_titles).astype(np.float32)

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.broadcast_to(self.popularity_, (len(member_idx), self.popularity_.size))

    def _state(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.popularity_ = state["popularity"]
