"""Plays meet playback: each simulated session is played over a real network trace on its device.

The world's device classes map onto playback's (:data:`PLAYBACK_DEVICE`): a session on ``mobile`` plays on a
``phone`` (its ladder, quality model and player thresholds), over a trace drawn from the phone's networks, and so
on. :func:`play` gives every session its start-up delay, rebuffering, bitrate, perceived quality, bytes and QoE,
which later work (a rebuffer guardrail, churn) can read. :func:`abr_ab_test` runs an A/B test of two ABR schemes
on the same sessions and traces, analyses it with :func:`marquee.experiment.compare`, and knows the truth:
every session is also played under the other arm's scheme, so the true difference of per-member means over the
test's members is computed, not assumed.

Every play is of the same ladder (``video``, Envivio by default): the world's titles carry no encodes of
their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from marquee.errors import ConfigError
from marquee.playback import Scheme, SessionConfig, TraceSet, Video, load_traces, load_video, simulate
from marquee.random import SeedLike, as_generator
from marquee.sim.context import DEVICES
from marquee.sim.online import ABTest, _draw_members, compare_arms
from marquee.sim.world import Sessions, World

__all__ = ["DEFAULT_NETWORKS", "PLAYBACK_DEVICE", "PlaybackOutcome", "abr_ab_test", "play"]

#: The world's device classes (:data:`marquee.sim.context.DEVICES`) as playback device classes.
PLAYBACK_DEVICE: dict[str, str] = {"tv": "tv", "mobile": "phone", "web": "laptop", "tablet": "tablet"}

#: Network traces per playback device by default: the shipped sets, cellular (Norway HSDPA) for phones and tablets,
#: broadband (FCC) for laptops and TVs.
DEFAULT_NETWORKS: dict[str, str] = {
    "phone": "hsdpa_pensieve80",
    "tablet": "hsdpa_pensieve80",
    "laptop": "fcc_pensieve88",
    "tv": "fcc_pensieve88",
}

#: The per-play measures, in the order reports show them.
METRICS = ("qoe", "rebuffer_s", "startup_s", "bitrate_mbps", "quality", "megabytes")


@dataclass(frozen=True)
class PlaybackOutcome:
    """How each session played (arrays aligned with the sessions).

    Attributes:
        device: (n,) playback device names.
        trace: (n,) the trace each session played over (``"set/name"``).
        qoe: (n,) mean QoE_lin per chunk.
        rebuffer_s: (n,) stall seconds after start-up.
        startup_s: (n,) start-up delay.
        bitrate_mbps: (n,) mean nominal bitrate.
        quality: (n,) mean perceived quality on the device (NaN if the ladder has none).
        megabytes: (n,) data used.
    """

    device: np.ndarray
    trace: np.ndarray
    qoe: np.ndarray
    rebuffer_s: np.ndarray
    startup_s: np.ndarray
    bitrate_mbps: np.ndarray
    quality: np.ndarray
    megabytes: np.ndarray

    def __len__(self) -> int:
        return int(self.qoe.size)


def _networks(networks: Mapping[str, TraceSet | str] | None) -> dict[str, TraceSet]:
    chosen = {**DEFAULT_NETWORKS, **(networks or {})}
    unknown = set(chosen) - set(DEFAULT_NETWORKS)
    if unknown:
        raise ConfigError(f"networks given for unknown device(s) {sorted(unknown)}; known: {sorted(DEFAULT_NETWORKS)}")
    cache: dict[str, TraceSet] = {}
    out = {}
    for device, value in chosen.items():
        if isinstance(value, str):
            value = cache.setdefault(value, load_traces(value))
        if not isinstance(value, TraceSet) or len(value) == 0:
            raise ConfigError(f"networks[{device!r}] must be a non-empty TraceSet or a trace set's name")
        out[device] = value
    return out


def _draw_traces(sessions: Sessions, networks: dict[str, TraceSet], rng: np.random.Generator) -> np.ndarray:
    """(n,) int64 trace index per session within its device's network set."""
    out = np.empty(len(sessions), dtype=np.int64)
    for code, name in enumerate(DEVICES):
        rows = np.flatnonzero(sessions.device == code)
        out[rows] = rng.integers(0, len(networks[PLAYBACK_DEVICE[name]]), rows.size)
    return out


def _play(
    sessions: Sessions,
    picks: np.ndarray,
    networks: dict[str, TraceSet],
    video: Video,
    scheme: Callable[[], Scheme],
    config: SessionConfig | None,
) -> PlaybackOutcome:
    n = len(sessions)
    device = np.empty(n, dtype=object)
    trace = np.empty(n, dtype=object)
    cols = {m: np.full(n, np.nan) for m in METRICS}
    for code, name in enumerate(DEVICES):
        rows = np.flatnonzero(sessions.device == code)
        if rows.size == 0:
            continue
        pdev = PLAYBACK_DEVICE[name]
        net = networks[pdev]
        played = simulate([net[int(j)] for j in picks[rows]], video, scheme(), config, device=pdev)
        device[rows] = pdev
        trace[rows] = [f"{net.name}/{net[int(j)].name}" for j in picks[rows]]
        cols["qoe"][rows] = played.qoe
        cols["rebuffer_s"][rows] = played.rebuffer_s
        cols["startup_s"][rows] = played.startup_s
        cols["bitrate_mbps"][rows] = played.avg_bitrate_mbps
        cols["quality"][rows] = played.quality_mean
        cols["megabytes"][rows] = played.bytes / 1e6
    return PlaybackOutcome(device, trace, **cols)


def play(
    sessions: Sessions,
    scheme: Callable[[], Scheme],
    *,
    video: Video | None = None,
    networks: Mapping[str, TraceSet | str] | None = None,
    config: SessionConfig | None = None,
    seed: SeedLike = 0,
) -> PlaybackOutcome:
    """Play every session on its device over a trace drawn from that device's networks.

    Args:
        sessions: the world's sessions (their ``device`` picks the playback device, :data:`PLAYBACK_DEVICE`).
        scheme: builds the ABR scheme (called once per device class), e.g. ``marquee.playback.StochasticMPC``.
        video: the ladder every play uses (default: Envivio, 48 chunks).
        networks: playback device -> trace set (or shipped set name); defaults :data:`DEFAULT_NETWORKS`.
        config: the player conventions (each device's buffer and thresholds replace those fields).
        seed: draws the trace of each session.
    """
    rng = as_generator(seed)
    nets = _networks(networks)
    picks = _draw_traces(sessions, nets, rng)
    return _play(sessions, picks, nets, video or load_video("envivio"), scheme, config)


def abr_ab_test(
    world: World,
    control: Callable[[], Scheme],
    treatment: Callable[[], Scheme],
    *,
    members: int | np.ndarray = 1000,
    sessions_per_member: int = 3,
    video: Video | None = None,
    networks: Mapping[str, TraceSet | str] | None = None,
    config: SessionConfig | None = None,
    alpha: float = 0.05,
    seed: SeedLike = 0,
) -> ABTest:
    """A/B test of two ABR schemes over the world's members: half the members play every session with
    ``treatment``, half with ``control``; each session is a play on the member's device over a trace drawn from
    its networks. Metrics (:data:`METRICS`) are per-member means, compared with Welch's test. The result's
    ``truth`` holds the true difference of per-member means, every session played under both schemes over the
    same trace, averaged over all the test's members.
    """
    if sessions_per_member < 1:
        raise ConfigError(f"sessions_per_member must be >= 1, got {sessions_per_member}")
    rng = as_generator(seed)
    members = _draw_members(world, members, rng)
    arm = rng.permutation(members.size) % 2  # 0 control, 1 treatment, balanced
    sessions = world.sessions(np.repeat(members, sessions_per_member), rng)
    nets = _networks(networks)
    picks = _draw_traces(sessions, nets, rng)
    video = video or load_video("envivio")
    under_c = _play(sessions, picks, nets, video, control, config)
    under_t = _play(sessions, picks, nets, video, treatment, config)
    comparisons, truth, out_c, out_t = {}, {}, {}, {}
    for metric in METRICS:
        c = getattr(under_c, metric).reshape(-1, sessions_per_member).mean(axis=1)
        t = getattr(under_t, metric).reshape(-1, sessions_per_member).mean(axis=1)
        if np.isnan(c).any() or np.isnan(t).any():
            continue  # the ladder has no quality
        out_c[metric], out_t[metric] = c[arm == 0], t[arm == 1]
        comparisons[metric] = compare_arms(out_c[metric], out_t[metric], metric, alpha)
        truth[metric] = float((t - c).mean())
    return ABTest(comparisons, truth, out_c, out_t)
