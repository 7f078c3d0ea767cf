"""EASE: a closed-form linear item-item autoencoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from marquee.data.interactions import Interactions
from marquee._validate import positive
from marquee.rank.base import Recommender

__all__ = ["EASE", "EASEConfig"]


@dataclass(frozen=True)
class EASEConfig:
    """Args:
    l2: ridge penalty lambda on the item-item weights.
    """

    l2: float = 500.0

    def __post_init__(self) -> None:
        positive(self, "l2")


class EASE(Recommender):
    """Embarrassingly Shallow Autoencoder (Steck, WWW 2019).

    ``B = argmin ||X - XB||² + λ||B||²  s.t. diag(B) = 0`` has the closed form
    ``P = (XᵀX + λI)⁻¹, B = I - P · diagMat(1 / diag(P))``; scores are ``X_u B``.
    Memory and time grow with the square and cube of the catalog size: fine to ~50k titles.
    """

    Config = EASEConfig
    name = "ease"

    def _fit(self, data: Interactions) -> None:
        x = self.seen_
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.config.l2
        # The Gram matrix plus a positive ridge is symmetric positive definite: Cholesky inverse.
        p = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram, lower=True, check_finite=False), np.eye(gram.shape[0]), check_finite=False)
        b = p / (-np.diag(p))
        b[np.diag_indices_from(b)] = 0.0
        # C order: the Cholesky solve returns a Fortran-ordered matrix, and a sparse row times a Fortran-ordered
        # matrix copies the whole matrix on every call.
        self.weights_ = np.ascontiguousarray(b, dtype=np.float32)

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.asarray(self.seen_[member_idx] @ self.weights_, dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.weights_ = np.ascontiguousarray(state["weights"])
