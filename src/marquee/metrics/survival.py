"""Survival-model metrics: concordance, IPCW Brier scores and calibration at a horizon.

Every function takes plain arrays: ``time`` (n,) float durations >= 0 and ``event`` (n,) 0/1
(1 = the event, e.g. churn, was observed; 0 = right-censored). Metrics that need the censoring
distribution take the *training* rows as well: the censoring survival function ``G(t) = P(C > t)``
is the reverse Kaplan-Meier estimate on ``(train_time, 1 - train_event)``, where an event and a
censoring at the same time count the event first, and ``G`` is read right-continuously, ``G(t_i)``.
These conventions, the pair definitions and the risk-tie tolerance follow scikit-survival 0.28
(``concordance_index_censored``, ``concordance_index_ipcw``, ``brier_score``,
``integrated_brier_score``), which the tests use as the reference. Where scikit-survival would
silently give an infinite weight a zero contribution, these functions raise instead.

Concordance runs in O(n log^2 n) with vectorised numpy (about a second for n = 200,000).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from marquee.errors import ConfigError, DataError
from marquee.metrics.intervals import Interval, _resample_indices
from marquee.random import SeedLike

__all__ = [
    "CalibrationTable",
    "brier_scores",
    "calibration_table",
    "concordance_interval",
    "harrell_c",
    "integrated_brier_interval",
    "integrated_brier_score",
    "uno_c",
]

# ---------------------------------------------------------------------------------------------
# validation


def _survival(
    time: Any, event: Any, time_name: str = "time", event_name: str = "event"
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(time float64, event bool)``, both (n,)."""
    t, e = np.asarray(time), np.asarray(event)
    if t.ndim != 1 or e.ndim != 1:
        raise DataError(
            f"{time_name} and {event_name} must be 1-D arrays, got shapes {t.shape} and {e.shape}; pass one value per row"
        )
    if t.shape != e.shape:
        raise DataError(
            f"{time_name} has {t.size} rows but {event_name} has {e.size}; pass one duration and one event flag per row"
        )
    if t.size == 0:
        raise DataError(f"{time_name} is empty; pass at least one row")
    if not np.issubdtype(t.dtype, np.number) or t.dtype == bool:
        raise DataError(f"{time_name} must be numeric durations, got dtype {t.dtype}")
    t = t.astype(np.float64)
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"durations must be finite and >= 0, got {t[i]!r}; drop or fix such rows", row=i + 1, column=time_name
        )
    if e.dtype == bool:
        return t, e
    if not np.issubdtype(e.dtype, np.number):
        raise DataError(f"{event_name} must be 0/1 or bool, got dtype {e.dtype}")
    bad = (e != 0) & (e != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(
            f"event flags must be 0 (censored) or 1 (event observed), got {e[i]!r}; recode the column to 0/1",
            row=i + 1,
            column=event_name,
        )
    return t, e.astype(bool)


def _scores(values: Any, n: int, name: str) -> np.ndarray:
    """Validated (n,) float64 finite scores."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size != n:
        raise DataError(f"{name} must have shape ({n},), one value per evaluation row, got {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name} must be finite, got {x[i]!r}; check the model's predictions", row=i + 1, column=name)
    return x


def _survival_matrix(survival: Any, n: int, m: int) -> np.ndarray:
    s = np.asarray(survival, dtype=np.float64)
    if s.ndim == 1 and m == 1:
        s = s[:, None]
    if s.shape != (n, m):
        raise DataError(f"survival must have shape (n_rows, n_times) = ({n}, {m}), got {s.shape}")
    bad = ~np.isfinite(s) | (s < 0) | (s > 1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"survival probabilities must be finite and in [0, 1], got {s[i, j]!r} at column {j}; "
            "pass predicted S(t | x), not a risk score",
            row=int(i) + 1,
            column="survival",
        )
    return s


def _times(times: Any, time: np.ndarray) -> np.ndarray:
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    if ts.size == 0 or not np.isfinite(ts).all() or (np.diff(ts) <= 0).any():
        raise ConfigError(f"times must be finite and strictly increasing, got {ts!r}; sort them and drop duplicates")
    if ts[0] < time.min() or ts[-1] >= time.max():
        raise ConfigError(
            f"times must lie within the evaluation follow-up [{time.min()}, {time.max()}), got [{ts[0]}, {ts[-1]}]; "
            "drop times at or after the last observed duration"
        )
    return ts


def _bootstrap_options(n_bootstrap: int, level: float) -> None:
    if not isinstance(n_bootstrap, int | np.integer) or isinstance(n_bootstrap, bool) or n_bootstrap < 2:
        raise ConfigError(f"n_bootstrap must be an int >= 2, got {n_bootstrap!r}")
    if not isinstance(level, int | float) or isinstance(level, bool) or not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}; e.g. 0.95")


# ---------------------------------------------------------------------------------------------
# censoring distribution


@dataclass(frozen=True)
class _Censoring:
    """Reverse Kaplan-Meier ``G(t) = prod_{u <= t} (1 - c_u / (r_u - d_u))`` on the training rows.

    ``r_u`` rows at risk at ``u`` (duration >= u), ``d_u`` events and ``c_u`` censorings at ``u``.
    """

    times: np.ndarray  # (k,) unique training durations
    survival: np.ndarray  # (k,) G at those times

    @classmethod
    def fit(cls, time: np.ndarray, event: np.ndarray) -> _Censoring:
        uniq, inverse = np.unique(time, return_inverse=True)
        total = np.bincount(inverse, minlength=uniq.size)
        events = np.bincount(inverse, weights=event, minlength=uniq.size).astype(np.int64)
        censored = total - events
        at_risk = time.size - np.concatenate(([0], np.cumsum(total)[:-1])) - events
        ratio = np.divide(censored, at_risk, out=np.zeros(uniq.size), where=censored != 0)
        return cls(uniq, np.cumprod(1.0 - ratio))

    def __call__(self, t: np.ndarray, what: str) -> np.ndarray:
        """G at ``t``; raises where it is unknown (past the last training time) or zero."""
        if t.size == 0:
            return np.ones(0)
        last = self.times[-1]
        if self.survival[-1] > 0 and t.max() > last:
            raise DataError(
                f"{what} reach {t.max()}, past the last training duration {last}, where the censoring distribution "
                f"is unknown; evaluate on times <= {last} (truncate with tau or drop those rows) or train on longer follow-up"
            )
        idx = np.searchsorted(self.times, t, side="right") - 1
        g = np.where(idx >= 0, self.survival[np.maximum(idx, 0)], 1.0)
        if (g <= 0).any():
            bad = float(t[np.argmax(g <= 0)])
            raise DataError(
                f"the censoring survival G estimated on the training data is 0 at {what} {bad}, so its inverse-probability "
                f"weight is infinite; evaluate on times before {bad} (e.g. set tau or smaller times)"
            )
        return g


# ---------------------------------------------------------------------------------------------
# concordance


def _prefix_counts(ranks: np.ndarray, prefix: np.ndarray, below: np.ndarray) -> np.ndarray:
    """For each query q: how many of ``ranks[:prefix[q]]`` are < ``below[q]``.

    ``[0, L)`` splits into one aligned block of size ``2^k`` per set bit ``k`` of ``L``; at each
    level the block-major keys ``block * M + rank`` are sorted once and one ``searchsorted`` per
    query counts its block. O(n log^2 n) time, O(n) memory.
    """
    n = ranks.size
    m = np.int64(ranks.max(initial=0)) + 2
    counts = np.zeros(prefix.size, dtype=np.int64)
    positions = np.arange(n, dtype=np.int64)
    prefix = prefix.astype(np.int64)
    below = below.astype(np.int64)
    for k in range(max(int(n).bit_length(), 1)):
        use = ((prefix >> k) & 1) == 1
        if not use.any():
            continue
        keys = np.sort((positions >> k) * m + ranks)
        block = (prefix[use] >> k) - 1
        counts[use] += np.searchsorted(keys, block * m + below[use], side="left") - (block << k)
    return counts


def _concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray, weight: np.ndarray, tied_tol: float) -> float:
    """``sum_i w_i (conc_i + ties_i / 2) / sum_i w_i comparable_i`` over events i.

    Row j is comparable with event i when ``t_j > t_i``, or ``t_j == t_i`` and j is censored.
    """
    order = np.lexsort((event, -time))  # latest first; at a tie, censored rows before events
    ts, es = time[order], event[order]
    n = ts.size
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = (ts[1:] != ts[:-1]) | (es[1:] != es[:-1])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    values = np.unique(risk)
    ranks = np.searchsorted(values, risk[order])
    queries = es & (weight[order] > 0)
    comparable = group_start[queries]  # rows before i's (time, event) group: exactly its comparable rows
    r_i = risk[order][queries]
    w_i = weight[order][queries]
    lo = np.searchsorted(values, r_i - tied_tol, side="left")  # risk_j < risk_i - tol: concordant
    hi = np.searchsorted(values, r_i + tied_tol, side="right")  # risk_j <= risk_i + tol: concordant or tied
    k = comparable.size
    counts = _prefix_counts(ranks, np.concatenate((comparable, comparable)), np.concatenate((lo, hi)))
    concordant, not_discordant = counts[:k], counts[k:]
    denominator = float(np.dot(w_i, comparable))
    if denominator <= 0:
        raise DataError(
            "no comparable pairs: concordance needs an observed event followed by a longer duration "
            "(with tau, an event before tau); evaluate on more rows or a later tau"
        )
    return float(np.dot(w_i, 0.5 * (concordant + not_discordant)) / denominator)


def _tol(tied_tol: float) -> float:
    if not isinstance(tied_tol, int | float) or isinstance(tied_tol, bool) or not tied_tol >= 0:
        raise ConfigError(f"tied_tol must be a number >= 0, got {tied_tol!r}")
    return float(tied_tol)


def harrell_c(time: Any, event: Any, risk: Any, *, tied_tol: float = 1e-8) -> float:
    """Harrell's concordance index: the share of comparable pairs the risk score orders correctly.

    ``C = sum_{i,j} d_i [t_i < t_j or (t_i = t_j, d_j = 0)] ([r_i > r_j] + [r_i ~ r_j] / 2)
    / sum_{i,j} d_i [t_i < t_j or (t_i = t_j, d_j = 0)]`` where ``r_i ~ r_j`` means
    ``|r_i - r_j| <= tied_tol`` (Harrell et al., JAMA 247(18), 1982; pairs and ties as
    scikit-survival's ``concordance_index_censored``).

    Args:
        time: (n,) durations >= 0.
        event: (n,) 0/1, 1 where the event was observed.
        risk: (n,) predicted risk, higher = earlier event.
        tied_tol: risks this close count as tied (1/2).

    Returns:
        C in [0, 1]: 1 perfect ordering, 0.5 random or constant risk, 0 reversed.

    Raises:
        DataError: malformed input, or no comparable pair (no event before another duration).
    """
    t, e = _survival(time, event)
    r = _scores(risk, t.size, "risk")
    return _concordance(t, e, r, np.ones(t.size), _tol(tied_tol))


def _uno_weights(censoring: _Censoring, time: np.ndarray, event: np.ndarray, tau: float | None) -> np.ndarray:
    use = event if tau is None else event & (time < tau)
    w = np.zeros(time.size)
    w[use] = 1.0 / np.square(censoring(time[use], "event times"))
    return w


def _tau(tau: float | None) -> float | None:
    if tau is None:
        return None
    if not isinstance(tau, int | float | np.number) or isinstance(tau, bool) or not (np.isfinite(tau) and tau > 0):
        raise ConfigError(f"tau must be a finite number > 0 or None, got {tau!r}")
    return float(tau)


def uno_c(
    train_time: Any,
    train_event: Any,
    time: Any,
    event: Any,
    risk: Any,
    *,
    tau: float | None = None,
    tied_tol: float = 1e-8,
) -> float:
    """Uno's IPCW concordance index, consistent for the population C whatever the censoring.

    Harrell's C with each event i weighted by ``w_i = 1 / G(t_i)^2`` and only events with
    ``t_i < tau`` counted: ``C_tau = sum_i w_i [t_i < tau] (conc_i + ties_i / 2) /
    sum_i w_i [t_i < tau] comparable_i`` (Uno et al., Stat. Med. 30(10), 2011; as
    scikit-survival's ``concordance_index_ipcw``). ``G`` is the reverse Kaplan-Meier on the
    training rows.

    Args:
        train_time: (n_train,) training durations, used only to estimate ``G``.
        train_event: (n_train,) training event flags 0/1.
        time: (n,) evaluation durations.
        event: (n,) evaluation event flags 0/1.
        risk: (n,) predicted risk, higher = earlier event.
        tau: truncation time; ``None`` uses every event. Choose it where ``G`` is still well above 0.
        tied_tol: risks this close count as tied (1/2).

    Raises:
        DataError: malformed input; an event (before tau) past the last training duration or
            where ``G`` is 0; no comparable pair.
        ConfigError: tau not a positive number.
    """
    tt, te = _survival(train_time, train_event, "train_time", "train_event")
    t, e = _survival(time, event)
    r = _scores(risk, t.size, "risk")
    censoring = _Censoring.fit(tt, te)
    return _concordance(t, e, r, _uno_weights(censoring, t, e, _tau(tau)), _tol(tied_tol))


# ---------------------------------------------------------------------------------------------
# Brier score


def _brier(
    g_times: np.ndarray, g_rows: np.ndarray, time: np.ndarray, event: np.ndarray, s: np.ndarray, ts: np.ndarray
) -> np.ndarray:
    case = (time[:, None] <= ts[None, :]) & event[:, None]
    control = time[:, None] > ts[None, :]
    terms = np.where(case, np.square(s) / g_rows[:, None], 0.0) + np.where(control, np.square(1.0 - s) / g_times, 0.0)
    return terms.mean(axis=0)


def _brier_setup(
    train_time: Any, train_event: Any, time: Any, event: Any, survival: Any, times: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tt, te = _survival(train_time, train_event, "train_time", "train_event")
    t, e = _survival(time, event)
    ts = _times(times, t)
    s = _survival_matrix(survival, t.size, ts.size)
    censoring = _Censoring.fit(tt, te)
    g_times = censoring(ts, "times")
    g_rows = np.ones(t.size)
    cases = e & (t <= ts[-1])
    g_rows[cases] = censoring(t[cases], "event times")
    return g_times, g_rows, t, e, s, ts


def brier_scores(train_time: Any, train_event: Any, time: Any, event: Any, survival: Any, times: Any) -> np.ndarray:
    """IPCW Brier score of predicted survival at each time (Graf et al., Stat. Med. 18, 1999).

    ``BS(t) = 1/n sum_i [ [t_i <= t, d_i = 1] S(t | x_i)^2 / G(t_i) + [t_i > t] (1 - S(t | x_i))^2 / G(t) ]``,
    as scikit-survival's ``brier_score``; ``G`` is the reverse Kaplan-Meier on the training rows.

    Args:
        train_time: (n_train,) training durations, used only to estimate ``G``.
        train_event: (n_train,) training event flags 0/1.
        time: (n,) evaluation durations.
        event: (n,) evaluation event flags 0/1.
        survival: (n, m) predicted ``S(times[j] | x_i)``.
        times: (m,) strictly increasing, within ``[min(time), max(time))``.

    Returns:
        (m,) float64 Brier scores; 0 is perfect, 0.25 is an uninformative S = 0.5.

    Raises:
        DataError: malformed input, or ``G`` unknown or 0 where a weight needs it.
        ConfigError: times not strictly increasing or outside the follow-up.
    """
    return _brier(*_brier_setup(train_time, train_event, time, event, survival, times))


def _integrate(scores: np.ndarray, ts: np.ndarray) -> float:
    return float(np.trapezoid(scores, ts) / (ts[-1] - ts[0]))


def integrated_brier_score(
    train_time: Any, train_event: Any, time: Any, event: Any, survival: Any, times: Any
) -> float:
    """Integrated Brier score: ``IBS = 1 / (t_m - t_1) * integral_{t_1}^{t_m} BS(t) dt`` by the trapezoid rule.

    As scikit-survival's ``integrated_brier_score``; arguments as :func:`brier_scores`, with at
    least two times.

    Raises:
        ConfigError: fewer than two times (and as :func:`brier_scores`).
    """
    if np.asarray(times).size < 2:
        raise ConfigError(f"times needs at least two time points to integrate over, got {np.asarray(times).size}")
    g_times, g_rows, t, e, s, ts = _brier_setup(train_time, train_event, time, event, survival, times)
    return _integrate(_brier(g_times, g_rows, t, e, s, ts), ts)


# ---------------------------------------------------------------------------------------------
# bootstrap intervals


def _percentile(estimate: float, samples: np.ndarray, level: float) -> Interval:
    alpha = (1 - level) / 2
    lo, hi = np.quantile(samples, [alpha, 1 - alpha])
    return Interval(estimate, float(lo), float(hi), level)


def concordance_interval(
    time: Any,
    event: Any,
    risk: Any,
    *,
    train_time: Any = None,
    train_event: Any = None,
    tau: float | None = None,
    tied_tol: float = 1e-8,
    n_bootstrap: int = 200,
    level: float = 0.95,
    seed: SeedLike = 0,
) -> Interval:
    """Concordance with a percentile bootstrap interval over the evaluation rows.

    Harrell's C (:func:`harrell_c`) without training rows; Uno's C (:func:`uno_c`) with them, ``G``
    staying fitted on the training rows. The estimate is the full-sample value; each resample
    costs one concordance (about a second at n = 200,000).

    Args:
        time, event, risk: (n,) evaluation rows, as :func:`harrell_c`.
        train_time, train_event: (n_train,) training rows for Uno's C; both or neither.
        tau: Uno's truncation time (only with training rows).
        tied_tol: risks this close count as tied.
        n_bootstrap: resamples (>= 2).
        level: two-sided interval level.
        seed: seed or generator of the resampling.

    Raises:
        ConfigError: only one of train_time / train_event, tau without them, bad bootstrap options.
        DataError: as :func:`harrell_c` / :func:`uno_c`, also when a resample has no comparable pair.
    """
    _bootstrap_options(n_bootstrap, level)
    if (train_time is None) != (train_event is None):
        raise ConfigError("pass both train_time and train_event (Uno's C) or neither (Harrell's C)")
    t, e = _survival(time, event)
    r = _scores(risk, t.size, "risk")
    tol = _tol(tied_tol)
    if train_time is None:
        if tau is not None:
            raise ConfigError("tau truncates Uno's C, which needs train_time and train_event; pass them or drop tau")
        w = np.ones(t.size)
    else:
        tt, te = _survival(train_time, train_event, "train_time", "train_event")
        w = _uno_weights(_Censoring.fit(tt, te), t, e, _tau(tau))
    estimate = _concordance(t, e, r, w, tol)
    idx = _resample_indices(t.size, n_bootstrap, seed)
    samples = np.array([_concordance(t[i], e[i], r[i], w[i], tol) for i in idx])
    return _percentile(estimate, samples, level)


def integrated_brier_interval(
    train_time: Any,
    train_event: Any,
    time: Any,
    event: Any,
    survival: Any,
    times: Any,
    *,
    n_bootstrap: int = 200,
    level: float = 0.95,
    seed: SeedLike = 0,
) -> Interval:
    """Integrated Brier score with a percentile bootstrap interval over the evaluation rows.

    ``G`` stays fitted on the training rows; arguments as :func:`integrated_brier_score`, and
    ``n_bootstrap``, ``level``, ``seed`` as :func:`concordance_interval`.
    """
    _bootstrap_options(n_bootstrap, level)
    if np.asarray(times).size < 2:
        raise ConfigError(f"times needs at least two time points to integrate over, got {np.asarray(times).size}")
    g_times, g_rows, t, e, s, ts = _brier_setup(train_time, train_event, time, event, survival, times)
    estimate = _integrate(_brier(g_times, g_rows, t, e, s, ts), ts)
    idx = _resample_indices(t.size, n_bootstrap, seed)
    samples = np.array([_integrate(_brier(g_times, g_rows[i], t[i], e[i], s[i], ts), ts) for i in idx])
    return _percentile(estimate, samples, level)


# ---------------------------------------------------------------------------------------------
# calibration


@dataclass(frozen=True, eq=False)
class CalibrationTable:
    """Predicted against observed probability of the event by ``horizon``, per bin of prediction.

    Attributes:
        horizon: the time the probabilities refer to.
        predicted: (bins,) mean predicted ``P(T <= horizon)`` in the bin.
        observed: (bins,) Kaplan-Meier ``1 - S_KM(horizon)`` of the bin's rows.
        low, high: (bins,) interval of ``observed`` at ``level`` (exponential Greenwood, as lifelines).
        count: (bins,) rows in the bin.
        level: interval level.
    """

    horizon: float
    predicted: np.ndarray
    observed: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready columns (lists) for plots and reports."""
        return {
            "horizon": self.horizon,
            "level": self.level,
            "predicted": self.predicted.tolist(),
            "observed": self.observed.tolist(),
            "low": self.low.tolist(),
            "high": self.high.tolist(),
            "count": self.count.tolist(),
        }


def _kaplan_meier_at(time: np.ndarray, event: np.ndarray, horizon: float, z: float) -> tuple[float, float, float]:
    """``S_KM(horizon) = prod_{u <= horizon} (1 - d_u / r_u)`` and its exponential-Greenwood interval.

    ``V = sum d_u / (r_u (r_u - d_u))`` (a term with ``d_u = r_u`` counts 0, as lifelines);
    bounds ``exp(-exp(log(-log S) -+ z sqrt(V) / log S))``; ``S = 1`` gives ``[1, 1]``.
    """
    uniq, inverse = np.unique(time, return_inverse=True)
    total = np.bincount(inverse, minlength=uniq.size)
    deaths = np.bincount(inverse, weights=event, minlength=uniq.size)
    at_risk = time.size - np.concatenate(([0], np.cumsum(total)[:-1]))
    upto = uniq <= horizon
    d, r = deaths[upto], at_risk[upto].astype(np.float64)
    s = float(np.prod(1.0 - d / r))
    var = float(np.sum(np.divide(d, r * (r - d), out=np.zeros(d.size), where=r != d)))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.log(s)
        lower = np.exp(-np.exp(np.log(-v) - z * np.sqrt(var) / v))
        upper = np.exp(-np.exp(np.log(-v) + z * np.sqrt(var) / v))
    return s, float(np.nan_to_num(lower, nan=1.0)), float(np.nan_to_num(upper, nan=1.0))


def calibration_table(
    probability: Any, time: Any, event: Any, horizon: float, *, bins: int = 10, level: float = 0.95
) -> CalibrationTable:
    """Calibration of predicted event probabilities by ``horizon`` against Kaplan-Meier, per bin.

    Rows are sorted by predicted probability (stably) and split into ``bins`` bins of equal
    count (sizes differ by at most one). In each bin the observed probability is
    ``1 - S_KM(horizon)`` with its exponential-Greenwood interval (Kalbfleisch & Prentice, 2002,
    as lifelines' ``KaplanMeierFitter``); past a bin's last duration ``S_KM`` stays at its last value.

    Args:
        probability: (n,) predicted ``P(T <= horizon | x_i)`` in [0, 1], e.g. ``1 - S(horizon | x_i)``.
        time: (n,) durations.
        event: (n,) event flags 0/1.
        horizon: the time the probabilities refer to, > 0.
        bins: number of bins, 1 <= bins <= n.
        level: interval level.

    Raises:
        DataError: malformed input, probabilities outside [0, 1].
        ConfigError: bad horizon, bins or level.
    """
    t, e = _survival(time, event)
    p = _scores(probability, t.size, "probability")
    if ((p < 0) | (p > 1)).any():
        i = int(np.argmax((p < 0) | (p > 1)))
        raise DataError(
            f"probabilities must be in [0, 1], got {p[i]!r}; pass 1 - S(horizon | x)", row=i + 1, column="probability"
        )
    if (
        not isinstance(horizon, int | float | np.number)
        or isinstance(horizon, bool)
        or not (np.isfinite(horizon) and horizon > 0)
    ):
        raise ConfigError(f"horizon must be a finite number > 0, got {horizon!r}")
    if not isinstance(bins, int | np.integer) or isinstance(bins, bool) or not 1 <= bins <= t.size:
        raise ConfigError(f"bins must be an int between 1 and the number of rows ({t.size}), got {bins!r}")
    if not isinstance(level, int | float) or isinstance(level, bool) or not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}; e.g. 0.95")
    z = float(stats.norm.ppf((1 + level) / 2))
    columns: list[list[float]] = [[], [], [], [], []]
    for rows in np.array_split(np.argsort(p, kind="stable"), int(bins)):
        s, s_low, s_high = _kaplan_meier_at(t[rows], e[rows], float(horizon), z)
        for column, value in zip(columns, (p[rows].mean(), 1.0 - s, 1.0 - s_high, 1.0 - s_low, rows.size), strict=True):
            column.append(float(value))
    predicted, observed, low, high, count = (np.array(c) for c in columns)
    for a in (predicted, observed, low, high):
        a.setflags(write=False)
    count = count.astype(np.int64)
    count.setflags(write=False)
    return CalibrationTable(float(horizon), predicted, observed, low, high, count, float(level))
