"""The offline optimum: it matches brute force on small problems, bounds every online scheme, follows the session
conventions and validates its configuration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import SCHEMES, Scheme, SessionConfig, Video, load_traces, load_video, simulate
from marquee.playback.optimal import OfflineOptimal, OfflineOptimalConfig
from marquee.playback.traces import traces_from_arrays


class _Fixed(Scheme):
    """Replays given plans (n_sessions, n_chunks)."""

    name = "fixed"
    needs_future = True

    def __init__(self, plan: np.ndarray) -> None:
        self.plan = plan

    def choose(self, obs):
        raise AssertionError("replayed, never asked online")

    def plan_ahead(self, traces, video, config):
        return self.plan


def _brute_force(traces, video, config):
    """(n_sessions,) the best QoE over every rung sequence (chunk 0 at first_rung), each replayed by simulate."""
    n = video.n_chunks if config.n_chunks is None else config.n_chunks
    best = np.full(len(traces), -np.inf)
    for tail in itertools.product(range(video.n_rungs), repeat=n - 1):
        plan = np.array([(config.first_rung, *tail)] * len(traces), dtype=np.int64)
        best = np.maximum(best, simulate(traces, video, _Fixed(plan), config).qoe)
    return best


def _three_rungs(n_chunks: int) -> Video:
    envivio = load_video("envivio")
    return Video("three", envivio.bitrates_kbps[[0, 2, 5]], 4.0, envivio.chunk_bytes[:n_chunks][:, [0, 2, 5]])


@pytest.mark.parametrize(
    ("set_name", "video", "config"),
    [
        ("fcc_pensieve88", load_video("envivio").head(5), SessionConfig()),
        ("hsdpa_pensieve80", load_video("envivio").head(5), SessionConfig()),
        ("hsdpa_pensieve80", _three_rungs(8), SessionConfig()),
        ("fcc_pensieve88", _three_rungs(8), SessionConfig(buffer_cap_s=10.0, first_rung=0)),
        ("hsdpa_pensieve80", _three_rungs(8), SessionConfig(rebuffer_penalty=1.0, qoe_from_chunk=3)),
    ],
)
def test_matches_brute_force(set_name, video, config):
    traces = load_traces(set_name)
    picked = [traces[i] for i in (0, 7, 23, 41)]
    played = simulate(picked, video, OfflineOptimal(), config)
    np.testing.assert_allclose(played.qoe, _brute_force(picked, video, config), rtol=0, atol=1e-9)


@pytest.mark.parametrize("set_name", ["fcc_pensieve88", "hsdpa_pensieve80"])
def test_bounds_every_online_scheme(set_name):
    traces = load_traces(set_name)[::4]
    video = load_video("envivio")
    best = simulate(traces, video, OfflineOptimal())
    assert best.rung[:, 0].tolist() == [1] * len(traces)
    for name, cls in SCHEMES.items():
        if cls.needs_future:
            continue
        online = simulate(traces, video, cls())
        assert np.all(best.qoe >= online.qoe - 1e-9), name


def _fast_trace(mbps: float = 100.0):
    times = np.arange(0.0, 200.0, 1.0)
    return traces_from_arrays("fast", [times], [np.full(times.size, mbps)])


def test_top_rung_everywhere_when_nothing_can_stall():
    video = load_video("envivio")
    config = SessionConfig(smooth_penalty=0.0, first_rung=0, n_chunks=10)
    played = simulate(_fast_trace(), video, OfflineOptimal(), config)
    assert played.rung[0].tolist() == [0] + [video.n_rungs - 1] * 9
    assert played.stall_s.sum() == 0


def test_smoothness_and_stall_penalties_shape_the_plan():
    video = load_video("envivio").head(6)
    # A huge smoothness weight: never leave the first rung.
    flat = simulate(_fast_trace(), video, OfflineOptimal(), SessionConfig(smooth_penalty=100.0, first_rung=2))
    assert flat.rung[0].tolist() == [2] * 6
    # A trace too slow for anything but the lowest rung without stalling, stalls made very costly.
    slow = simulate(_fast_trace(0.4), video, OfflineOptimal(), SessionConfig(rebuffer_penalty=1000.0))
    assert slow.rung[0, 1:].tolist() == [0] * 5
    # Stalls free: the top rung at once.
    free = simulate(_fast_trace(0.4), video, OfflineOptimal(), SessionConfig(rebuffer_penalty=0.0, smooth_penalty=0))
    assert free.rung[0, 1:].tolist() == [video.n_rungs - 1] * 5


def test_plan_ahead_follows_n_chunks_and_first_rung():
    video = load_video("envivio")
    traces = load_traces("fcc_pensieve88")[:2]
    plan = OfflineOptimal().plan_ahead(tuple(traces), video, SessionConfig(n_chunks=7, first_rung=3))
    assert plan.shape == (2, 7) and plan.dtype == np.int64
    assert plan[:, 0].tolist() == [3, 3]


def test_utility_hook_changes_the_objective():
    class Lowest(OfflineOptimal):
        def utility(self, video):
            return -np.broadcast_to(video.bitrates_mbps, video.chunk_bytes.shape)

    plan = Lowest().plan_ahead(tuple(load_traces("fcc_pensieve88")[:2]), load_video("envivio").head(5), SessionConfig())
    assert plan[:, 1:].tolist() == [[0] * 4] * 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_step_s": 0}, "time_step_s"),
        ({"time_step_s": float("nan")}, "time_step_s"),
        ({"buffer_step_s": -1.0}, "buffer_step_s"),
        ({"buffer_step_s": True}, "buffer_step_s"),
        ({"max_states": 0}, "max_states"),
        ({"max_states": 2.5}, "max_states"),
        ({"prune": 1}, "prune"),
    ],
)
def test_bad_config_raises_naming_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=f"OfflineOptimalConfig.{field}"):
        OfflineOptimal(**kwargs)


def test_config_round_trips_and_registers():
    config = OfflineOptimalConfig(time_step_s=0.25, max_states=100)
    assert OfflineOptimal.from_config(config).config == config
    assert OfflineOptimalConfig(**config.to_dict()) == config
    assert SCHEMES["optimal"] is OfflineOptimal
    assert OfflineOptimal.needs_future


def test_choose_raises():
    with pytest.raises(ConfigError, match="offline scheme"):
        OfflineOptimal().choose(None)


def test_bad_utility_raises():
    class Wrong(OfflineOptimal):
        def utility(self, video):
            return np.zeros(3)

    with pytest.raises(ConfigError, match="utility"):
        simulate(load_traces("fcc_pensieve88")[:1], load_video("envivio").head(3), Wrong())


@pytest.mark.parametrize("wrap_to", ["start", "zero"])
def test_sorted_network_lookups_match_the_simulators(wrap_to):
    from marquee.playback.optimal import _SortedNetwork
    from marquee.playback.session import _Network

    traces = list(load_traces("hsdpa_pensieve80")[:6])
    plain, fast = _Network(traces, 0.95, wrap_to), _SortedNetwork(traces, 0.95, wrap_to)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.integers(0, len(traces), 500))
    u = rng.uniform(0.0, 3.0, rows.size) * plain.period[rows]
    g = rng.uniform(0.0, 3.0, rows.size) * plain.per_pass[rows]
    assert np.array_equal(fast.delivered(u, rows), plain.delivered(u, rows))
    assert np.array_equal(fast.time_at(g, rows), plain.time_at(g, rows))
    shuffled = rng.permutation(rows.size)  # unsorted queries fall back to the lockstep search
    assert np.array_equal(fast.time_at(g[shuffled], rows[shuffled]), plain.time_at(g[shuffled], rows[shuffled]))
