"""ItemKNN: item-item cosine neighbourhoods (similarities from ``implicit``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from marquee.data.interactions import Interactions
from marquee._validate import ints
from marquee.rank.base import Recommender

__all__ = ["ItemKNN", "ItemKNNConfig"]


@dataclass(frozen=True)
class ItemKNNConfig:
    """Args:
    neighbors: similar titles kept per title.
    """

    neighbors: int = 100

    def __post_init__(self) -> None:
        ints(self, "neighbors")


class ItemKNN(Recommender):
    """Item-based collaborative filtering (Sarwar et al., WWW 2001; Deshpande & Karypis, TOIS 2004).

    ``sim(i, j) = cos(X_:i, X_:j)`` keeping each title's ``neighbors`` most similar titles;
    ``score(u, j) = sum over i watched by u of sim(i, j)``.
    """

    Config = ItemKNNConfig
    name = "item_knn"

    def _fit(self, data: Interactions) -> None:
        from implicit.nearest_neighbours import ItemItemRecommender

        # Cosine = dot products of L2-normalised title columns; implicit keeps the top K of each.
        # (Its CosineRecommender normalises into a COO matrix and then warns about it.)
        norms = np.sqrt(np.asarray(self.seen_.power(2).sum(axis=0))).ravel()
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        normalized = sp.csr_matrix(self.seen_ @ sp.diags(inverse), dtype=np.float64)
        knn = ItemItemRecommender(K=self.config.neighbors, num_threads=1)
        knn.fit(normalized, show_progress=False)
        sim = sp.csr_matrix(knn.similarity, dtype=np.float32)
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.similarity_ = sim

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.asarray((self.seen_[member_idx] @ self.similarity_).toarray(), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"sim_indptr": s.indptr.astype(np.int64), "sim_indices": s.indices.astype(np.int64), "sim_data": s.data}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        n = len(self.titles_)
        self.similarity_ = sp.csr_matrix((state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=(n, n))
