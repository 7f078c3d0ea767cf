"""Doubly robust estimation with optimistic shrinkage (DRos)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marquee.ope import _tuning

__all__ = ["DRShrinkage", "DRShrinkageConfig"]


@dataclass(frozen=True)
class DRShrinkageConfig(_tuning.TunedConfig):
    """Args:
    shrinkage: ``lambda`` in ``ŵ = lambda w / (w² + lambda)``; ``None`` tunes it by ``tuning``
        over 0 (DM), squared quantiles of the weights and ``inf``; ``math.inf`` is DR.
    """

    shrinkage: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_knob("shrinkage")


def _shrink(weight: np.ndarray, lam: float) -> np.ndarray:
    if math.isinf(lam):
        return weight
    if lam == 0:
        return np.zeros_like(weight)
    return lam * weight / (weight**2 + lam)


class DRShrinkage(_tuning.TunedDR):
    """Doubly robust with optimistic shrinkage, DRos (Su, Dimakopoulou, Krishnamurthy & Dudík, ICML 2020).

    ``V = (1/n) sum_i [ sum_a pi(a|x_i) q(x_i, a) + ŵ_i (r_i - q(x_i, a_i)) ]`` with
    ``ŵ = lambda w / (w² + lambda)``, the weight that minimises a bound on the MSE when the
    reward model is trusted ("optimistic"). Small weights are nearly kept, large ones shrunk
    towards 0; ``lambda = inf`` is DR. With ``shrinkage=None`` lambda is tuned on the log
    (SLOPE++ by default, :mod:`marquee.ope._tuning`).
    """

    Config = DRShrinkageConfig
    name = "dr_os"
    knob = "shrinkage"
    modify = staticmethod(_shrink)

    def candidates(self, weight: np.ndarray) -> list[float]:
        return [q * q for q in _tuning.weight_quantiles(weight)]
