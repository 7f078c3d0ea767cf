"""The chunk-level session simulator, vectorised across sessions, with Pensieve's conventions by default.

Conventions (each a :class:`SessionConfig` field), as in Pensieve's ``test/fixed_env.py`` and ``test/bb.py``:

- the session starts at the trace's first sample; sample ``j``'s throughput holds over
  ``(times_s[j-1], times_s[j]]`` (piecewise constant); at the end the trace wraps to its start;
- a chunk of ``B`` bytes downloads when ``payload_fraction`` (0.95) of the throughput integrated over trace
  time reaches ``B``; its download time is that transfer time plus one round trip ``rtt_s`` (0.08 s); the round
  trip counts in the download time but does not advance the trace;
- stall = ``max(download - buffer, 0)``; buffer = ``max(buffer - download, 0) + chunk_seconds``;
- if the buffer is above ``buffer_cap_s`` (60 s), the player sleeps ``ceil(excess / sleep_step_s) * sleep_step_s``
  (0.5 s steps): the buffer drains by that much and the trace advances by it;
- the first chunk is fetched at ``first_rung`` (1); its download time is the start-up delay, not a stall;
- playback starts once ``start_threshold_s`` of video is buffered (0: after the first chunk) and, after a stall,
  resumes once ``resume_threshold_s`` is (0: when the late chunk arrives); downloads while waiting count as
  start-up or as stall (devices set both from their players' defaults);
- QoE_lin per chunk = ``bitrate_Mbps - mu * stall_s - smooth_penalty * |bitrate - previous bitrate|_Mbps``,
  ``mu`` = ``rebuffer_penalty`` (default: the ladder's top bitrate in Mbps, 4.3 for Envivio); a session's QoE is
  the mean over chunks ``qoe_from_chunk``.. (default 1, i.e. chunks 2..N, as Pensieve's
  ``plot_results.py`` sums ``reward[1:48]``).

Buffer arithmetic is done in milliseconds, as Pensieve does, so the sleep's ceiling falls the same way.
On wrap-around Pensieve's code resets the trace clock to 0, which is the trace's start only for traces that
start at 0 (Pensieve's own). The shipped FCC traces start at e.g. 1520 s, where that literal reset holds sample
1's throughput for ~1520 s after the first pass. By default (``wrap_to="start"``) the clock returns to the
trace's first sample; ``wrap_to="zero"`` reproduces Pensieve's literal behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.device import Device
from marquee.playback.device import device as lookup_device
from marquee.playback.scheme import Observation, Scheme, check_rungs
from marquee.playback.traces import Trace, TraceSet
from marquee.playback.video import Video

__all__ = ["SessionConfig", "Sessions", "simulate"]

_BYTES_PER_MBIT = 1e6 / 8.0


@dataclass(frozen=True)
class SessionConfig:
    """The player and QoE conventions of a run; defaults are Pensieve's.

    Attributes:
        payload_fraction: share of the trace throughput that carries video (Pensieve: 0.95).
        rtt_s: one round trip added to every chunk's download time (Pensieve: 80 ms).
        buffer_cap_s: the buffer never stays above this (Pensieve: 60 s).
        sleep_step_s: the player sleeps in steps of this while over the cap (Pensieve: 0.5 s).
        first_rung: rung of the first chunk (Pensieve: 1, 750 kbps on Envivio).
        rebuffer_penalty: ``mu`` in QoE_lin per stall second; ``None``: the top bitrate in Mbps (4.3 on Envivio).
        smooth_penalty: weight of ``|bitrate change|`` in QoE_lin (Pensieve: 1).
        qoe_from_chunk: first 0-based chunk counted in QoE (Pensieve: 1, the first chunk is start-up).
        n_chunks: play only the first ``n_chunks`` chunks; ``None``: the whole video.
        wrap_to: where the trace clock returns at the end of a pass: ``"start"`` (its first sample) or
            ``"zero"`` (Pensieve's literal ``last_mahimahi_time = 0``: for a trace starting at ``t0 > 0``, the
            second and later passes hold sample 1's throughput from time 0 to ``times_s[1]``).
        start_threshold_s: seconds buffered before playback starts (Pensieve: 0, i.e. at the first chunk); the
            downloads until then are the start-up delay.
        resume_threshold_s: seconds buffered before playback resumes after a rebuffer (Pensieve: 0, i.e. as soon
            as the late chunk arrives); downloads while waiting count as stall.
    """

    payload_fraction: float = 0.95
    rtt_s: float = 0.08
    buffer_cap_s: float = 60.0
    sleep_step_s: float = 0.5
    first_rung: int = 1
    rebuffer_penalty: float | None = None
    smooth_penalty: float = 1.0
    qoe_from_chunk: int = 1
    n_chunks: int | None = None
    wrap_to: str = "start"
    start_threshold_s: float = 0.0
    resume_threshold_s: float = 0.0

    def __post_init__(self) -> None:
        def number(name: str, lo: float, lo_open: bool) -> None:
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            if not ok or (v <= lo if lo_open else v < lo):
                raise ConfigError(
                    f"SessionConfig.{name} must be a finite number {'>' if lo_open else '>='} {lo}, got {v!r}"
                )

        number("payload_fraction", 0.0, True)
        if self.payload_fraction > 1:
            raise ConfigError(f"SessionConfig.payload_fraction must be in (0, 1], got {self.payload_fraction!r}")
        number("rtt_s", 0.0, False)
        number("buffer_cap_s", 0.0, True)
        number("sleep_step_s", 0.0, True)
        number("smooth_penalty", 0.0, False)
        number("start_threshold_s", 0.0, False)
        number("resume_threshold_s", 0.0, False)
        if max(self.start_threshold_s, self.resume_threshold_s) > self.buffer_cap_s:
            raise ConfigError(
                f"SessionConfig start_threshold_s={self.start_threshold_s} and resume_threshold_s="
                f"{self.resume_threshold_s} must not exceed buffer_cap_s={self.buffer_cap_s}"
            )
        if self.rebuffer_penalty is not None:
            number("rebuffer_penalty", 0.0, False)
        for name in ("first_rung", "qoe_from_chunk"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"SessionConfig.{name} must be an int >= 0, got {v!r}")
        if self.wrap_to not in ("start", "zero"):
            raise ConfigError(f"SessionConfig.wrap_to must be 'start' or 'zero', got {self.wrap_to!r}")
        if self.n_chunks is not None and (
            isinstance(self.n_chunks, bool) or not isinstance(self.n_chunks, int) or self.n_chunks < 1
        ):
            raise ConfigError(f"SessionConfig.n_chunks must be an int >= 1 or None, got {self.n_chunks!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionConfig:
        """Inverse of :meth:`to_dict`; an unknown key raises."""
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"SessionConfig has no field(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**data)


@dataclass(frozen=True, eq=False)
class Sessions:
    """The result of :func:`simulate`: per chunk and per session.

    Per-chunk arrays are (n_sessions, n_chunks). Chunks fetched before playback starts have no stall: their
    downloads are the start-up delay (``startup_s``).

    Attributes:
        scheme: the scheme's name.
        trace_names: (n_sessions,) the traces, in order.
        video: the ladder played (first ``n_chunks`` chunks).
        config: the conventions used.
        rung: int64 rung of each chunk.
        download_s: download time of each chunk, round trip included.
        stall_s: rebuffering before each chunk could play.
        buffer_s: buffer after each chunk arrived and any sleep.
        sleep_s: sleep after each chunk.
        throughput_mbps: measured throughput of each chunk (bytes * 8 / download_s).
        qoe_chunk: QoE_lin of each chunk (always in bitrate terms, so schemes compare across devices).
        startup_s: (n_sessions,) seconds from the session's start to the start of playback.
        device: the device's name, or ``None``.
    """

    scheme: str
    trace_names: tuple[str, ...]
    video: Video
    config: SessionConfig
    rung: np.ndarray
    download_s: np.ndarray
    stall_s: np.ndarray
    buffer_s: np.ndarray
    sleep_s: np.ndarray
    throughput_mbps: np.ndarray
    qoe_chunk: np.ndarray
    startup_s: np.ndarray
    device: str | None = None

    @property
    def n_sessions(self) -> int:
        """Number of sessions."""
        return int(self.rung.shape[0])

    @property
    def time_s(self) -> np.ndarray:
        """(n_sessions, n_chunks) wall-clock seconds since the session began at which each chunk had arrived
        and the player had finished any sleep after it (the clock of Pensieve's logs)."""
        return np.cumsum(self.download_s + self.sleep_s, axis=1)

    @property
    def rebuffer_s(self) -> np.ndarray:
        """(n_sessions,) total stall seconds after start-up."""
        return self.stall_s.sum(axis=1)

    @property
    def rebuffer_ratio(self) -> np.ndarray:
        """(n_sessions,) stall time over stall plus played time: ``rebuffer / (rebuffer + chunks * chunk_seconds)``."""
        played = self.rung.shape[1] * self.video.chunk_seconds
        return self.rebuffer_s / (self.rebuffer_s + played)

    @property
    def bitrate_mbps(self) -> np.ndarray:
        """(n_sessions, n_chunks) nominal bitrate of each chunk."""
        return self.video.bitrates_mbps[self.rung]

    @property
    def avg_bitrate_mbps(self) -> np.ndarray:
        """(n_sessions,) mean nominal bitrate over all chunks."""
        return self.bitrate_mbps.mean(axis=1)

    @property
    def quality(self) -> np.ndarray | None:
        """(n_sessions, n_chunks) perceptual quality of each chunk, or ``None`` if the video has none."""
        if self.video.quality is None:
            return None
        return self.video.quality[np.arange(self.rung.shape[1])[None, :], self.rung]

    @property
    def quality_mean(self) -> np.ndarray:
        """(n_sessions,) mean quality over all chunks; NaN if the video has no quality."""
        q = self.quality
        return np.full(self.n_sessions, np.nan) if q is None else q.mean(axis=1)

    @property
    def quality_p5(self) -> np.ndarray:
        """(n_sessions,) 5th percentile of chunk quality (linear interpolation); NaN without quality."""
        q = self.quality
        return np.full(self.n_sessions, np.nan) if q is None else np.percentile(q, 5, axis=1)

    @property
    def switches(self) -> np.ndarray:
        """(n_sessions,) int64 number of rung changes between consecutive chunks."""
        return np.count_nonzero(np.diff(self.rung, axis=1), axis=1).astype(np.int64)

    @property
    def bytes(self) -> np.ndarray:
        """(n_sessions,) int64 bytes downloaded."""
        return self.video.chunk_bytes[np.arange(self.rung.shape[1])[None, :], self.rung].sum(axis=1)

    @property
    def qoe(self) -> np.ndarray:
        """(n_sessions,) mean QoE_lin per chunk over chunks ``config.qoe_from_chunk``.."""
        return self.qoe_chunk[:, self.config.qoe_from_chunk :].mean(axis=1)

    def summary(self) -> dict[str, Any]:
        """Means over sessions, JSON-ready (``quality_mean`` is ``None`` without quality)."""
        q = self.quality_mean
        return {
            "scheme": self.scheme,
            "device": self.device,
            "sessions": self.n_sessions,
            "qoe_per_chunk": float(self.qoe.mean()),
            "rebuffer_s": float(self.rebuffer_s.mean()),
            "rebuffer_ratio": float(self.rebuffer_ratio.mean()),
            "avg_bitrate_mbps": float(self.avg_bitrate_mbps.mean()),
            "startup_s": float(self.startup_s.mean()),
            "switches": float(self.switches.mean()),
            "bytes": float(self.bytes.mean()),
            "quality_mean": None if self.video.quality is None else float(q.mean()),
            "quality_p5": None if self.video.quality is None else float(self.quality_p5.mean()),
        }


class _Network:
    """All sessions' traces padded into arrays; cumulative payload as a function of trace time.

    ``tt`` (S, L): sample times minus the first (``tt[:, 0] = 0``, one pass lasts ``period``; with
    ``wrap_to="zero"`` the times themselves with ``tt[:, 0] = 0`` and the session starting at ``start``); ``cum`` (S, L):
    payload bytes delivered from the start to each sample; ``rate`` (S, L): bytes/s over the interval ending at
    each sample. Padding is ``+inf`` in ``tt`` and ``cum`` so the searches need no per-row bound.
    """

    def __init__(self, traces: Sequence[Trace], payload_fraction: float, wrap_to: str = "start") -> None:
        s = len(traces)
        width = max(len(t) for t in traces)
        self.rows = np.arange(s)
        self.tt = np.full((s, width), np.inf)
        self.cum = np.full((s, width), np.inf)
        self.rate = np.zeros((s, width))
        self.start = np.zeros(s)
        for i, t in enumerate(traces):
            n = len(t)
            if wrap_to == "zero" and t.times_s[0] > 0:
                # Pensieve's literal wrap: a pass runs from 0, the session starts at times_s[0] into the first one.
                tt = t.times_s.copy()
                tt[0] = 0.0
                self.start[i] = t.times_s[0]
            else:
                tt = t.times_s - t.times_s[0]
            rate = np.zeros(n)
            rate[1:] = t.mbps[1:] * _BYTES_PER_MBIT * payload_fraction
            self.tt[i, :n] = tt
            self.rate[i, :n] = rate
            self.cum[i, :n] = np.concatenate(([0.0], np.cumsum(rate[1:] * np.diff(tt))))
        lengths = np.array([len(t) for t in traces])
        self.period = self.tt[self.rows, lengths - 1]
        self.per_pass = self.cum[self.rows, lengths - 1]
        self._steps = max(1, math.ceil(math.log2(width)) + 1)

    def _first_above(self, table: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Per query, the first column j with ``table[rows[q], j] > x[q]`` (one exists by construction)."""
        lo = np.zeros(x.shape[0], dtype=np.int64)
        hi = np.full(x.shape[0], table.shape[1] - 1, dtype=np.int64)
        for _ in range(self._steps):
            mid = (lo + hi) // 2
            above = table[rows, mid] > x
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid + 1)
        return hi

    def delivered(self, u: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Payload bytes delivered from the session start to trace time ``u`` (seconds since start, wrapping).

        ``rows`` (same shape as ``u``) names the trace of each query; default: query ``q`` is on trace ``q``."""
        rows = self.rows if rows is None else rows
        k, um = _passes(u, self.period[rows])
        j = self._first_above(self.tt, um, rows)
        return k * self.per_pass[rows] + self.cum[rows, j - 1] + self.rate[rows, j] * (um - self.tt[rows, j - 1])

    def time_at(self, g: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The trace time at which ``g`` payload bytes have been delivered (the latest such instant, as Pensieve
        moves past zero-throughput samples before finishing a chunk); ``rows`` as in :meth:`delivered`."""
        rows = self.rows if rows is None else rows
        k, r = _passes(g, self.per_pass[rows])
        j = self._first_above(self.cum, r, rows)
        return k * self.period[rows] + self.tt[rows, j - 1] + (r - self.cum[rows, j - 1]) / self.rate[rows, j]


def _as_traces(traces: TraceSet | Trace | Sequence[Trace]) -> tuple[Trace, ...]:
    if isinstance(traces, Trace):
        return (traces,)
    out = tuple(traces)
    if not out:
        raise ConfigError("simulate() needs at least one trace, got none")
    for t in out:
        if not isinstance(t, Trace):
            raise ConfigError(f"simulate() takes Trace values (or a TraceSet), got {type(t).__name__}")
    return out


def simulate(
    traces: TraceSet | Trace | Sequence[Trace],
    video: Video,
    scheme: Scheme,
    config: SessionConfig | None = None,
    *,
    device: Device | str | None = None,
) -> Sessions:
    """Play ``video`` once over each trace with ``scheme`` choosing rungs; all sessions advance together.

    Args:
        traces: one session per trace.
        video: the ladder; ``config.n_chunks`` (if set) keeps its first chunks.
        scheme: decides chunks 1..N-1 (chunk 0 is ``config.first_rung``); its ``start`` is called first. An offline
            scheme (``needs_future``) plans every chunk up front with :meth:`Scheme.plan_ahead`; the plan is replayed.
        config: conventions; default Pensieve's (:class:`SessionConfig`).
        device: a :class:`~marquee.playback.Device` or its name: the ladder is the one offered to it (rungs above
            its cap dropped, quality as it shows), and its player's buffer cap and start/resume thresholds replace
            those of ``config``.

    Returns:
        :class:`Sessions`, per-chunk arrays of shape (n_sessions, n_chunks).

    Raises:
        ConfigError: ``first_rung`` or ``n_chunks`` do not fit the video, or the scheme returns bad rungs.
    """
    cfg = config or SessionConfig()
    dev = None if device is None else lookup_device(device)
    if dev is not None:
        video = dev.ladder(video)
        cfg = dev.session_config(cfg)
    trace_list = _as_traces(traces)
    if not isinstance(scheme, Scheme):
        raise ConfigError(f"scheme must be a marquee.playback.Scheme, got {type(scheme).__name__}")
    n_chunks = video.n_chunks if cfg.n_chunks is None else cfg.n_chunks
    if n_chunks > video.n_chunks:
        raise ConfigError(f"SessionConfig.n_chunks={n_chunks} but video {video.name!r} has {video.n_chunks} chunks")
    if cfg.first_rung >= video.n_rungs:
        raise ConfigError(
            f"SessionConfig.first_rung={cfg.first_rung} but video {video.name!r} has {video.n_rungs} rungs"
        )
    if cfg.qoe_from_chunk >= n_chunks:
        raise ConfigError(f"SessionConfig.qoe_from_chunk={cfg.qoe_from_chunk} leaves no chunk of {n_chunks} to score")
    if n_chunks < video.n_chunks:
        video = video.head(n_chunks)

    s = len(trace_list)
    net = _Network(trace_list, cfg.payload_fraction, cfg.wrap_to)
    mu = video.bitrates_mbps[-1] if cfg.rebuffer_penalty is None else cfg.rebuffer_penalty
    chunk_ms = video.chunk_seconds * 1000.0
    cap_ms, step_ms, rtt_ms = cfg.buffer_cap_s * 1000.0, cfg.sleep_step_s * 1000.0, cfg.rtt_s * 1000.0
    rates = video.bitrates_mbps

    rung = np.zeros((s, n_chunks), dtype=np.int64)
    download_s = np.zeros((s, n_chunks))
    stall_s = np.zeros((s, n_chunks))
    buffer_s = np.zeros((s, n_chunks))
    sleep_s = np.zeros((s, n_chunks))
    throughput = np.zeros((s, n_chunks))

    u = net.start.copy()  # trace time since the start of the first pass, seconds
    g = net.delivered(u)  # payload bytes delivered since the start of the first pass
    buf_ms = np.zeros(s)
    startup_ms = np.zeros(s)
    started = np.zeros(s, dtype=bool)  # playback has begun
    playing = np.zeros(s, dtype=bool)  # the buffer drains (False before the start and while rebuffering)
    start_ms, resume_ms = cfg.start_threshold_s * 1000.0, cfg.resume_threshold_s * 1000.0
    last = np.full(s, cfg.first_rung, dtype=np.int64)
    scheme.start(video, s)
    planned = _checked_plan(scheme, trace_list, video, cfg) if scheme.needs_future else None
    for i in range(n_chunks):
        if i == 0:
            r = np.full(s, cfg.first_rung, dtype=np.int64)
        elif planned is not None:
            r = planned[:, i]
        else:
            obs = Observation(
                chunk_index=i,
                n_chunks=n_chunks,
                buffer_s=_readonly(buf_ms / 1000.0),
                last_rung=_readonly(last.copy()),
                throughput_mbps=_readonly(throughput[:, :i]),
                download_s=_readonly(download_s[:, :i]),
                video=video,
                buffer_cap_s=cfg.buffer_cap_s,
                device=dev,
                rtt_s=cfg.rtt_s,
            )
            r = check_rungs(scheme, scheme.choose(obs), s, video.n_rungs)
        size = video.chunk_bytes[i, r].astype(np.float64)
        g_end = g + size
        u_end = net.time_at(g_end)
        delay_ms = (u_end - u) * 1000.0 + rtt_ms
        # Playing: the buffer drains while the chunk downloads and any shortfall is a stall. Waiting (before the
        # start, or rebuffering below the resume threshold): nothing drains and the whole download is waited for.
        stall_ms = np.where(playing, np.maximum(delay_ms - buf_ms, 0.0), np.where(started, delay_ms, 0.0))
        startup_ms += np.where(started, 0.0, delay_ms)
        buf_ms = np.where(playing, np.maximum(buf_ms - delay_ms, 0.0), buf_ms) + chunk_ms
        ran_dry = playing & (stall_ms > 0) & (buf_ms < resume_ms)
        ready = ~playing & (buf_ms >= np.where(started, resume_ms, start_ms))
        playing = (playing & ~ran_dry) | ready
        started |= ready
        excess = buf_ms - cap_ms
        sleep_ms = np.where(excess > 0, np.ceil(excess / step_ms) * step_ms, 0.0)
        buf_ms = buf_ms - sleep_ms
        u = u_end + sleep_ms / 1000.0
        slept = sleep_ms > 0
        g = np.where(slept, net.delivered(u), g_end) if slept.any() else g_end

        rung[:, i] = r
        download_s[:, i] = delay_ms / 1000.0
        stall_s[:, i] = stall_ms / 1000.0
        buffer_s[:, i] = buf_ms / 1000.0
        sleep_s[:, i] = sleep_ms / 1000.0
        throughput[:, i] = size * 8.0 / 1e6 / download_s[:, i]
        last = r

    bitrate = rates[rung]
    change = np.abs(np.diff(bitrate, axis=1, prepend=rates[cfg.first_rung]))
    qoe_chunk = bitrate - mu * stall_s - cfg.smooth_penalty * change
    # A session whose buffer never reached the start threshold never started: it waited for every chunk.
    startup_s = startup_ms / 1000.0
    for arr in (rung, download_s, stall_s, buffer_s, sleep_s, throughput, qoe_chunk, startup_s):
        arr.setflags(write=False)
    return Sessions(
        scheme=scheme.name,
        trace_names=tuple(t.name for t in trace_list),
        video=video,
        config=cfg,
        rung=rung,
        download_s=download_s,
        stall_s=stall_s,
        buffer_s=buffer_s,
        sleep_s=sleep_s,
        throughput_mbps=throughput,
        qoe_chunk=qoe_chunk,
        startup_s=startup_s,
        device=None if dev is None else dev.name,
    )


def _checked_plan(scheme: Scheme, traces: tuple[Trace, ...], video: Video, cfg: SessionConfig) -> np.ndarray:
    plan = np.asarray(scheme.plan_ahead(traces, video, cfg))
    want = (len(traces), video.n_chunks)
    if plan.shape != want or not np.issubdtype(plan.dtype, np.integer):
        raise ConfigError(
            f"scheme {scheme.name!r} returned a plan of shape {plan.shape} and dtype {plan.dtype} from plan_ahead(); "
            f"expected integer rungs of shape {want}"
        )
    if plan.size and (plan.min() < 0 or plan.max() >= video.n_rungs):
        raise ConfigError(f"scheme {scheme.name!r} planned a rung outside 0..{video.n_rungs - 1}")
    if np.any(plan[:, 0] != cfg.first_rung):
        raise ConfigError(f"scheme {scheme.name!r} planned chunk 0 away from first_rung={cfg.first_rung}")
    return plan.astype(np.int64, copy=False)


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.setflags(write=False)
    return v


def _passes(x: np.ndarray, period: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (time, or payload) as whole passes over a wrapping trace and what is left, ``0 <= left < period``
    (floating-point division can leave ``left == period``: that is one more pass)."""
    k = np.floor(x / period)
    left = x - k * period
    wrap = left >= period
    return np.where(wrap, k + 1, k), np.maximum(np.where(wrap, left - period, left), 0.0)
