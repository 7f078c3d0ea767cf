"""How well an uplift score orders members: the Qini curve (Radcliffe 2007) with bootstrap bands.

Rank the members of a randomized trial (control plus one intervention) by ``score``, highest first. Among the
top ``t`` members, with ``N_T(t)``, ``N_C(t)`` treated and control members and ``R_T(t)``, ``R_C(t)`` of them
retained, Radcliffe's Qini is the incremental number retained among the treated,

    ``Q(t) = R_T(t) - R_C(t) N_T(t) / N_C(t)``   (the control term is 0 while ``N_C(t) = 0``).

Scaled to the whole population, ``Q(t) n / N_T`` is the estimated extra members kept by intervening on the top
``t``; divided by ``n`` it is the curve reported here, extra members kept *per member of the population*:

    ``q(t / n) = Q(t) / N_T``,

so ``q(1)`` is the trial's average effect and targeting at random follows the line ``phi q(1)``. The Qini
coefficient is the area between the curve and that line, ``integral_0^1 (q(phi) - phi q(1)) dphi`` (trapezoids
on the grid): positive when the score puts the members who gain first, 0 for a random order.

Radcliffe, "Using control groups to target on predicted lift: building and assessing uplift models", Direct
Marketing Analytics Journal, 2007.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.errors import ConfigError, DataError
from marquee.metrics.intervals import Interval
from marquee.random import SeedLike, as_generator

__all__ = ["UpliftCurve", "qini_curve"]


@dataclass(frozen=True, eq=False)
class UpliftCurve:
    """A Qini curve on a grid of targeted fractions, with percentile-bootstrap bands.

    Attributes:
        fraction: (m,) share of members targeted, from 0 to 1.
        incremental: (m,) extra members retained per member of the population, ``Q(t) / N_T``.
        lower: (m,) lower end of the pointwise bootstrap band at ``qini.level``.
        upper: (m,) upper end.
        random: (m,) the random-targeting line, ``fraction * incremental[-1]``.
        qini: the Qini coefficient (area between the curve and the random line) with its bootstrap interval.
    """

    fraction: np.ndarray
    incremental: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    random: np.ndarray
    qini: Interval


def _bad_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0]) + 1


def _check(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.asarray(score)
    if s.ndim != 1 or s.dtype.kind not in "biuf":
        raise DataError(
            f"must be a 1-D numeric array, one score per member, got shape {s.shape} {s.dtype}", column="score"
        )
    n = s.size
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        raise DataError("scores must be finite", row=_bad_row(~np.isfinite(s)), column="score")
    t = np.asarray(treated)
    if t.shape != (n,):
        raise DataError(f"must have one flag per member, shape ({n},), got {t.shape}", column="treated")
    if t.dtype != bool:
        if t.dtype.kind not in "iuf" or not np.isin(t, (0, 1)).all():
            bad = ~np.isin(t, (0, 1)) if t.dtype.kind in "iuf" else np.ones(n, bool)
            raise DataError(
                "must be booleans (True = got the intervention, False = control)", row=_bad_row(bad), column="treated"
            )
        t = t.astype(bool)
    y = np.asarray(outcome)
    if y.shape != (n,) or y.dtype.kind not in "biuf":
        raise DataError(
            f"must be one numeric outcome per member, shape ({n},), got {y.shape} {y.dtype}", column="outcome"
        )
    y = y.astype(np.float64)
    if not np.isfinite(y).all():
        raise DataError("outcomes must be finite", row=_bad_row(~np.isfinite(y)), column="outcome")
    if t.all() or not t.any():
        raise DataError("needs both treated and control members (pass control plus one intervention)", column="treated")
    return s, t, y


def _curves(weights: np.ndarray, t: np.ndarray, y: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Qini curves ``Q(t) / N_T`` of members already in score order, one per row of ``weights`` (B, n)."""
    w = np.atleast_2d(weights)
    cw = np.cumsum(w, axis=1)
    n_t = np.cumsum(w * t, axis=1)
    n_c = cw - n_t
    r_t = np.cumsum(w * (t * y), axis=1)
    r_c = np.cumsum(w * (~t * y), axis=1)
    out = np.zeros((w.shape[0], targets.size))
    for b in range(w.shape[0]):
        at = np.searchsorted(cw[b], targets, side="left")  # first position with >= target members
        at = np.minimum(at, w.shape[1] - 1)
        nc = n_c[b, at]
        ratio = np.divide(n_t[b, at], nc, out=np.zeros_like(nc), where=nc > 0)
        q = r_t[b, at] - r_c[b, at] * ratio
        total_t = n_t[b, -1]
        out[b] = np.where(targets > 0, q / total_t if total_t > 0 else 0.0, 0.0)
    return out


def _area(fraction: np.ndarray, curve: np.ndarray) -> np.ndarray:
    excess = curve - fraction * curve[..., -1:]
    return np.sum((excess[..., 1:] + excess[..., :-1]) * np.diff(fraction) / 2, axis=-1)


def qini_curve(
    score: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    *,
    n_points: int = 50,
    n_bootstrap: int = 200,
    level: float = 0.9,
    seed: SeedLike = 0,
) -> UpliftCurve:
    """Qini curve of ``score`` on a trial of control and one intervention, with bootstrap bands.

    Members with equal scores are ordered at random (seeded). Bands and the coefficient's interval are percentile
    bootstraps over members (Efron & Tibshirani 1993), as in :mod:`marquee.metrics.intervals`.

    Args:
        score: (n,) predicted uplift; members are targeted highest first.
        treated: (n,) bool, True for the intervention's members, False for control (other arms excluded).
        outcome: (n,) 1 = retained, 0 = left (any numeric outcome works).
        n_points: grid points from fraction 0 to 1 (at least 2).
        n_bootstrap: bootstrap resamples (at least 1).
        level: two-sided level of the bands and the interval.
        seed: tie-breaking and resampling.

    Returns:
        :class:`UpliftCurve` with (n_points,) arrays.

    Raises:
        DataError: naming the argument and the first bad row (1-based).
        ConfigError: ``n_points``, ``n_bootstrap`` or ``level`` out of range.
    """
    if not isinstance(n_points, int) or n_points < 2:
        raise ConfigError(f"n_points must be an int >= 2, got {n_points!r}")
    if not isinstance(n_bootstrap, int) or n_bootstrap < 1:
        raise ConfigError(f"n_bootstrap must be an int >= 1, got {n_bootstrap!r}")
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}")
    s, t, y = _check(score, treated, outcome)
    n = s.size
    rng = as_generator(seed)
    order = np.lexsort((rng.random(n), -s))
    t, y = t[order], y[order]
    fraction = np.linspace(0.0, 1.0, n_points)
    targets = np.round(fraction * n)
    curve = _curves(np.ones(n), t, y, targets)[0]
    boot = np.empty((n_bootstrap, n_points))
    for b in range(n_bootstrap):  # one resample at a time keeps memory at O(n)
        boot[b] = _curves(np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64), t, y, targets)[0]
    alpha = (1 - level) / 2
    lower, upper = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    q_lo, q_hi = np.quantile(_area(fraction, boot), [alpha, 1 - alpha])
    qini = Interval(float(_area(fraction, curve)), float(q_lo), float(q_hi), level)
    return UpliftCurve(fraction, curve, lower, upper, fraction * curve[-1], qini)
