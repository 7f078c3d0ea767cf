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
  planned download time is its bits over the drawn throughput plus the round trip. Throughput draws are
  independent per chunk.
- **Device-aware utility.** With ``objective="quality"`` (or ``"auto"`` when the session has a device and the
  ladder has per-chunk quality) a chunk is worth its perceived quality on that device, scaled so that the top
  score equals the top bitrate in Mbps (so ``mu`` keeps its meaning); otherwise its bitrate in Mbps, as in QoE_lin.

The hyperparameters were chosen on a declared tuning set disjoint from the traces the targets are measured on
(see ``bench/playback.py``); nothing is learned at run time beyond the per-session ratios.

No library implements ABR planning; the DP here is a few vectorised array operations over
(sessions, buffer grid, rungs, throughput draws).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register
from marquee.playback.traces import TraceSet
from marquee.playback.video import Video

if TYPE_CHECKING:
    from marquee.playback.session import SessionConfig

__all__ = ["TUNING_GRID", "StochasticMPC", "StochasticMPCConfig"]

#: The grid :meth:`StochasticMPC.fit` searches by default (bench/playback_tune.py searches the same one).
TUNING_GRID: dict[str, tuple[Any, ...]] = {
    "history": (2, 3),
    "prior_weight": (2.0, 3.0, 5.0),
    "prior_ratios": ((0.4, 0.7, 1.0), (0.5, 0.8, 1.0), (0.6, 0.9, 1.0)),
    "discount": (0.95, 1.0),
    "horizon": (24,),
}

# Sessions x grid x rungs x draws cells per block: bounds the planner's working arrays (~64 MB each).
_MAX_CELLS = 1 << 23
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
    """

    # Chosen by bench/playback_tune.py on Puffer 2022-02-18 and Sabre's FCC SD (bench/results/playback_tune.json).
    horizon: int = 24
    window: int = 5
    history: int = 2
    prior_ratios: tuple[float, ...] = (0.6, 0.9, 1.0)
    prior_weight: float = 2.0
    buffer_step_s: float = 1.0
    rebuffer_penalty: float | None = None
    smooth_penalty: float = 1.0
    objective: str = "auto"
    data_cost_per_mb: float | None = None
    discount: float = 0.95

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

        Sets ``fit_scores_``: a list of (params, score), in grid order. Score only traces you did not fit on.
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
        util = self.utility(obs)
        mu = video.bitrates_mbps[-1] if cfg.rebuffer_penalty is None else cfg.rebuffer_penalty
        n, k = throughput_mbps.shape
        cells = int(np.ceil(60.0 / cfg.buffer_step_s) + 2) * video.n_rungs * k
        block = max(1, _MAX_CELLS // cells)
        out = np.empty(n, dtype=np.int64)
        for lo in range(0, n, block):
            sl = slice(lo, min(n, lo + block))
            out[sl] = self._plan_block(obs, throughput_mbps[sl], weights, util, mu, h, sl)
        return out

    def _plan_block(
        self,
        obs: Observation,
        tput: np.ndarray,
        weights: np.ndarray,
        util: np.ndarray,
        mu: float,
        h: int,
        sl: slice,
    ) -> np.ndarray:
        cfg = self.config
        video = obs.video
        i, chunk_s = obs.chunk_index, video.chunk_seconds
        cap = max(float(obs.buffer_cap_s), chunk_s)
        step = cfg.buffer_step_s
        rtt = float(obs.rtt_s)
        gamma = cfg.discount
        g = int(np.ceil(cap / step)) + 1
        grid = np.minimum(np.arange(g) * step, cap)
        s, _ = tput.shape
        r = video.n_rungs
        mbit = video.chunk_bytes[i : i + h].astype(np.float64) * 8.0 / 1e6  # (h, R)
        inv = 1.0 / tput  # (S, K)
        rows = np.arange(s)[:, None, None, None] * g
        cols = np.arange(r)[None, None, :, None]

        def expected_next(value: np.ndarray, buf: np.ndarray, j: int) -> np.ndarray:
            # E_k[ V(next buffer, rung) - mu * stall ] for downloading chunk i+j at each rung from buffers ``buf``.
            dt = mbit[j][None, None, :, None] * inv[:, None, None, :] + rtt  # (S, 1, R, K)
            stall = np.maximum(dt - buf, 0.0)
            nxt = np.minimum(np.maximum(buf - dt, 0.0) + chunk_s, cap) / step
            base = np.minimum(nxt.astype(np.int64), g - 2)
            frac = nxt - base
            flat = (rows + base) * r + cols
            v = value.reshape(-1)
            lo_v = v[flat]
            later = lo_v + (v[flat + r] - lo_v) * frac
            return ((gamma * later - mu * stall) * weights).sum(axis=-1)  # (S, B, R)

        # Value after the last planned chunk: 0 (what remains is the next decision's problem).
        value = np.zeros((s, g, r))
        for j in range(h - 1, 0, -1):
            q = expected_next(value, grid[None, :, None, None], j) + util[i + j][None, None, :]  # (S, G, R)
            change = np.abs(util[i + j][None, :] - util[i + j - 1][:, None]) * cfg.smooth_penalty  # (Rprev, R)
            value = (q[:, :, None, :] - change[None, None, :, :]).max(axis=-1)  # (S, G, Rprev)
        buf = obs.buffer_s[sl][:, None, None, None]
        q = expected_next(value, buf, 0)[:, 0, :] + util[i][None, :]  # (S, R)
        last = obs.last_rung[sl]
        q -= np.abs(util[i][None, :] - util[i - 1][last][:, None]) * cfg.smooth_penalty
        return np.argmax(q, axis=1).astype(np.int64)
