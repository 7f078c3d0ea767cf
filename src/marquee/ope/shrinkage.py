"""Doubly robust estimation with optimistic shrinkage (DRos)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marquee._validate import require
from marquee.ope import _tuning
from marquee.ope.base import Estimator, EstimatorConfig, Rounds, Terms, weight_diagnostics

__all__ = ["DRShrinkage", "DRShrinkageConfig"]


@dataclass(frozen=True)
class DRShrinkageConfig(EstimatorConfig):
    """Args:
    shrinkage: ``lambda`` in ``ŵ = lambda w / (w² + lambda)``; ``None`` tunes it by estimated MSE
        over squared quantiles of the weights; ``math.inf`` is DR.
    bias_bound: use the empirical-Bernstein upper bound of the bias when tuning.
    """

    shrinkage: float | None = None
    bias_bound: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.shrinkage is None or (isinstance(self.shrinkage, int | float) and self.shrinkage > 0),
            type(self).__name__, "shrinkage", "None or > 0", self.shrinkage,
        )  # fmt: skip


def _shrink(weight: np.ndarray, lam: float) -> np.ndarray:
    if math.isinf(lam):
        return weight
    return lam * weight / (weight**2 + lam)


class DRShrinkage(Estimator):
    """Doubly robust with optimistic shrinkage, DRos (Su, Dimakopoulou, Krishnamurthy & Dudík, ICML 2020).

    ``V = (1/n) sum_i [ sum_a pi(a|x_i) q(x_i, a) + ŵ_i (r_i - q(x_i, a_i)) ]`` with
    ``ŵ = lambda w / (w² + lambda)``, the weight that minimises a bound on the MSE when the
    reward model is trusted ("optimistic"). Small weights are nearly kept, large ones shrunk
    towards 0; ``lambda = inf`` is DR. With ``shrinkage=None`` lambda is tuned by estimated MSE.
    """

    Config = DRShrinkageConfig
    name = "dr_os"
    uses_reward_model = True

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        lam = self.config.shrinkage
        if lam is None:
            candidates = [q * q for q in _tuning.weight_quantiles(rounds.weight)]
            lam = _tuning.select(rounds, candidates, _shrink, bias_bound=self.config.bias_bound)
        w = _shrink(rounds.weight, lam)
        diag = weight_diagnostics(rounds.weight) | {"shrinkage": lam if math.isfinite(lam) else -1.0}
        return Terms(rounds.direct + w * (rounds.reward - rounds.q_logged)), diag
