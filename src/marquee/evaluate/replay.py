"""Replay evaluation: a policy's value from logs of another policy's choices with known propensities.

Replay (Li, Chu, Langford & Wang, WSDM 2011) keeps the logged events where the evaluated policy
would have made the logged choice and averages their rewards; it is unbiased when the logging
policy chose uniformly at random. With known, non-uniform propensities ``p_j`` each kept event is
weighted by ``1 / p_j`` and the weights are normalised (self-normalised importance sampling):

``V = Σ_j m_j r_j / p_j  /  Σ_j m_j / p_j``,  ``m_j = 1[target_j = logged_j]``,

whose standard error is the delta method's ``sqrt(Σ_j w_j² (r_j - V)²) / Σ_j w_j``, ``w_j = m_j / p_j``.
With uniform propensities this is exactly the plain replay average.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from marquee.errors import ConfigError, DataError
from marquee.metrics.intervals import Interval

__all__ = ["ReplayEstimate", "replay"]


@dataclass(frozen=True)
class ReplayEstimate:
    """The estimated value with its normal interval, and how many logged events were used."""

    value: Interval
    n_matched: int
    n_logged: int

    @property
    def match_rate(self) -> float:
        return self.n_matched / self.n_logged


def replay(
    logged: np.ndarray,
    rewards: np.ndarray,
    target: np.ndarray,
    propensities: np.ndarray | None = None,
    *,
    level: float = 0.95,
) -> ReplayEstimate:
    """Estimate the evaluated policy's mean reward per event from a log.

    Args:
        logged: (n,) int actions the logging policy took.
        rewards: (n,) float rewards observed.
        target: (n,) int actions the evaluated policy takes in the same contexts.
        propensities: (n,) probabilities with which the logging policy took ``logged``; ``None``
            means uniform logging (plain replay).
    """
    logged, target = np.asarray(logged), np.asarray(target)
    r = np.asarray(rewards, np.float64)
    n = logged.shape[0]
    if logged.shape != (n,) or target.shape != (n,) or r.shape != (n,):
        raise ConfigError(
            f"logged, rewards and target must be (n,) arrays of one length, got {logged.shape}, {r.shape}, {target.shape}"
        )
    p = np.ones(n) if propensities is None else np.asarray(propensities, np.float64)
    if p.shape != (n,) or not np.all((p > 0) & (p <= 1)):
        raise ConfigError(
            "propensities must be an (n,) array of probabilities in (0, 1]; log the logging policy's probability of each choice"
        )
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    w = (logged == target) / p
    matched = int(np.count_nonzero(w))
    if matched == 0:
        raise DataError(
            "no logged choice matches the evaluated policy's; replay needs logs where the logging policy explored (e.g. uniformly)"
        )
    value = float(w @ r / w.sum())
    se = float(np.sqrt(np.sum(w**2 * (r - value) ** 2)) / w.sum())
    z = float(stats.norm.ppf(0.5 + level / 2))
    return ReplayEstimate(Interval(value, value - z * se, value + z * se, level), matched, n)
