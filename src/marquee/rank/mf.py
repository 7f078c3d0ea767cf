"""Matrix factorisation for implicit feedback through ``implicit``: ALS and BPR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from marquee.data.interactions import Interactions
from marquee._validate import ints, non_negative, positive
from marquee.rank.base import Recommender

__all__ = ["ALS", "ALSConfig", "BPR", "BPRConfig"]


class _FactorModel(Recommender):
    """Scores are ``U[u] · V[i]``; subclasses build ``implicit``'s model and train it."""

    def score_index(self, member_idx: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.member_factors_[member_idx] @ self.title_factors_.T

    def _adopt(self, model: object) -> None:
        self.member_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)  # type: ignore[attr-defined]
        self.title_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)  # type: ignore[attr-defined]

    def _state(self) -> dict[str, np.ndarray]:
        return {"member_factors": self.member_factors_, "title_factors": self.title_factors_}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.member_factors_, self.title_factors_ = state["member_factors"], state["title_factors"]
        if self.title_factors_.shape[0] != len(self.titles_) or self.member_factors_.shape[0] != len(self.members_):
            raise ValueError("factor shapes do not match the saved indices")


@dataclass(frozen=True)
class ALSConfig:
    """Args:
    factors: latent dimensions.
    regularization: L2 penalty.
    alpha: confidence scaling, ``c = 1 + alpha · r``.
    iterations: ALS sweeps.
    seed: initialisation seed.
    """

    factors: int = 64
    regularization: float = 0.05
    alpha: float = 2.0
    iterations: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "factors", "iterations")
        ints(self, "seed", minimum=None)
        non_negative(self, "regularization")
        positive(self, "alpha")


class ALS(_FactorModel):
    """Weighted matrix factorisation by alternating least squares (Hu, Koren & Volinsky, ICDM 2008),
    with ``implicit``'s conjugate-gradient solver."""

    Config = ALSConfig
    name = "als"

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        c = self.config
        # implicit runs its own thread pool; BLAS threads on top of it only contend (its advice).
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=c.factors, regularization=c.regularization, alpha=c.alpha, iterations=c.iterations, random_state=c.seed
            )
            model.fit(self.seen_, show_progress=False)
        self._adopt(model)


@dataclass(frozen=True)
class BPRConfig:
    """Args:
    factors: latent dimensions (implicit adds one for the title bias).
    learning_rate: SGD step.
    regularization: L2 penalty.
    iterations: epochs over the interactions.
    seed: initialisation and sampling seed.
    """

    factors: int = 64
    learning_rate: float = 0.05
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        ints(self, "factors", "iterations")
        ints(self, "seed", minimum=None)
        non_negative(self, "regularization")
        positive(self, "learning_rate")


class BPR(_FactorModel):
    """Bayesian Personalised Ranking (Rendle et al., UAI 2009) by ``implicit``'s Hogwild SGD."""

    Config = BPRConfig
    name = "bpr"

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        c = self.config
        model = BayesianPersonalizedRanking(
            factors=c.factors,
            learning_rate=c.learning_rate,
            regularization=c.regularization,
            iterations=c.iterations,
            random_state=c.seed,
        )
        with threadpool_limits(1, "blas"):
            model.fit(self.seen_, show_progress=False)
        self._adopt(model)
