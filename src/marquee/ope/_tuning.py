"""Choosing a weight-modifying estimator's hyperparameter from the log alone.

A DR-type estimator whose weights ``w`` are replaced by ``ŵ_θ`` (clipped by switch-DR, shrunk by
DRos) drops the bias ``E[(w - ŵ_θ)(r - q)]`` and gains a smaller variance. The candidates run from
the direct method (``ŵ = 0``: lowest variance, the reward model's bias) to DR (``ŵ = w``:
unbiased, highest variance). Two ways to pick one:

- ``"slope"`` (the default, as in Open Bandit Pipeline): SLOPE (Su, Srinath & Krishnamurthy, ICML
  2020) in the SLOPE++ form of Tucker & Lee (2021). Candidates are visited from the widest
  confidence bound to the narrowest; each is accepted while its estimate stays within
  ``cnf_i + C·cnf_j`` (``C = sqrt(6) - 1``) of every candidate accepted before it, and the last
  accepted one wins. Lepski's principle: trust a lower-variance estimate only while it agrees
  with the less biased ones. No bias bound is needed, so it can choose the direct method when
  the reward model agrees with DR, and DR when it does not.
- ``"mse"`` (Su, Dimakopoulou, Krishnamurthy & Dudík, ICML 2020): for each candidate,
  ``var(terms_θ) / n + B_θ²``, with ``B_θ`` the absolute empirical bias plus (``bias_bound``) its
  empirical-Bernstein deviation at ``δ = 0.05`` (Maurer & Pontil, 2009), a high-probability upper
  bound that keeps the choice from trusting a bias that is small by chance.

Nothing here looks at any truth: both rules use only the logged rounds and the reward model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import stats

from marquee._validate import require
from marquee.ope.base import Estimator, EstimatorConfig, Rounds, Terms, weight_diagnostics

DELTA = 0.05
TUNINGS = ("slope", "mse")
SLOPE_C = math.sqrt(6) - 1

Modify = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class TunedConfig(EstimatorConfig):
    """Args:
    tuning: ``"slope"`` (SLOPE++, the default) or ``"mse"`` (estimated MSE); see
        :mod:`marquee.ope._tuning`.
    bias_bound: with ``tuning="mse"``, use the empirical-Bernstein upper bound of the bias.
    """

    tuning: str = "slope"
    bias_bound: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.tuning in TUNINGS, type(self).__name__, "tuning", f"one of {TUNINGS}", self.tuning)

    def _check_knob(self, name: str) -> None:
        """The hyperparameter ``name``: ``None`` (tune it) or a number >= 0."""
        value = getattr(self, name)
        require(value is None or (isinstance(value, int | float) and value >= 0), type(self).__name__, name, "None or >= 0", value)


def _terms(rounds: Rounds, modified: np.ndarray) -> np.ndarray:
    return rounds.direct + modified * (rounds.reward - rounds.q_logged)


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


def slope(rounds: Rounds, candidates: Sequence[float], modify: Modify, *, delta: float = DELTA) -> float:
    """SLOPE++: the lowest-variance candidate whose estimate agrees with every wider one."""
    n = rounds.weight.shape[0]
    t = float(stats.t.ppf(1 - delta, n - 1)) if n > 1 else math.inf
    values, widths = [], []
    for c in candidates:
        terms = _terms(rounds, modify(rounds.weight, c))
        values.append(float(terms.mean()))
        widths.append(t * float(terms.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf)
    order = sorted(range(len(candidates)), key=lambda i: -widths[i])  # stable: ties keep the given order
    accepted: list[int] = []
    for i in order:
        if any(abs(values[j] - values[i]) > widths[i] + SLOPE_C * widths[j] for j in accepted):
            break
        accepted.append(i)
    return float(candidates[accepted[-1]])


def select(
    rounds: Rounds, candidates: Sequence[float], modify: Modify, *, tuning: str = "slope", bias_bound: bool = True
) -> float:
    """The chosen candidate by ``tuning`` (``"mse"``: smallest estimated MSE, the first on ties)."""
    if tuning == "slope":
        return slope(rounds, candidates, modify)
    scores = [estimated_mse(rounds, modify(rounds.weight, c), bias_bound=bias_bound) for c in candidates]
    return float(candidates[int(np.argmin(scores))])


def weight_quantiles(weight: np.ndarray) -> list[float]:
    """Candidate thresholds: 0 (the direct method), quantiles of the positive weights, then infinity."""
    pos = weight[weight > 0]
    if pos.size == 0:
        return [0.0, math.inf]
    qs = np.quantile(pos, [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0])
    return [0.0] + sorted({float(q) for q in qs}) + [math.inf]


class TunedDR(Estimator):
    """DR with its importance weights modified by one hyperparameter (the config field ``knob``),
    tuned on the log by :func:`select` when the config leaves it ``None``. Subclasses give the
    modification and the candidates; the interval then holds the chosen value fixed."""

    uses_reward_model = True
    #: The config field holding the hyperparameter (reported under that name in the diagnostics).
    knob: ClassVar[str]

    @staticmethod
    def modify(weight: np.ndarray, value: float) -> np.ndarray:
        """The modified weights ``ŵ`` for hyperparameter ``value``."""
        raise NotImplementedError

    def candidates(self, weight: np.ndarray) -> list[float]:
        """Values :func:`select` chooses among, from the direct method to DR."""
        raise NotImplementedError

    def extra_diagnostics(self, rounds: Rounds, value: float) -> dict[str, float]:
        return {}

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        cfg = self.config
        value = getattr(cfg, self.knob)
        if value is None:
            value = select(rounds, self.candidates(rounds.weight), self.modify, tuning=cfg.tuning, bias_bound=cfg.bias_bound)
        diag = weight_diagnostics(rounds.weight) | {self.knob: value if math.isfinite(value) else -1.0} | self.extra_diagnostics(rounds, value)
        return Terms(_terms(rounds, self.modify(rounds.weight, value))), diag
