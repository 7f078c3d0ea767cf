"""Does a candidate policy beat the logging policy? Off-policy estimates of the difference, with intervals.

The logging policy's value is its on-policy mean reward, ``mean(r)``, estimated on the same rounds
as the candidate's, so the difference of the two is again an estimator of the one form every
estimator here has, ``mean(base - r) + sum(num) / sum(den)``. Its bootstrap resamples rounds once
for both terms (the pairing keeps their strong correlation), and its analytic interval comes
from the same influence function. The verdict reads the difference's interval: above 0, the
candidate beats the logging policy; below 0, it is worse; otherwise inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from marquee.data.feedback import LoggedFeedback
from marquee.metrics.intervals import Interval
from marquee.ope.base import Estimate, Estimator, Rounds, Terms, at_positions

__all__ = ["Comparison", "compare"]

Verdict = Literal["beats", "worse", "inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """One estimator's view of candidate vs logging policy.

    Attributes:
        estimate: the candidate's estimated value (with its intervals).
        current: the logging policy's on-policy value ``mean(r)`` (bootstrap interval).
        difference: candidate minus current, with its paired bootstrap interval.
        difference_analytic: the normal-approximation interval of the difference.
        verdict: ``"beats"`` (difference interval above 0), ``"worse"`` (below 0) or ``"inconclusive"``.
    """

    estimate: Estimate
    current: Interval
    difference: Interval
    difference_analytic: Interval
    verdict: Verdict

    @property
    def estimator(self) -> str:
        return self.estimate.estimator

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate.to_dict(), "current": self.current.to_dict(), "difference": self.difference.to_dict(),
            "difference_analytic": self.difference_analytic.to_dict(), "verdict": self.verdict,
        }  # fmt: skip


def _interval(terms: Terms, n_bootstrap: int, level: float, seed: int) -> tuple[Interval, Interval]:
    value = terms.value()
    alpha = (1 - level) / 2
    lo, hi = np.quantile(terms.bootstrap(n_bootstrap, seed), [alpha, 1 - alpha])
    n = terms.base.shape[0]
    se = float(terms.influence().std(ddof=1)) / math.sqrt(n) if n > 1 else float("nan")
    z = float(stats.norm.ppf(1 - alpha))
    return Interval(value, float(lo), float(hi), level), Interval(value, value - z * se, value + z * se, level)


def compare(data: LoggedFeedback, action_dist: Any, estimators: Sequence[Estimator], *, reward_hat: Any = None) -> list[Comparison]:
    """Estimate a candidate policy's value and its difference from the logging policy's.

    Args:
        data: the logging policy's rounds.
        action_dist: (n, n_actions[, n_positions]) the candidate's action probabilities per round.
        estimators: e.g. ``[SNIPS(), DoublyRobust()]``; each uses its own ``n_bootstrap``, ``level`` and ``seed``.
        reward_hat: (n, n_actions[, n_positions]) cross-fitted predictions, for estimators that need them.
    Returns:
        One :class:`Comparison` per estimator, in order.
    """
    pi = at_positions(data, action_dist, "action_dist", distribution=True)
    q = None if reward_hat is None else at_positions(data, reward_hat, "reward_hat", distribution=False)
    n = len(data)
    action = np.asarray(data.action)
    reward = np.asarray(data.reward)
    rounds = Rounds(reward, action, pi[np.arange(n), action] / data.propensity, pi, q)
    out = []
    for est in estimators:
        estimate = est.estimate(data, pi, q)
        terms, _ = est.terms(rounds)
        cfg = est.config
        current, _ = _interval(Terms(reward), cfg.n_bootstrap, cfg.level, cfg.seed)
        diff = Terms(terms.base - reward, terms.num, terms.den)
        boot, analytic = _interval(diff, cfg.n_bootstrap, cfg.level, cfg.seed)
        verdict: Verdict = "beats" if boot.low > 0 else "worse" if boot.high < 0 else "inconclusive"
        out.append(Comparison(estimate, current, boot, analytic, verdict))
    return out
