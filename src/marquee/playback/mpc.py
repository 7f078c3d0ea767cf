"""robustMPC, Yin, Jindal, Sekar and Sinopoli, "A Control-Theoretic Approach for Dynamic Adaptive Video Streaming
over HTTP", SIGCOMM 2015, as Pensieve's ``test/mpc.py`` implements it (Mao et al., SIGCOMM 2017)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.predict import HarmonicMean
from marquee.playback.scheme import Observation, Scheme, register
from marquee.playback.video import Video

__all__ = ["RobustMPC", "RobustMPCConfig"]

# Sessions x combinations evaluated at once: bounds the planner's working arrays (~16 MB each).
_MAX_CELLS = 1 << 21


@dataclass(frozen=True)
class RobustMPCConfig:
    """robustMPC hyperparameters (Pensieve's ``mpc.py``).

    Attributes:
        horizon: chunks planned ahead (5; fewer near the end of the video).
        window: measured throughputs in the harmonic mean (5).
        error_window: past relative prediction errors whose maximum discounts the prediction (5).
        rebuffer_penalty: ``mu`` per planned stall second; ``None``: the ladder's top bitrate in Mbps (4.3 on
            Envivio, Pensieve's ``REBUF_PENALTY``).
        smooth_penalty: weight of planned ``|bitrate change|`` in Mbps (1, Pensieve's ``SMOOTH_PENALTY``).
    """

    horizon: int = 5
    window: int = 5
    error_window: int = 5
    rebuffer_penalty: float | None = None
    smooth_penalty: float = 1.0

    def __post_init__(self) -> None:
        for name in ("horizon", "window", "error_window"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"RobustMPCConfig.{name} must be an int >= 1, got {v!r}")
        if self.horizon > 8:
            raise ConfigError(
                f"RobustMPCConfig.horizon must be <= 8 (it enumerates rungs**horizon plans), got {self.horizon}"
            )
        for name in ("rebuffer_penalty", "smooth_penalty"):
            v = getattr(self, name)
            if v is None and name == "rebuffer_penalty":
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0 or v == float("inf"):
                raise ConfigError(f"RobustMPCConfig.{name} must be a finite number >= 0, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@dataclass(frozen=True)
class _Plans:
    """Every rung sequence of length ``h``, in *reverse* lexicographic order (first rung slowest, rungs
    descending), so that the first maximum found is the last in Pensieve's ``itertools.product`` order.

    ``first`` (C,) int64 the first rung; ``bitrate`` (C,) float64 ``sum bitrate_kbps / 1000``; ``smooth`` (C,)
    float64 ``sum |change|_kbps`` within the plan (whole numbers; the change from the last rung fetched is added
    per session).
    """

    first: np.ndarray
    bitrate: np.ndarray
    smooth: np.ndarray


def _plans(kbps: np.ndarray, h: int) -> _Plans:
    r = kbps.size
    combos = np.indices((r,) * h).reshape(h, -1).T[::-1]  # (r**h, h): itertools.product order, reversed
    rates = kbps[combos]
    return _Plans(
        first=combos[:, 0].copy(),
        bitrate=rates.sum(axis=1) / 1000.0,
        smooth=np.abs(np.diff(rates, axis=1)).sum(axis=1),
    )


@register
class RobustMPC(Scheme):
    """robustMPC: plan the next ``h = min(horizon, chunks left)`` rungs by enumerating all ``rungs**h`` plans and
    fetch the first rung of the best.

    Prediction: ``C = HM / (1 + max_err)``, ``HM`` the harmonic mean of the last ``window`` measured throughputs,
    ``max_err`` the largest of the last ``error_window`` relative errors ``|HM_{k-1} - x_k| / x_k`` of the
    undiscounted previous prediction against the throughput then measured (0 at the first decision).
    A plan ``q_1..q_h`` is scored as Pensieve does, with the real sizes of the chunks it would fetch:
    ``d_j = bytes(chunk i+j-1, q_j) * 8 / C``; ``stall_j = max(d_j - b, 0)``; ``b = max(b - d_j, 0) + chunk_seconds``
    (from the current buffer ``b``; no buffer cap, no round trip); score
    ``sum bitrate_Mbps - mu * sum stall - smooth_penalty * sum |change|_Mbps``, the change of the first counted
    from the last rung fetched. Ties go to the plan last in lexicographic order (Pensieve's ``>=``), i.e. the
    highest first rung.

    Per-session state (previous prediction, error history) is reset by :meth:`start`; ``choose`` must then be
    called for chunks 1, 2, ... in order, as :func:`marquee.playback.simulate` does.

    Where this differs from Pensieve's ``mpc.py``: Pensieve indexes the planned sizes one chunk ahead (it plans
    chunk ``i`` with the sizes of chunk ``i + 1``, because its ``last_index`` counts chunks fetched); here the
    sizes are those of the chunks actually planned. Its error history is a global list that carries over from one
    trace to the next; here it is per session and :meth:`start` clears it.
    """

    Config: ClassVar[type] = RobustMPCConfig
    name: ClassVar[str] = "robustmpc"

    def __init__(
        self,
        horizon: int = 5,
        window: int = 5,
        error_window: int = 5,
        rebuffer_penalty: float | None = None,
        smooth_penalty: float = 1.0,
    ) -> None:
        self.config = RobustMPCConfig(
            horizon=horizon,
            window=window,
            error_window=error_window,
            rebuffer_penalty=rebuffer_penalty,
            smooth_penalty=smooth_penalty,
        )
        self.predictor = HarmonicMean(window)
        self._plans: dict[int, _Plans] = {}
        self._video: Video | None = None

    @classmethod
    def from_config(cls, config: RobustMPCConfig) -> RobustMPC:
        """Build from a config."""
        return cls(**config.to_dict())

    def start(self, video: Video, n_sessions: int) -> None:
        """Reset the per-session prediction bookkeeping for a run of ``n_sessions`` sessions of ``video``.

        Sets ``estimates_`` (n_sessions, n_chunks) float64, the undiscounted prediction made at each decision
        (NaN until made), and ``errors_`` (n_sessions, n_chunks) float64, the relative error found at each.
        """
        self._kbps = np.asarray(video.bitrates_kbps, dtype=np.float64)
        self._plans = {h: _plans(self._kbps, h) for h in range(1, self.config.horizon + 1)}
        self._video = video
        self.estimates_ = np.full((n_sessions, video.n_chunks), np.nan)
        self.errors_ = np.zeros((n_sessions, video.n_chunks))
        self.decisions_ = 0

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        if self._video is None or obs.n_sessions != self.estimates_.shape[0]:
            raise ConfigError(
                f"RobustMPC.choose got {obs.n_sessions} sessions before start(video, n_sessions) was called for "
                "them; call start(...) first (simulate() does)"
            )
        d = self.decisions_
        if obs.throughput_mbps.shape[1] != d + 1 or d >= self.estimates_.shape[1]:
            raise ConfigError(
                f"RobustMPC.choose expected chunk {d + 1} (decisions go in order after start()), "
                f"got chunk {obs.chunk_index} with {obs.throughput_mbps.shape[1]} past throughputs"
            )
        measured = obs.throughput_mbps[:, -1]
        if d > 0:
            self.errors_[:, d] = np.abs(self.estimates_[:, d - 1] - measured) / measured
        harmonic = self.predictor.predict(obs.throughput_mbps)
        self.estimates_[:, d] = harmonic
        max_error = self.errors_[:, max(0, d + 1 - self.config.error_window) : d + 1].max(axis=1)
        self.decisions_ = d + 1
        return self.plan(obs, harmonic / (1.0 + max_error))

    def plan(self, obs: Observation, predicted_mbps: np.ndarray) -> np.ndarray:
        """The first rung of the best plan per session, given a throughput prediction.

        Args:
            obs: the observation (chunk index, buffer, last rung, ladder).
            predicted_mbps: (n_sessions,) float64 > 0, the throughput every planned chunk downloads at.

        Returns:
            (n_sessions,) int64 rungs.
        """
        if self._video is None:
            raise ConfigError("RobustMPC.plan called before start(video, n_sessions); call start(...) first")
        video = obs.video
        i = obs.chunk_index
        h = min(self.config.horizon, obs.n_chunks - i)
        plans = self._plans[h]
        mu = video.bitrates_mbps[-1] if self.config.rebuffer_penalty is None else self.config.rebuffer_penalty
        mbit = video.chunk_bytes[i : i + h].astype(np.float64) * 8.0 / 1e6  # (h, R)
        n = obs.n_sessions
        out = np.empty(n, dtype=np.int64)
        block = max(1, _MAX_CELLS // plans.first.size)
        for lo in range(0, n, block):
            sl = slice(lo, min(n, lo + block))
            out[sl] = self._best_first(
                plans, mbit, obs.buffer_s[sl], obs.last_rung[sl], predicted_mbps[sl], video.chunk_seconds, mu
            )
        return out

    def _best_first(
        self,
        plans: _Plans,
        mbit: np.ndarray,
        buffer_s: np.ndarray,
        last_rung: np.ndarray,
        predicted_mbps: np.ndarray,
        chunk_s: float,
        mu: float,
    ) -> np.ndarray:
        s, r = buffer_s.shape[0], mbit.shape[1]
        desc = mbit[:, ::-1]  # rungs descending at every position: the plans' reverse lexicographic order
        inv = 1.0 / predicted_mbps[:, None, None]
        buf = buffer_s[:, None].astype(np.float64)
        stall = np.zeros((s, 1))
        h = mbit.shape[0]
        # Plans sharing a prefix share its buffer path: grow the (sessions, rungs**j) prefixes one chunk at a time.
        for j in range(h - 1):
            dt = desc[j][None, None, :] * inv  # (s, 1, R)
            b = buf[:, :, None]
            stall = (stall[:, :, None] + np.maximum(dt - b, 0.0)).reshape(s, -1)
            buf = (np.maximum(b - dt, 0.0) + chunk_s).reshape(s, -1)
        # The last chunk, in place on (s, C) arrays, with Pensieve's arithmetic in its order so that plans tied in
        # whole kbps tie here too: score = sum_kbps / 1000 - mu * stall - smooth_penalty * sum |change|_kbps / 1000.
        score = np.subtract(desc[h - 1][None, None, :] * inv, buf[:, :, None])
        np.maximum(score, 0.0, out=score)
        score += stall[:, :, None]
        score *= mu
        score = np.subtract(plans.bitrate, score.reshape(s, -1), out=score.reshape(s, -1))
        kbps = self._kbps
        entry = np.abs(kbps[::-1][None, :] - kbps[last_rung][:, None])  # (s, R): change into each first rung
        change = plans.smooth.reshape(r, -1)[None, :, :] + entry[:, :, None]  # (s, R, C / R)
        change *= self.config.smooth_penalty
        change /= 1000.0
        score -= change.reshape(s, -1)
        return plans.first[np.argmax(score, axis=1)]  # the first maximum here is Pensieve's last (its ``>=``)
