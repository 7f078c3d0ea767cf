"""Choosing a weight-modifying estimator's hyperparameter by its estimated mean squared error.

Su, Dimakopoulou, Krishnamurthy & Dudík (ICML 2020): a DR-type estimator whose weights ``w`` are
replaced by ``ŵ_θ`` (clipped by switch-DR, shrunk by DRos) drops the bias ``E[(w - ŵ_θ)(r - q)]``
and gains a smaller variance. For each candidate ``θ`` the estimated MSE is
``var(terms_θ) / n + B_θ²``, with ``B_θ`` the absolute empirical bias plus (by default) its
empirical-Bernstein deviation at ``δ = 0.05`` (Maurer & Pontil, 2009), a high-probability upper
bound that keeps the choice from trusting a bias that is small by chance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from marquee.ope.base import Rounds

DELTA = 0.05


def estimated_mse(rounds: Rounds, modified: np.ndarray, *, bias_bound: bool = True) -> float:
    n = rounds.weight.shape[0]
    residual = rounds.reward - rounds.q_logged
    terms = rounds.direct + modified * residual
    dropped = (rounds.weight - modified) * residual
    bias = abs(float(dropped.mean()))
    if bias_bound and n > 1:
        spread = float(np.abs(dropped).max())
        log_term = math.log(2 / DELTA)
        bias += math.sqrt(2 * float(dropped.var(ddof=1)) * log_term / n) + 7 * spread * log_term / (3 * (n - 1))
    return float(terms.var(ddof=1)) / n + bias**2


def select(
    rounds: Rounds, candidates: Sequence[float], modify: Callable[[np.ndarray, float], np.ndarray], *, bias_bound: bool = True
) -> float:
    """The candidate with the smallest estimated MSE (the first, on ties)."""
    scores = [estimated_mse(rounds, modify(rounds.weight, c), bias_bound=bias_bound) for c in candidates]
    return float(candidates[int(np.argmin(scores))])


def weight_quantiles(weight: np.ndarray) -> list[float]:
    """Candidate thresholds: quantiles of the positive weights, then infinity."""
    pos = weight[weight > 0]
    if pos.size == 0:
        return [math.inf]
    qs = np.quantile(pos, [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0])
    return sorted(set(float(q) for q in qs)) + [math.inf]
