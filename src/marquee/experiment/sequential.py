"""Anytime-valid inference: confidence sequences that may be checked every day.

A fixed-horizon interval covers the truth with probability ``1 - α`` *at one pre-planned
look*; checked daily and stopped at the first "significant" day it errs far more often. A
confidence sequence covers the truth at every look simultaneously, so a team may look whenever
it likes and stop as soon as the interval excludes zero.

Marquee uses the asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy &
Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences" (Annals of
Statistics, 2024; arXiv:2103.06476), with the Gaussian-mixture boundary (their eq. 9 in v7): for
an estimate with variance ``σ²/N`` after ``N`` members,

``estimate ± sqrt(σ²) · sqrt( 2 (N ρ² + 1) / (N² ρ²) · log( sqrt(N ρ² + 1) / α ) )``

with the mixing parameter ``ρ² = (-2 log α + log(-2 log α + 1)) / N*`` that makes the sequence
tightest at ``N*`` members (the tuning), and the matching anytime-valid p-value ``min(1, 1/E)``
for the mixture e-value ``E``. It is the same normal-mixture boundary as the mSPRT of Johari,
Koomen, Pekelis & Walsh ("Always valid inference", Operations Research, 2022), and GrowthBook's
sequential engine uses it, which lets the benchmark check Marquee against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.errors import ConfigError
from marquee.experiment.analysis import ArrayLike

__all__ = ["SequencePoint", "always_valid_p_value", "confidence_sequence", "mixture_rho"]


def mixture_rho(alpha: float, tuning: float) -> float:
    """The mixing parameter ρ that makes the sequence tightest at ``tuning`` members."""
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    if not tuning > 0:
        raise ConfigError(f"the sequential tuning (members at which the sequence is tightest) must be > 0, got {tuning!r}")
    la = -2 * np.log(alpha)
    return float(np.sqrt((la + np.log(la + 1)) / tuning))


def confidence_sequence(
    estimate: ArrayLike,
    se: ArrayLike,
    n_total: ArrayLike,
    *,
    alpha: float = 0.05,
    tuning: float = 5000.0,
    tuned_alpha: float | None = None,
) -> tuple[ArrayLike, ArrayLike]:
    """``(low, high)`` of the asymptotic confidence sequence at this look.

    Args:
        estimate: the estimate (e.g. a difference of means); arrays broadcast.
        se: its standard error at this look (``sqrt(σ²/N)``).
        n_total: members in all compared arms so far, ``N``.
        alpha: the sequence covers the truth at every look with probability ``>= 1 - alpha``.
        tuning: ``N*``, the total member count at which the sequence is tightest.
        tuned_alpha: the alpha the mixing parameter ρ is tuned for (default ``alpha``). With the
            p-values' alpha here, the sequence at any ``alpha`` excludes a value exactly when
            :func:`always_valid_p_value` (``alpha=tuned_alpha``) of it is below ``alpha``: how a
            multiplicity-corrected interval is made to agree with the corrected p-value.
    """
    rho = mixture_rho(alpha, tuning) if tuned_alpha is None else mixture_rho(tuned_alpha, tuning)
    if tuned_alpha is not None and not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}")
    n = np.asarray(n_total, np.float64)
    s2 = np.square(se) * n
    with np.errstate(divide="ignore", invalid="ignore"):
        nr2 = n * rho**2
        width = np.sqrt(s2) * np.sqrt(2 * (nr2 + 1) * np.log(np.sqrt(nr2 + 1) / alpha) / np.square(n * rho))
    return np.subtract(estimate, width), np.add(estimate, width)


def always_valid_p_value(
    estimate: ArrayLike, se: ArrayLike, n_total: ArrayLike, *, alpha: float = 0.05, tuning: float = 5000.0, null: float = 0.0
) -> ArrayLike:
    """Anytime-valid p-value of ``estimate == null``: below ``alpha`` exactly when the sequence excludes ``null``.

    The running minimum over looks is still valid, and it may be corrected for multiplicity like
    any p-value.
    """
    rho = mixture_rho(alpha, tuning)
    n = np.asarray(n_total, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = np.square(np.subtract(estimate, null)) / np.square(se)
        nr2 = n * rho**2
        log_e = rho**2 * n * z2 / (2 * (nr2 + 1)) - 0.5 * np.log(nr2 + 1)
        p = np.minimum(1.0, np.exp(-log_e))
    p = np.where(np.asarray(se) > 0, p, np.where(np.asarray(estimate) == null, 1.0, 0.0))
    return p if np.ndim(p) else float(p)


@dataclass(frozen=True)
class SequencePoint:
    """One daily look: the cumulative estimate and the confidence sequence's bounds at that day."""

    day: int
    n: int
    estimate: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return dict(vars(self))
