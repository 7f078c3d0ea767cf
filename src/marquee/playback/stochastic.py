"""Marquee's ABR scheme: stochastic model-predictive control, planned by dynamic programming over the buffer.

robustMPC plans five chunks against one throughput, the harmonic mean discounted by the largest recent error:
one bad sample makes it timid for five chunks, and a plan that ends five chunks out spends the buffer as if the
video ended there. This scheme keeps MPC's structure and changes both:

- **Throughput as a distribution, not a number.** The next chunks' payload throughput is ``HM * rho`` where ``HM``
  is the harmonic mean of the last ``window`` payload throughputs (a chunk's bits over its download time less the
  round trip: small chunks spend a larger share of their time on the round trip, so the raw measure understates
  what a large chunk will see) and ``rho`` is drawn from the session's own recent ratios of
  measured to predicted throughput (its last ``history`` ones) mixed with a pessimistic prior (``prior_ratios``,
  weight ``prior_weight`` against the session's ratios' total weight of one each). Early in a session the prior
  dominates; later the session's own error profile does.
- **Closed-loop planning.** Over ``horizon`` chunks, a backward dynamic program on a buffer grid
  (``buffer_step_s``) computes the expected QoE of the best *policy* (each later chunk is chosen knowing the buffer
  it arrives to), not of the best fixed plan; the first decision is evaluated at the exact buffer. A chunk's
  planned download time is its bits over the drawn throughput plus the round trip.
- **Errors that persist.** With ``persistence`` p > 0, each later chunk keeps the draw of the chunk before with
  probability p and draws afresh otherwise: a Markov chain over the draws, as CS2P (Sun et al., SIGCOMM 2016) models
  throughput with hidden states. The program's state then holds the current draw as well as the buffer and the
  rung. At p = 0 the draws are independent per chunk and that state is not kept.
- **Device-aware utility.** With ``objective="quality"`` (or ``"auto"`` when the session has a device and the
  ladder has per-chunk quality) a chunk is worth its perceived quality on that device, scaled so that the top
  score equals the top bitrate in Mbps (so ``mu`` keeps its meaning); otherwise its bitrate in Mbps, as in QoE_lin.

The hyperparameters were chosen by ``bench/playback_tune.py`` on a declared tuning set, the training half of the
split whose test half the targets are measured on (no trace in both; ``bench/playback_split.py`` measures how far
their recordings overlap); nothing is learned at run time beyond the per-session ratios.

No library implements ABR planning; the DP here is one compiled loop (numba) over
(sessions, buffer grid, rungs, throughput draws).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numba import njit

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register
from marquee.playback.traces import TraceSet
from marquee.playback.video import Video

if TYPE_CHECKING:
    from marquee.playback.session import SessionConfig

__all__ = ["TUNING_GRID", "StochasticMPC", "StochasticMPCConfig"]

#: The grid :meth:`StochasticMPC.fit` searches by default (bench/playback_tune.py searches the same one).
TUNING_GRID: dict[str, tuple[Any, ...]] = {
    "history": (1, 2, 3),
    "prior_weight": (2.0, 3.0, 5.0),
    "prior_ratios": ((0.4, 0.7, 1.0), (0.5, 0.8, 1.0), (0.6, 0.9, 1.0), (0.5, 0.75, 1.0, 1.1)),
    "discount": (0.97, 1.0),
    "persistence": (0.0, 0.5, 0.75),
    "horizon": (24,),
}

_OBJECTIVES = ("auto", "bitrate", "quality")


@dataclass(frozen=True)
class StochasticMPCConfig:
    """Hyperparameters of :class:`StochasticMPC`.

    Attributes:
        horizon: chunks planned ahead (fewer near the end of the video).
        window: measured throughputs in the harmonic mean.
        history: the session's most recent measured/predicted ratios used as throughput draws.
        prior_ratios: pessimistic prior draws of the ratio, used alongside the session's own.
        prior_weight: total weight of the prior draws (each of the session's ratios weighs 1).
        buffer_step_s: spacing of the buffer grid of the dynamic program.
        rebuffer_penalty: ``mu`` per planned stall second; ``None``: the ladder's top bitrate in Mbps.
        smooth_penalty: weight of a planned change of utility between consecutive chunks.
        objective: ``"bitrate"`` (QoE_lin), ``"quality"`` (the ladder's per-chunk quality) or ``"auto"``:
            quality when the session runs on a device and the ladder has quality, bitrate otherwise.
        data_cost_per_mb: under the quality objective, utility lost per megabyte a chunk costs (a metered phone
            plan's price of data, in the same units as the utility: top quality = top bitrate in Mbps); ``None``:
            the device's own (:attr:`Device.data_cost_per_mb`), 0 without a device.
        discount: weight of each later chunk's QoE relative to the one before (1: none). Below 1, a plan that
            upgrades now beats the same plan deferred: without it the planner, re-planning every chunk, can keep
            deferring an upgrade it always means to make later.
        persistence: probability that a later chunk keeps the throughput draw of the chunk before (0: each chunk
            draws independently; see the module docstring).
    """

    # Chosen by bench/playback_tune.py on Pensieve's training traces (``pensieve_train127``, its logs cut into 320 s
    # sessions; the result is in bench/results/playback_tune.json).
    horizon: int = 24
    window: int = 5
    history: int = 1
    prior_ratios: tuple[float, ...] = (0.5, 0.8, 1.0)
    prior_weight: float = 2.0
    buffer_step_s: float = 1.0
    rebuffer_penalty: float | None = None
    smooth_penalty: float = 1.0
    objective: str = "auto"
    data_cost_per_mb: float | None = None
    discount: float = 1.0
    persistence: float = 0.5

    def __post_init__(self) -> None:
        for name in ("horizon", "window", "history"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"StochasticMPCConfig.{name} must be an int >= 1, got {v!r}")
        if self.horizon > 32:
            raise ConfigError(f"StochasticMPCConfig.horizon must be <= 32, got {self.horizon}")
        ratios = tuple(self.prior_ratios)
        if not ratios or not all(_positive(r) for r in ratios):
            raise ConfigError(f"StochasticMPCConfig.prior_ratios must be positive numbers, got {self.prior_ratios!r}")
        object.__setattr__(self, "prior_ratios", tuple(float(r) for r in ratios))
        for name in ("prior_weight", "buffer_step_s"):
            if not _positive(getattr(self, name)):
                raise ConfigError(
                    f"StochasticMPCConfig.{name} must be a finite number > 0, got {getattr(self, name)!r}"
                )
        for name in ("rebuffer_penalty", "smooth_penalty", "data_cost_per_mb"):
            v = getattr(self, name)
            if v is None and name != "smooth_penalty":
                continue
            if not (_positive(v) or v == 0):
                raise ConfigError(f"StochasticMPCConfig.{name} must be a finite number >= 0, got {v!r}")
        p = self.persistence
        if isinstance(p, bool) or not isinstance(p, int | float) or not (0 <= p < 1):
            raise ConfigError(f"StochasticMPCConfig.persistence must be a number in [0, 1), got {p!r}")
        if not (_positive(self.discount) and self.discount <= 1):
            raise ConfigError(f"StochasticMPCConfig.discount must be in (0, 1], got {self.discount!r}")
        if self.objective not in _OBJECTIVES:
            raise ConfigError(f"StochasticMPCConfig.objective must be one of {_OBJECTIVES}, got {self.objective!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["prior_ratios"] = list(self.prior_ratios)
        return d


def _positive(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and v > 0


@register
class StochasticMPC(Scheme):
    """Marquee's scheme (``"marquee"``): stochastic MPC planned by dynamic programming; see the module docstring.

    Per-session state (predictions and ratios) is reset by :meth:`start`; ``choose`` must then be called for
    chunks 1, 2, ... in order, as :func:`marquee.playback.simulate` does.
    """

    Config: ClassVar[type] = StochasticMPCConfig
    name: ClassVar[str] = "marquee"

    def __init__(self, **params: Any) -> None:
        self.config = StochasticMPCConfig(**params)
        self._video: Video | None = None

    @classmethod
    def from_config(cls, config: StochasticMPCConfig) -> StochasticMPC:
        """Build from a config."""
        return cls(**config.to_dict())

    def fit(
        self,
        traces: TraceSet | Sequence[TraceSet],
        video: Video,
        config: SessionConfig | None = None,
        *,
        grid: Mapping[str, Sequence[Any]] | None = None,
        device: str | None = None,
    ) -> StochasticMPC:
        """Choose the hyperparameters on your own traces: every combination of ``grid`` (default :data:`TUNING_GRID`)
        plays ``video`` over ``traces``; the one with the highest mean QoE_lin per chunk (the mean of each set's
        mean, when several sets are given) becomes ``self.config``. Fields not in the grid keep their values.

        Sets ``fit_scores_``: a list of (params, score), in grid order. Score only traces you did not fit on. A
        session plays a trace from its start, so cut long logs into sessions first (:meth:`TraceSet.cut`).
        """
        from marquee.playback.session import simulate  # the simulator imports the scheme interface

        sets = [traces] if isinstance(traces, TraceSet) else list(traces)
        if not sets or any(len(t) == 0 for t in sets):
            raise ConfigError("StochasticMPC.fit needs at least one non-empty trace set")
        grid = dict(TUNING_GRID if grid is None else grid)
        unknown = set(grid) - set(StochasticMPCConfig.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"StochasticMPC.fit grid has unknown field(s) {sorted(unknown)}")
        keys = list(grid)
        base = self.config.to_dict()
        scores = []
        for values in itertools.product(*(grid[k] for k in keys)):
            params = {**base, **dict(zip(keys, values, strict=True))}
            scheme = StochasticMPC(**params)
            score = float(np.mean([simulate(t, video, scheme, config, device=device).qoe.mean() for t in sets]))
            scores.append((dict(zip(keys, values, strict=True)), score))
        best = max(range(len(scores)), key=lambda k: scores[k][1])  # the first of equals, in grid order
        self.config = StochasticMPCConfig(**{**base, **scores[best][0]})
        self.fit_scores_ = scores
        return self

    def start(self, video: Video, n_sessions: int) -> None:
        """Reset per-session state: ``predictions_`` and ``ratios_`` are (n_sessions, n_chunks), NaN until made."""
        self._video = video
        self.predictions_ = np.full((n_sessions, video.n_chunks), np.nan)
        self.ratios_ = np.full((n_sessions, video.n_chunks), np.nan)
        self.decisions_ = 0

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        if self._video is None or obs.n_sessions != self.predictions_.shape[0]:
            raise ConfigError(
                f"StochasticMPC.choose got {obs.n_sessions} sessions before start(video, n_sessions) was called for "
                "them; call start(...) first (simulate() does)"
            )
        d = self.decisions_
        if obs.throughput_mbps.shape[1] != d + 1:
            raise ConfigError(
                f"StochasticMPC.choose expected chunk {d + 1} (decisions go in order after start()), "
                f"got chunk {obs.chunk_index}"
            )
        cfg = self.config
        # payload throughput: the chunk's bits over its download time less the round trip
        bits = obs.throughput_mbps * obs.download_s
        measured = bits / np.maximum(obs.download_s - obs.rtt_s, 1e-3)
        if d > 0:
            self.ratios_[:, d] = measured[:, -1] / self.predictions_[:, d - 1]
        recent = measured[:, -cfg.window :]
        harmonic = recent.shape[1] / np.sum(1.0 / recent, axis=1)
        self.predictions_[:, d] = harmonic
        self.decisions_ = d + 1

        own = self.ratios_[:, max(1, d + 1 - cfg.history) : d + 1]  # (S, m), m = 0 at the first decision
        s, m = own.shape
        prior = np.asarray(cfg.prior_ratios)
        ratios = np.concatenate([own, np.broadcast_to(prior, (s, prior.size))], axis=1)
        weights = np.concatenate([np.ones(m), np.full(prior.size, cfg.prior_weight / prior.size)])
        weights = weights / weights.sum()
        return self.plan(obs, harmonic[:, None] * ratios, weights)

    def utility(self, obs: Observation) -> np.ndarray:
        """(n_chunks, n_rungs) worth of each chunk at each rung under the configured objective."""
        video = obs.video
        quality = self.config.objective == "quality" or (
            self.config.objective == "auto" and obs.device is not None and video.quality is not None
        )
        if not quality:
            return np.broadcast_to(video.bitrates_mbps, (video.n_chunks, video.n_rungs))
        if video.quality is None:
            raise ConfigError(f"objective='quality' but video {video.name!r} has no per-chunk quality")
        cost = self.config.data_cost_per_mb
        if cost is None:
            cost = 0.0 if obs.device is None else obs.device.data_cost_per_mb
        return video.quality * (video.bitrates_mbps[-1] / 100.0) - cost * video.chunk_bytes / 1e6

    def plan(self, obs: Observation, throughput_mbps: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The best first rung per session.

        Args:
            obs: the observation.
            throughput_mbps: (n_sessions, K) float64 > 0, the throughput draws.
            weights: (K,) float64 summing to 1, their probabilities.

        Returns:
            (n_sessions,) int64 rungs.
        """
        cfg = self.config
        video = obs.video
        i = obs.chunk_index
        h = min(cfg.horizon, obs.n_chunks - i)
        util = np.ascontiguousarray(self.utility(obs), dtype=np.float64)
        mu = float(video.bitrates_mbps[-1] if cfg.rebuffer_penalty is None else cfg.rebuffer_penalty)
        cap = max(float(obs.buffer_cap_s), video.chunk_seconds)
        mbit = video.chunk_bytes[i : i + h].astype(np.float64) * 8.0 / 1e6  # (h, R)
        return _plan(
            np.ascontiguousarray(1.0 / throughput_mbps, dtype=np.float64),
            np.ascontiguousarray(weights, dtype=np.float64),
            util,
            mbit,
            np.ascontiguousarray(obs.buffer_s, dtype=np.float64),
            np.ascontiguousarray(obs.last_rung, dtype=np.int64),
            i,
            float(video.chunk_seconds),
            cap,
            float(cfg.buffer_step_s),
            float(obs.rtt_s),
            float(cfg.discount),
            mu,
            float(cfg.smooth_penalty),
            float(cfg.persistence),
        )


# The planner is a backward dynamic program per session: for each later chunk j (last first), each buffer of the
# grid, each rung and each current draw (one state when ``persistence`` is 0), the expected value over the next
# draw of downloading chunk j there, then the best rung given the rung before. Written as one compiled loop: the
# numpy version it replaced built (sessions, grid, rungs, draws) arrays per step and ran about 14x slower (6.4 s
# against 0.44 s on the 80 HSDPA traces, measured side by side once, with identical choices).
@njit(cache=True, nogil=True)
def _plan(
    inv: np.ndarray,
    weights: np.ndarray,
    util: np.ndarray,
    mbit: np.ndarray,
    buffer_s: np.ndarray,
    last: np.ndarray,
    i: int,
    chunk_s: float,
    cap: float,
    step: float,
    rtt: float,
    gamma: float,
    mu: float,
    smooth: float,
    persistence: float,
) -> np.ndarray:  # pragma: no cover - compiled; tests call it through StochasticMPC
    n_sessions, n_draws = inv.shape
    h, n_rungs = mbit.shape
    g = int(np.ceil(cap / step)) + 1
    states = n_draws if persistence > 0.0 else 1  # the current draw matters only when it may persist
    player = (chunk_s, cap, step, rtt, gamma, mu)
    value = np.zeros((states, g, n_rungs))
    new = np.zeros((states, g, n_rungs))
    q = np.empty((states, g, n_rungs))
    later = np.empty(n_draws)
    out = np.empty(n_sessions, dtype=np.int64)
    for s in range(n_sessions):
        value[:] = 0.0  # after the last planned chunk: what remains is the next decision's problem
        for j in range(h - 1, 0, -1):
            for b in range(g):
                buf = min(b * step, cap)
                for r in range(n_rungs):
                    fresh = _outcomes(value, later, buf, mbit[j, r], inv[s], weights, r, g, player)
                    for k in range(states):
                        # keep draw k with probability ``persistence``, else a fresh draw
                        q[k, b, r] = persistence * later[k] + (1.0 - persistence) * fresh + util[i + j, r]
            for k in range(states):
                for b in range(g):
                    for p in range(n_rungs):
                        best = -np.inf
                        for r in range(n_rungs):
                            x = q[k, b, r] - abs(util[i + j, r] - util[i + j - 1, p]) * smooth
                            if x > best:
                                best = x
                        new[k, b, p] = best
            value, new = new, value
        best = -np.inf
        arg = 0
        p = last[s]
        for r in range(n_rungs):  # the next chunk's draw is a fresh one: what is known of it is the draws' weights
            x = _outcomes(value, later, buffer_s[s], mbit[0, r], inv[s], weights, r, g, player) + util[i, r]
            x -= abs(util[i, r] - util[i - 1, p]) * smooth
            if x > best:  # the first of equals, as np.argmax
                best = x
                arg = r
        out[s] = arg
    return out


@njit(cache=True, nogil=True, inline="always")
def _outcomes(
    value: np.ndarray,
    later: np.ndarray,
    buf: float,
    mbit: float,
    inv: np.ndarray,
    weights: np.ndarray,
    r: int,
    g: int,
    player: tuple[float, float, float, float, float, float],
) -> float:  # pragma: no cover - compiled
    """Download a chunk of ``mbit`` at rung ``r`` from buffer ``buf`` under each draw k: ``later[k]`` = gamma *
    V_k(next buffer, r) - mu * stall (V_0 for every k when ``value`` holds one state). Returns their expectation.
    ``player`` is (chunk seconds, buffer cap, grid step, round trip, discount, mu)."""
    chunk_s, cap, step, rtt, gamma, mu = player
    states = value.shape[0]
    acc = 0.0
    for k in range(inv.shape[0]):
        dt = mbit * inv[k] + rtt
        stall = max(dt - buf, 0.0)
        nxt = min(max(buf - dt, 0.0) + chunk_s, cap) / step
        base = min(int(nxt), g - 2)
        frac = nxt - base
        state = k if states > 1 else 0
        lo = value[state, base, r]
        later[k] = gamma * (lo + (value[state, base + 1, r] - lo) * frac) - mu * stall
        acc += later[k] * weights[k]
    return acc
