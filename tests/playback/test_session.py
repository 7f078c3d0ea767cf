"""The session simulator: hand-computed sessions, wrap-around, the buffer cap, vectorised == looped, and a
plain-Python twin that walks the trace sample by sample the way Pensieve's ``fixed_env`` does."""

import math

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import (
    BBA,
    BOLA,
    Observation,
    RateBased,
    Scheme,
    SessionConfig,
    Trace,
    Video,
    load_traces,
    load_video,
    simulate,
)

RATE = 0.95 * 1e6 / 8  # payload bytes per second per Mbps


class Fixed(Scheme):
    name = "fixed"

    def __init__(self, rungs):
        self.rungs = rungs

    def choose(self, obs: Observation) -> np.ndarray:
        return np.full(obs.n_sessions, self.rungs[obs.chunk_index], dtype=np.int64)


def _video(sizes, rates=(1000, 2000), seconds=4.0):
    return Video("v", list(rates), seconds, np.array(sizes))


def test_one_and_two_chunks_by_hand():
    trace = Trace("c", [0.0, 1000.0], [2.0, 2.0])  # 2 Mbps throughout
    video = _video([[500_000, 1_000_000], [500_000, 1_000_000]])
    s = simulate(trace, video, Fixed([1, 0]))
    d0 = 1_000_000 / (2 * RATE) + 0.08
    d1 = 500_000 / (2 * RATE) + 0.08
    np.testing.assert_allclose(s.download_s[0], [d0, d1])
    assert s.startup_s[0] == pytest.approx(d0)
    np.testing.assert_allclose(s.stall_s[0], [0.0, 0.0])  # start-up is not a stall
    np.testing.assert_allclose(s.buffer_s[0], [4.0, 4.0 - d1 + 4.0])
    # QoE of chunk 2: 1 Mbps - mu*0 - |1 - 2|; mu defaults to the top bitrate, 2 Mbps
    assert s.qoe[0] == pytest.approx(0.0)
    assert s.bytes[0] == 1_500_000 and s.switches[0] == 1
    assert s.avg_bitrate_mbps[0] == pytest.approx(1.5)
    np.testing.assert_allclose(s.throughput_mbps[0], [1_000_000 * 8 / 1e6 / d0, 500_000 * 8 / 1e6 / d1])

    s = simulate(trace, video, Fixed([1, 1]))  # the second chunk takes longer than the 4 s buffered
    stall = d0 - 4.0
    assert stall > 0
    assert s.rebuffer_s[0] == pytest.approx(stall)
    assert s.buffer_s[0, 1] == pytest.approx(4.0)
    assert s.qoe[0] == pytest.approx(2.0 - 2.0 * stall)
    assert s.rebuffer_ratio[0] == pytest.approx(stall / (stall + 8.0))
    s = simulate(trace, video, Fixed([1, 1]), SessionConfig(rebuffer_penalty=4.3, smooth_penalty=0.0))
    assert s.qoe[0] == pytest.approx(2.0 - 4.3 * stall)


def test_wrap_around():
    trace = Trace("w", [0.0, 5.0, 10.0], [9.0, 1.0, 3.0])  # mbps[0] unused; one pass delivers 20 Mbit * 0.95
    video = _video([[2_900_000, 3_100_000]])
    s = simulate(trace, video, Fixed([]), SessionConfig(first_rung=0, qoe_from_chunk=0))
    per_pass = (5 * 1.0 + 5 * 3.0) * RATE
    left = 2_900_000 - per_pass
    assert 0 < left < 5 * RATE
    assert s.download_s[0, 0] == pytest.approx(10.0 + left / RATE + 0.08)


def test_trace_starting_late_wraps_to_its_own_start():
    early = Trace("a", [0.0, 5.0, 10.0], [0.0, 1.0, 3.0])
    late = Trace("b", [1520.0, 1525.0, 1530.0], [0.0, 1.0, 3.0])
    video = _video([[3_000_000, 3_100_000]] * 3)
    a, b = (simulate(t, video, BBA()) for t in (early, late))
    np.testing.assert_allclose(a.download_s, b.download_s)


def test_buffer_cap_sleeps_in_half_seconds():
    trace = Trace("fast", [0.0, 10_000.0], [100.0, 100.0])
    video = _video([[1000, 2000]] * 20)
    s = simulate(trace, video, Fixed([0] * 20), SessionConfig(first_rung=0))
    d = 1000 / (100 * RATE) + 0.08
    buf = 0.0
    for i in range(20):
        buf = max(buf - d, 0.0) + 4.0
        sleep = math.ceil((buf - 60.0) / 0.5) * 0.5 if buf > 60.0 else 0.0
        buf -= sleep
        assert s.sleep_s[0, i] == pytest.approx(sleep)
        assert s.buffer_s[0, i] == pytest.approx(buf)
    assert s.sleep_s[0, 15] == 3.0  # 4 + 15 * (4 - d) = 62.80 s -> ceil(2.80 / 0.5) * 0.5
    assert s.buffer_s.max() <= 60.0


def test_sleep_advances_the_trace():
    # 100 Mbps for the first 2 s of trace time, then 0.5 Mbps. Downloads alone use ~0.01 s of trace time; only
    # the first sleep (after chunk 15, 3 s) moves the clock past 2 s, so chunk 16 is the first slow one.
    trace = Trace("step", [0.0, 2.0, 10_000.0], [100.0, 100.0, 0.5])
    video = _video([[10_000, 20_000]] * 18)
    s = simulate(trace, video, Fixed([0] * 18), SessionConfig(first_rung=0))
    fast, slow = 10_000 / (100 * RATE) + 0.08, 10_000 / (0.5 * RATE) + 0.08
    assert s.sleep_s[0, :15].sum() == 0 and s.sleep_s[0, 15] > 0
    np.testing.assert_allclose(s.download_s[0, :16], fast)
    np.testing.assert_allclose(s.download_s[0, 16:], slow)


def _twin(trace: Trace, video: Video, choose, cfg: SessionConfig | None = None):
    """Sample-by-sample walk in the manner of Pensieve's fixed_env (ptr from 1, wrap to the start or to 0)."""
    cfg = cfg or SessionConfig()
    t, bw = trace.times_s, trace.mbps
    origin = t[0] if cfg.wrap_to == "start" else 0.0
    ptr, last_t, buf = 1, t[0], 0.0
    mu = video.bitrates_mbps[-1]
    rung, last = cfg.first_rung, cfg.first_rung
    out = []
    history = []
    for i in range(video.n_chunks):
        size, sent, delay = video.chunk_bytes[i, rung], 0.0, 0.0
        while True:
            tput = bw[ptr] * 1e6 / 8
            dur = t[ptr] - last_t
            payload = tput * dur * cfg.payload_fraction
            if sent + payload > size:
                frac = (size - sent) / tput / cfg.payload_fraction
                delay += frac
                last_t += frac
                break
            sent += payload
            delay += dur
            last_t = t[ptr]
            ptr += 1
            if ptr >= len(bw):
                ptr, last_t = 1, origin
        delay = delay * 1000 + cfg.rtt_s * 1000
        rebuf = max(delay - buf, 0.0)
        buf = max(buf - delay, 0.0) + video.chunk_seconds * 1000
        sleep = 0.0
        if buf > cfg.buffer_cap_s * 1000:
            sleep = math.ceil((buf - cfg.buffer_cap_s * 1000) / 500.0) * 500.0
            buf -= sleep
            left = sleep
            while True:
                dur = t[ptr] - last_t
                if dur > left / 1000:
                    last_t += left / 1000
                    break
                left -= dur * 1000
                last_t = t[ptr]
                ptr += 1
                if ptr >= len(bw):
                    ptr, last_t = 1, origin
        stall = 0.0 if i == 0 else rebuf / 1000
        br = video.bitrates_mbps
        out.append((rung, delay / 1000, stall, buf / 1000, br[rung] - mu * stall - abs(br[rung] - br[last])))
        history.append(size * 8 / 1e6 / (delay / 1000))
        last = rung
        rung = choose(buf / 1000, np.array(history), rung)
    return np.array(out)


def _bb(buf, history, last):
    return 0 if buf < 5 else 5 if buf >= 15 else int(5 * (buf - 5) / 10)


def _rb(buf, history, last):
    hm = len(history[-5:]) / np.sum(1 / history[-5:])
    rates = np.array([300, 750, 1200, 1850, 2850, 4300]) / 1000
    return max(int(np.sum(rates <= hm)) - 1, 0)


@pytest.mark.parametrize(("scheme", "twin"), [(BBA(), _bb), (RateBased(), _rb)])
@pytest.mark.parametrize(
    ("set_name", "wrap_to"), [("fcc_pensieve88", "start"), ("fcc_pensieve88", "zero"), ("hsdpa_pensieve80", "start")]
)
def test_matches_a_pensieve_style_walk(scheme, twin, set_name, wrap_to):
    traces = load_traces(set_name)[:12]
    video = load_video("envivio")
    cfg = SessionConfig(wrap_to=wrap_to)
    s = simulate(traces, video, scheme, cfg)
    wrapped = (s.download_s - 0.08 + s.sleep_s).sum(axis=1) > np.array([t.duration_s for t in traces])
    assert set_name != "fcc_pensieve88" or scheme.name != "bba" or wrapped.sum() >= 3  # covers wrap-around
    for k, trace in enumerate(traces):
        ref = _twin(trace, video, twin, cfg)
        np.testing.assert_array_equal(s.rung[k], ref[:, 0].astype(int))
        np.testing.assert_allclose(s.download_s[k], ref[:, 1], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s.stall_s[k], ref[:, 2], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(s.buffer_s[k], ref[:, 3], rtol=1e-9, atol=1e-9)
        assert s.qoe[k] == pytest.approx(ref[1:, 4].mean(), rel=1e-9, abs=1e-9)


def test_vectorised_equals_one_session_at_a_time():
    traces = load_traces("hsdpa_pensieve80")[:20]
    video = load_video("envivio")
    for scheme in (BBA(), RateBased(), BOLA()):
        many = simulate(traces, video, scheme)
        for k, t in enumerate(traces):
            one = simulate(t, video, scheme)
            np.testing.assert_array_equal(many.rung[k], one.rung[0])
            np.testing.assert_allclose(many.download_s[k], one.download_s[0], rtol=1e-12)
            np.testing.assert_allclose(many.qoe_chunk[k], one.qoe_chunk[0], rtol=1e-12, atol=1e-12)


def test_summary_and_quality():
    s = simulate(load_traces("fcc_pensieve88")[:4], load_video("envivio"), BBA(), SessionConfig(n_chunks=10))
    assert s.rung.shape == (4, 10)
    out = s.summary()
    assert out["sessions"] == 4 and out["scheme"] == "bba"
    assert out["quality_mean"] is not None and out["quality_p5"] <= out["quality_mean"]
    assert np.all(s.rung[:, 0] == 1)
    no_q = simulate(load_traces("fcc_pensieve88")[:2], load_video("sabre_bbb"), BBA(), SessionConfig(n_chunks=5))
    assert no_q.summary()["quality_mean"] is None and np.isnan(no_q.quality_mean).all()


def test_bad_scheme_output_raises_and_scheme_errors_propagate():
    traces, video = load_traces("fcc_pensieve88")[:2], load_video("envivio")

    class TooHigh(Scheme):
        name = "too_high"

        def choose(self, obs):
            return np.full(obs.n_sessions, 6)

    class Boom(Scheme):
        def choose(self, obs):
            raise RuntimeError("boom")

    with pytest.raises(ConfigError, match="scheme 'too_high' returned rung 6; rungs are 0..5"):
        simulate(traces, video, TooHigh())
    with pytest.raises(RuntimeError, match="boom"):
        simulate(traces, video, Boom())


def test_session_config_validates_and_round_trips():
    cfg = SessionConfig(rtt_s=0.1, n_chunks=12)
    assert SessionConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="payload_fraction must be in"):
        SessionConfig(payload_fraction=1.5)
    with pytest.raises(ConfigError, match="first_rung must be an int >= 0"):
        SessionConfig(first_rung=-1)
    with pytest.raises(ConfigError, match="no field"):
        SessionConfig.from_dict({"rtt": 0.08})
    with pytest.raises(ConfigError, match="first_rung=9 but video 'envivio' has 6 rungs"):
        simulate(load_traces("fcc_pensieve88")[:1], load_video("envivio"), BBA(), SessionConfig(first_rung=9))


class Table(Scheme):
    name = "table"

    def __init__(self, table):
        self.table = table

    def choose(self, obs: Observation) -> np.ndarray:
        return self.table[:, obs.chunk_index]


def test_random_traces_with_outages_and_many_wraps_match_the_walk():
    rng = np.random.default_rng(7)
    video = load_video("envivio")
    traces = []
    for k in range(25):
        n = int(rng.integers(2, 12))
        times = np.cumsum(rng.uniform(0.2, 6.0, n)) + (0.0 if k % 2 else float(rng.uniform(0, 50)))
        mbps = rng.uniform(0.1, 6.0, n) * (rng.random(n) > 0.3)  # ~30% outage samples
        mbps[int(rng.integers(1, n))] = 2.0  # never zero throughout
        traces.append(Trace(f"r{k}", times, mbps))
    table = rng.integers(0, 6, size=(25, 48))
    for wrap_to in ("start", "zero"):
        cfg = SessionConfig(wrap_to=wrap_to)
        s = simulate(traces, video, Table(table), cfg)
        for k, trace in enumerate(traces):
            rungs = iter(table[k, 1:])
            ref = _twin(trace, video, lambda buf, hist, last, rungs=rungs: int(next(rungs, 0)), cfg)
            np.testing.assert_array_equal(s.rung[k], ref[:, 0].astype(int))
            np.testing.assert_allclose(s.download_s[k], ref[:, 1], rtol=1e-9, atol=1e-7)
            np.testing.assert_allclose(s.buffer_s[k], ref[:, 3], rtol=1e-9, atol=1e-7)


def test_wall_clock():
    s = simulate(load_traces("fcc_pensieve88")[:3], load_video("envivio"), BBA())
    np.testing.assert_allclose(s.time_s[:, 0], s.startup_s)
    np.testing.assert_allclose(s.time_s[:, -1], (s.download_s + s.sleep_s).sum(axis=1))
    assert np.all(np.diff(s.time_s, axis=1) > 0)
