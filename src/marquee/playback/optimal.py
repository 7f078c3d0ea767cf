"""The offline optimum: with the whole network trace known, the rung of every chunk that maximises the session's
QoE, found by dynamic programming over the simulator's own state. No online scheme can beat it; benchmarks report
every scheme as a share of it (as Pensieve's and Oboe's evaluations do with their offline optima)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register
from marquee.playback.session import SessionConfig, _Network
from marquee.playback.video import Video

if TYPE_CHECKING:
    from marquee.playback.traces import Trace

__all__ = ["OfflineOptimal", "OfflineOptimalConfig"]

# States per session in the pilot pass that sets each session's floor.
_PILOT_STATES = 64


@dataclass(frozen=True)
class OfflineOptimalConfig:
    """The grid of the dynamic program.

    Attributes:
        time_step_s: width of the trace-time buckets in which states merge (0.5 s).
        buffer_step_s: width of the buffer buckets in which states merge, and of the deadline buckets of the
            pruning (0.5 s). On 8 FCC traces the default grid's value is within 0.1% of a 10x finer one.
        prune: also drop a state when a state of the same session, last rung and deadline bucket that is no later
            on the trace scores at least as much (True).
        max_states: the beam: at most this many states per session survive a chunk, the best by score (20000);
            a safety valve on memory and time.
    """

    time_step_s: float = 0.5
    buffer_step_s: float = 0.5
    prune: bool = True
    max_states: int = 20000

    def __post_init__(self) -> None:
        for name in ("time_step_s", "buffer_step_s"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"OfflineOptimalConfig.{name} must be a finite number > 0, got {v!r}")
        if not isinstance(self.prune, bool):
            raise ConfigError(f"OfflineOptimalConfig.prune must be True or False, got {self.prune!r}")
        if isinstance(self.max_states, bool) or not isinstance(self.max_states, int) or self.max_states < 1:
            raise ConfigError(f"OfflineOptimalConfig.max_states must be an int >= 1, got {self.max_states!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@register
class OfflineOptimal(Scheme):
    """The offline optimum of QoE_lin (or of any per-chunk utility, see :meth:`utility`) under the simulator's
    conventions, by dynamic programming over every session at once.

    A state after chunk ``i`` is what the simulator carries: trace time ``u``, payload delivered ``g``, buffer
    (ms), the last rung, plus the score so far and a pointer to its parent. Every state is expanded by every rung
    with exactly :func:`marquee.playback.simulate`'s arithmetic; chunk ``i`` scores
    ``utility[i, r] - mu * stall_s - smooth_penalty * |utility[i, r] - utility[i-1, r_prev]|`` from
    ``qoe_from_chunk`` on (earlier chunks move the state unscored), ``mu`` and ``smooth_penalty`` those of the
    :class:`~marquee.playback.SessionConfig`.

    States of one session and last rung whose ``u`` and buffer round to the same ``time_step_s`` and
    ``buffer_step_s`` buckets merge into the best-scoring one, which keeps its exact continuous values, so the plan
    traced back is a real plan and its replay through the simulator is exact. With ``prune``, a state is also dropped
    when a state of the same session and rung, no later on the trace and in the same bucket of deadline
    ``u + buffer`` (start-up plus chunk seconds plus every stall so far), scores at least as much: following the
    same rungs it finishes every download no later and stalls no more, up to the width of the bucket (and except
    when the cap's sleep pushes it past the other on the trace, which needs a download longer than the cap).
    A pilot pass with a narrow beam finds a plan per session; the full pass then drops every state that could not
    beat it even with the best rungs from there on and no more stall than the trace forces: the bytes that cannot
    arrive before the buffer and the chunks left run out stall at least at the trace's top rate (an exact bound,
    see :class:`_Bound`). The merges, the
    bucketed pruning and the ``max_states`` beam can each lose the optimum in principle, by about a bucket's worth
    of stall; the result is never worse than the pilot's plan, and it matches brute force on the small problems
    of the tests.
    """

    Config: ClassVar[type] = OfflineOptimalConfig
    name: ClassVar[str] = "optimal"
    needs_future: ClassVar[bool] = True

    def __init__(
        self,
        time_step_s: float = 0.5,
        buffer_step_s: float = 0.5,
        prune: bool = True,
        max_states: int = 20000,
    ) -> None:
        self.config = OfflineOptimalConfig(
            time_step_s=time_step_s, buffer_step_s=buffer_step_s, prune=prune, max_states=max_states
        )

    @classmethod
    def from_config(cls, config: OfflineOptimalConfig) -> OfflineOptimal:
        """Build from a config."""
        return cls(**config.to_dict())

    def choose(self, obs: Observation) -> np.ndarray:
        """Never called: an offline scheme plans with :meth:`plan_ahead` and is replayed."""
        raise ConfigError(
            "OfflineOptimal is an offline scheme: it plans the whole session with plan_ahead() and cannot choose "
            "online; run it through marquee.playback.simulate(), which replays its plan"
        )

    def utility(self, video: Video) -> np.ndarray:
        """(n_chunks, n_rungs) float64 value of each chunk at each rung: the bitrate in Mbps (QoE_lin).

        Override for another objective (e.g. perceived quality per chunk and rung); the smoothness term is then the
        change in this utility."""
        return np.broadcast_to(video.bitrates_mbps, video.chunk_bytes.shape).astype(np.float64)

    def plan_ahead(self, traces: Sequence[Trace], video: Video, config: SessionConfig) -> np.ndarray:
        """(n_sessions, n_chunks) int64 rungs maximising each session's objective; column 0 is ``first_rung``.

        ``n_chunks`` is ``config.n_chunks`` (or the whole video)."""
        n_chunks = video.n_chunks if config.n_chunks is None else config.n_chunks
        if not 1 <= n_chunks <= video.n_chunks:
            raise ConfigError(f"SessionConfig.n_chunks={n_chunks} but video {video.name!r} has {video.n_chunks} chunks")
        if config.first_rung >= video.n_rungs:
            raise ConfigError(
                f"SessionConfig.first_rung={config.first_rung} but video {video.name!r} has {video.n_rungs} rungs"
            )
        if n_chunks < video.n_chunks:
            video = video.head(n_chunks)
        utility = np.asarray(self.utility(video), dtype=np.float64)
        if utility.shape != video.chunk_bytes.shape or not np.all(np.isfinite(utility)):
            raise ConfigError(
                f"{type(self).__name__}.utility() must return finite values of shape {video.chunk_bytes.shape} "
                f"(chunks, rungs), got shape {utility.shape}"
            )
        mu = float(video.bitrates_mbps[-1]) if config.rebuffer_penalty is None else float(config.rebuffer_penalty)
        net = _SortedNetwork(list(traces), config.payload_fraction, config.wrap_to)
        smooth = float(config.smooth_penalty)
        grid = self.config
        # A quick narrow pass finds a good plan per session; the full pass drops every state that cannot beat it.
        pilot, pilot_value = _solve(net, video, config, utility, mu, smooth, grid, min(grid.max_states, _PILOT_STATES))
        floor = pilot_value - 1e-9 * np.maximum(1.0, np.abs(pilot_value))
        plan, value = _solve(net, video, config, utility, mu, smooth, grid, grid.max_states, floor)
        # The merges may drop the pilot's path from the full pass: keep the pilot where the full pass fell short.
        return np.where((value < pilot_value)[:, None], pilot, plan)


class _SortedNetwork(_Network):
    """:class:`~marquee.playback.session._Network` for queries grouped by session, as the DP's states are: one
    ``np.searchsorted`` over each session's own samples instead of a lockstep binary search over the padded width.
    The column found, hence every value, is the same (the first with ``table > x``)."""

    def _first_above(self, table: np.ndarray, x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
            return super()._first_above(table, x, rows)
        bounds = np.searchsorted(rows, np.arange(table.shape[0] + 1))
        out = np.empty(x.shape[0], dtype=np.int64)
        for r in np.flatnonzero(bounds[1:] > bounds[:-1]):
            lo, hi = bounds[r], bounds[r + 1]
            out[lo:hi] = np.searchsorted(table[r], x[lo:hi], side="right")
        return out


@dataclass
class _States:
    """The DP's frontier after one chunk, one entry per state: (M,) arrays."""

    row: np.ndarray  # int64 session
    rung: np.ndarray  # int64 rung of the last chunk
    u: np.ndarray  # float64 trace time, s
    g: np.ndarray  # float64 payload delivered, bytes
    buf: np.ndarray  # float64 buffer, ms
    score: np.ndarray  # float64 objective so far
    parent: np.ndarray  # int64 index into the previous frontier

    def take(self, idx: np.ndarray) -> _States:
        return _States(*(a[idx] for a in (self.row, self.rung, self.u, self.g, self.buf, self.score, self.parent)))


def _solve(
    net: _Network,
    video: Video,
    cfg: SessionConfig,
    utility: np.ndarray,
    mu: float,
    smooth: float,
    grid: OfflineOptimalConfig,
    max_states: int,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The DP over all sessions of ``net`` at once: (n_sessions, n_chunks) int64 best rungs, (n_sessions,) their
    objective.

    Args:
        net: the sessions' traces.
        video: the ladder, already cut to the chunks played.
        cfg: the player's conventions (payload, round trip, cap, sleep step, first rung, ``qoe_from_chunk``).
        utility: (n_chunks, n_rungs) float64 value of each chunk at each rung.
        mu: penalty per stall second.
        smooth: weight of ``|utility change|`` between consecutive chunks.
        grid: bucket widths and pruning.
        max_states: the beam: states kept per session after each chunk, the best by score.
        floor: (n_sessions,) the objective of a known plan per session, or None: a state that cannot reach it
            (:class:`_Bound`) is dropped.
    """
    s = net.rows.size
    n_chunks, n_rungs = video.chunk_bytes.shape
    sizes = video.chunk_bytes.astype(np.float64)
    chunk_ms = video.chunk_seconds * 1000.0
    cap_ms, step_ms, rtt_ms = cfg.buffer_cap_s * 1000.0, cfg.sleep_step_s * 1000.0, cfg.rtt_s * 1000.0
    scored = np.arange(n_chunks) >= cfg.qoe_from_chunk
    bound = None if floor is None else _Bound(net, utility, smooth, scored, sizes, mu, cfg, video.chunk_seconds)

    rows = net.rows.copy()
    u0 = net.start.copy()
    states = _States(
        row=rows,
        rung=np.full(s, cfg.first_rung, dtype=np.int64),
        u=u0,
        g=net.delivered(u0),
        buf=np.zeros(s),
        score=np.zeros(s),
        parent=np.full(s, -1, dtype=np.int64),
    )
    history: list[_States] = []
    for i in range(n_chunks):
        if i == 0:
            parent = np.arange(s, dtype=np.int64)
            r = states.rung.copy()
        else:
            m = states.row.size
            parent = np.repeat(np.arange(m, dtype=np.int64), n_rungs)
            r = np.tile(np.arange(n_rungs, dtype=np.int64), m)
        row = states.row[parent]
        u = states.u[parent]
        buf_ms = states.buf[parent]
        # The simulator's step, operation for operation (session.simulate), so the survivors' values are exact.
        g_end = states.g[parent] + sizes[i, r]
        u_end = net.time_at(g_end, row)
        delay_ms = (u_end - u) * 1000.0 + rtt_ms
        stall_ms = np.maximum(delay_ms - buf_ms, 0.0)
        buf_ms = np.maximum(buf_ms - delay_ms, 0.0) + chunk_ms
        excess = buf_ms - cap_ms
        sleep_ms = np.where(excess > 0, np.ceil(excess / step_ms) * step_ms, 0.0)
        buf_ms = buf_ms - sleep_ms
        u = u_end + sleep_ms / 1000.0
        g = g_end
        slept = np.flatnonzero(sleep_ms > 0)
        if slept.size:
            g[slept] = net.delivered(u[slept], row[slept])
        score = states.score[parent]
        if scored[i]:
            change = 0.0 if i == 0 else np.abs(utility[i, r] - utility[i - 1, states.rung[parent]])
            score = score + (utility[i, r] - mu * (stall_ms / 1000.0) - smooth * change)
        nxt = _States(row=row, rung=r, u=u, g=g, buf=buf_ms, score=score, parent=parent)
        if i > 0:
            if bound is not None:
                reach = bound.reach(nxt, i, floor)
                keep = reach >= floor[nxt.row]
                keep |= reach == _max_per_row(nxt.row, reach, s)[nxt.row]  # no session runs out of states
                nxt = nxt.take(np.flatnonzero(keep))
            nxt = nxt.take(_survivors(nxt, grid, n_rungs, max_states))
        history.append(nxt)
        states = nxt

    # The best final state of each session, then back through the parents.
    best = _best_per_row(states.row, states.score)  # one per session, in session order
    plan = np.empty((s, n_chunks), dtype=np.int64)
    idx = best
    for i in range(n_chunks - 1, -1, -1):
        plan[:, i] = history[i].rung[idx]
        idx = history[i].parent[idx]
    return plan, states.score[best]


def _best_per_row(row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Index of the largest ``value`` of each ``row``, rows ascending (every row present)."""
    order = np.lexsort((-value, row))
    return order[np.r_[True, row[order][1:] != row[order][:-1]]]


def _ceiling(utility: np.ndarray, smooth: float, scored: np.ndarray) -> np.ndarray:
    """(n_chunks, n_rungs) the most the chunks after ``i`` can add when chunk ``i`` is at rung ``r``: the best
    rungs with no stall."""
    n_chunks, _ = utility.shape
    out = np.zeros_like(utility)
    for i in range(n_chunks - 2, -1, -1):
        gain = utility[i + 1][None, :] - smooth * np.abs(utility[i + 1][None, :] - utility[i][:, None])
        out[i] = (np.where(scored[i + 1], gain, 0.0) + out[i + 1][None, :]).max(axis=1)
    return out


class _Bound:
    """An upper bound on what the chunks after ``i`` can add to a state's score (the floor prune's test).

    Two bounds, the smaller taken. The plain one (:func:`_ceiling`): the best rungs from there on with no stall.
    The priced one holds once every chunk left is scored. Over the ``k`` chunks after ``i``, the buffer
    arithmetic of :func:`marquee.playback.simulate` telescopes: the stall is at least the trace time until the
    last byte arrives, plus ``k`` round trips, less the buffer ``b`` and ``k - 1`` chunks' seconds. So with
    ``D = u + b + (k - 1) * chunk_s - k * rtt_s`` (the deadline), bytes beyond ``G``, those the trace delivers by
    ``D``, stall at least ``1 / R`` second each, ``R`` the trace's top rate; hence for any price ``0 <= lam <=
    mu / R``, what is left scores at most ``lam * G + max(sum of (chunk value - lam * bytes))``, the max over rung
    sequences, i.e. :func:`_ceiling` with every byte priced. The prices tried form a geometric grid around the
    ladder's value per byte (where this dual bound is tight), each session's capped at ``mu / R``.
    """

    def __init__(
        self,
        net: _Network,
        utility: np.ndarray,
        smooth: float,
        scored: np.ndarray,
        sizes: np.ndarray,
        mu: float,
        cfg: SessionConfig,
        chunk_s: float,
    ) -> None:
        self.net = net
        self.plain = _ceiling(utility, smooth, scored)
        self.priced_from = int(np.argmax(scored)) - 1 if scored.any() else scored.size  # chunks after it all scored
        self.chunk_s, self.rtt_s = chunk_s, cfg.rtt_s
        self.top_rate = net.rate.max(axis=1)
        lam_max = np.where(self.top_rate > 0, mu / np.where(self.top_rate > 0, self.top_rate, 1.0), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_byte = np.abs(np.diff(utility, axis=1)) / np.diff(sizes, axis=1)
        per_byte = per_byte[np.isfinite(per_byte) & (per_byte > 0)]
        ref = float(np.median(per_byte)) if per_byte.size else float(lam_max.max())
        self.lam = np.minimum(
            ref * 2.0 ** (np.array([-8, -4, -2, -1, 0, 1, 2, 4, 8]) / 4.0)[None, :], lam_max[:, None]
        )  # (S, prices)
        self.priced = _priced_ceiling(utility, smooth, scored, sizes, self.lam)  # (S, chunks, rungs, prices)

    def reach(self, st: _States, i: int, floor: np.ndarray) -> np.ndarray:
        """(M,) at least the final score of each state of ``st`` (after chunk ``i``); the priced bound only where
        the plain one reaches ``floor`` (n_sessions,)."""
        reach = st.score + self.plain[i, st.rung]
        k = self.plain.shape[0] - 1 - i
        if k == 0 or i < self.priced_from:
            return reach
        q = np.flatnonzero(reach >= floor[st.row])
        row, u, g = st.row[q], st.u[q], st.g[q]
        deadline = u + st.buf[q] / 1000.0 + (k - 1) * self.chunk_s - k * self.rtt_s
        # Bytes that arrive by the deadline (past ones, when it is behind ``u``, at the top rate: a negative count).
        late = np.minimum(deadline - u, 0.0)
        in_time = self.net.delivered(np.maximum(deadline, u), row) - g + late * self.top_rate[row]
        lam = self.lam[row]  # (M, prices)
        priced = (lam * in_time[:, None] + self.priced[row, i, st.rung[q]]).min(axis=1)
        # Slack for rounding (the simulator's sums and the lookups): far below any real difference in score.
        priced += 1e-6 * (1.0 + np.abs(priced)) + lam.max(axis=1) * 1e-6 * (1.0 + np.abs(g))
        reach[q] = np.minimum(reach[q], st.score[q] + priced)
        return reach


def _priced_ceiling(
    utility: np.ndarray, smooth: float, scored: np.ndarray, sizes: np.ndarray, lam: np.ndarray
) -> np.ndarray:
    """(n_sessions, n_chunks, n_rungs, n_prices): :func:`_ceiling` with every byte after chunk ``i`` costing
    ``lam`` (n_sessions, n_prices) of its session and price."""
    n_chunks, n_rungs = utility.shape
    out = np.zeros((lam.shape[0], n_chunks, n_rungs, lam.shape[1]))
    lam = lam[:, None, None, :]
    for i in range(n_chunks - 2, -1, -1):
        gain = utility[i + 1][None, :] - smooth * np.abs(utility[i + 1][None, :] - utility[i][:, None])
        gain = np.where(scored[i + 1], gain, 0.0)  # (rung of chunk i, rung of chunk i + 1)
        total = gain[None, :, :, None] - lam * sizes[i + 1][None, None, :, None] + out[:, i + 1][:, None, :, :]
        out[:, i] = total.max(axis=2)
    return out


def _max_per_row(row: np.ndarray, value: np.ndarray, n_rows: int) -> np.ndarray:
    """(n_rows,) the largest ``value`` of each row; ``row`` ascending, every row present."""
    return np.maximum.reduceat(value, np.searchsorted(row, np.arange(n_rows)))


def _survivors(st: _States, grid: OfflineOptimalConfig, n_rungs: int, max_states: int) -> np.ndarray:
    """Indices of the states kept: the best of each (session, rung, time bucket, buffer bucket), then (``prune``)
    those no earlier state of the same (session, rung, deadline bucket) matches in score, then the beam."""
    tb = np.rint(st.u / grid.time_step_s).astype(np.int64)
    bb = np.rint(st.buf / (grid.buffer_step_s * 1000.0)).astype(np.int64)
    group = st.row * n_rungs + st.rung  # (session, rung)
    cell = _joint_key(group, tb, bb)  # one key per (session, rung, time bucket, buffer bucket)
    order = np.lexsort((-st.score, cell))
    c_s = cell[order]
    kept = order[np.r_[True, c_s[1:] != c_s[:-1]]]
    if grid.prune and kept.size > 1:
        kept = _undominated(st, kept, group[kept], grid.buffer_step_s)
    if kept.size > max_states:
        counts = np.bincount(st.row[kept])
        if counts.max() > max_states:
            o = np.lexsort((-st.score[kept], st.row[kept]))
            rows_o = st.row[kept][o]
            starts = np.searchsorted(rows_o, rows_o, side="left")
            kept = kept[o[(np.arange(o.size) - starts) < max_states]]
    return kept


def _undominated(st: _States, kept: np.ndarray, group: np.ndarray, step_s: float) -> np.ndarray:
    """Of ``kept``, those whose score beats every state of the same (session, rung) ``group`` and deadline bucket
    that is no later on the trace.

    The deadline ``u + buffer`` (the trace time at which the buffer would run dry) is the session's start-up plus
    the chunks' seconds plus every stall so far: states of one bucket have stalled the same to within ``step_s``.
    """
    deadline = np.rint((st.u[kept] * 1000.0 + st.buf[kept]) / (step_s * 1000.0)).astype(np.int64)
    score = st.score[kept]
    key = _joint_key(group, deadline)
    order = np.lexsort((-score, st.u[kept], key))
    k_s = key[order]
    cell = np.cumsum(np.r_[True, k_s[1:] != k_s[:-1]]) - 1
    # Dense score ranks (equal scores, equal ranks) make a per-cell running maximum exact integer arithmetic.
    _, rank = np.unique(score[order], return_inverse=True)
    v = cell * (int(rank.max()) + 1) + rank.astype(np.int64)
    running = np.maximum.accumulate(v)
    return kept[order[np.r_[True, v[1:] > running[:-1]]]]


def _joint_key(*keys: np.ndarray) -> np.ndarray:
    """One int64 key ordering like ``keys`` lexicographically (the first most significant), so that a sort needs
    one key instead of several; the rank of each tuple of keys where the product of their spans would overflow."""
    joint = np.zeros(keys[0].shape, dtype=np.int64)
    if joint.size == 0:
        return joint
    span = 1
    for k in keys:
        lo, hi = int(k.min()), int(k.max())
        span *= hi - lo + 1
        if span >= 2**62:
            return np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)
        joint = joint * (hi - lo + 1) + (k - lo)
    return joint
