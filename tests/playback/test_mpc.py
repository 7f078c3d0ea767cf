"""robustMPC: a hand-checked tiny plan, the error discount, the vectorised planner against a plain-Python twin
of Pensieve's ``mpc.py`` loop, and its ordering above BBA on the shipped traces."""

import itertools

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import (
    BBA,
    SCHEMES,
    Observation,
    RobustMPC,
    RobustMPCConfig,
    Video,
    load_traces,
    load_video,
    simulate,
)


def _obs(video, chunk_index, buffer_s, last_rung, throughput, n_chunks=None):
    tp = np.atleast_2d(np.asarray(throughput, dtype=float))
    n = tp.shape[0]
    return Observation(
        chunk_index=chunk_index,
        n_chunks=video.n_chunks if n_chunks is None else n_chunks,
        buffer_s=np.broadcast_to(np.asarray(buffer_s, dtype=float), (n,)).copy(),
        last_rung=np.broadcast_to(np.asarray(last_rung, dtype=np.int64), (n,)).copy(),
        throughput_mbps=tp,
        download_s=np.ones_like(tp),
        video=video,
    )


def _pensieve_plan(buffer_s, last_rung, predicted_mbps, sizes, kbps, chunk_s, mu):
    """Plain-Python twin of Pensieve's plan search: every combo, in itertools order, ``>=`` keeps the last best."""
    h = len(sizes)
    best, best_reward = None, -1e8
    for combo in itertools.product(range(len(kbps)), repeat=h):
        rebuf, buf, bitrate_sum, smooth, last = 0.0, buffer_s, 0.0, 0.0, last_rung
        for pos, q in enumerate(combo):
            download = sizes[pos][q] * 8 / 1e6 / predicted_mbps
            if buf < download:
                rebuf += download - buf
                buf = 0.0
            else:
                buf -= download
            buf += chunk_s
            bitrate_sum += kbps[q]
            smooth += abs(kbps[q] - kbps[last])
            last = q
        reward = bitrate_sum / 1000.0 - mu * rebuf - smooth / 1000.0
        if reward >= best_reward:
            best, best_reward = combo, reward
    return best[0]


# Two rungs, 1 and 3 Mbps, 4 s chunks of exactly bitrate * 4 s: at 2 Mbps a chunk takes 2 s or 6 s. mu = 3 (top).
TINY = Video("tiny", [1000, 3000], 4.0, np.array([[500_000, 1_500_000]] * 6))


def test_tiny_two_rungs_horizon_two_matches_brute_force_and_hand():
    mpc = RobustMPC(horizon=2)
    mpc.start(TINY, 1)
    # buffer 3 s, last rung 0, 2 Mbps: (0,0) 2 - 0 - 0 = 2; (0,1) stall 1: 4 - 3 - 2 = -1;
    # (1,0) stall 3: 4 - 9 - 4 = -9; (1,1) stall 3 + 2: 6 - 15 - 2 = -11 -> rung 0.
    assert mpc.choose(_obs(TINY, 1, 3.0, 0, [[2.0]])).tolist() == [0]
    mpc.start(TINY, 1)
    # buffer 20 s: no stall anywhere: (1,1) 6 - 2 = 4 beats (0,0) 2, (0,1) 2, (1,0) 0 -> rung 1.
    assert mpc.choose(_obs(TINY, 1, 20.0, 0, [[2.0]])).tolist() == [1]
    # Against a brute force over buffers, last rungs and throughputs (first decision: no discount).
    for buffer_s, last, mbps in itertools.product([0.0, 1.0, 3.0, 5.0, 8.0, 20.0], [0, 1], [0.7, 1.5, 2.0, 3.5, 6.0]):
        mpc.start(TINY, 1)
        got = mpc.choose(_obs(TINY, 1, buffer_s, last, [[mbps]]))[0]
        want = _pensieve_plan(buffer_s, last, mbps, TINY.chunk_bytes[1:3].tolist(), [1000, 3000], 4.0, 3.0)
        assert got == want, (buffer_s, last, mbps)


def test_ties_go_to_the_last_plan_in_pensieves_order_and_the_horizon_shrinks_at_the_end():
    mpc = RobustMPC(horizon=2)
    mpc.start(TINY, 1)
    obs = _obs(TINY, 5, 20.0, 0, np.full((1, 5), 2.0))
    # Last chunk: one-chunk plans only; rung 0 scores 1, rung 1 scores 3 - 2 = 1: a tie, Pensieve's >= takes rung 1.
    assert mpc.plan(obs, np.array([2.0])).tolist() == [1]


def test_a_big_prediction_miss_makes_it_conservative_for_error_window_decisions():
    video = load_video("envivio")
    steady = [3.0] * 12
    missed = [30.0] + [3.0] * 11  # the first prediction (30) misses the second measurement (3) by 900%
    predictions = []

    class Spy(RobustMPC):
        def plan(self, obs, predicted_mbps):
            predictions.append(predicted_mbps.copy())
            return super().plan(obs, predicted_mbps)

    mpc = Spy()
    mpc.start(video, 2)
    rungs = []
    for k in range(1, 12):
        rungs.append(mpc.choose(_obs(video, k, 10.0, 3, [steady[:k], missed[:k]])))
    pred = np.array(predictions)  # (decisions, 2)
    np.testing.assert_allclose(pred[:, 0], 3.0)
    assert mpc.errors_[1, 1] == pytest.approx(9.0)
    # Decisions 2..6 still see the 9x error in their window of 5; decision 6 has the same harmonic mean (3) as the
    # steady session but predicts 3 / (1 + 9).
    assert pred[5, 1] == pytest.approx(0.3)
    for d in range(1, 6):  # decision d (chunk d + 1) sees measurements 0..d; the 9x error stays in its window of 5
        recent = np.array(missed[max(0, d - 4) : d + 1])
        assert pred[d, 1] == pytest.approx(len(recent) / np.sum(1 / recent) / (1 + 9.0))
    assert all(rungs[d][1] < rungs[d][0] for d in range(1, 6))  # chunks 2..6: 400 kbps (rung 1) against 1850+
    # Five decisions later the miss has left the window: the same prediction and rung as the steady session.
    hm_missed = 5 / np.sum(1 / np.array(missed[2:7]))
    assert pred[6, 1] < pred[6, 0] and hm_missed == pytest.approx(3.0)
    assert pred[10, 1] == pytest.approx(3.0) and rungs[10][1] == rungs[10][0]
    # start() forgets the history.
    mpc.start(video, 2)
    assert not mpc.errors_.any() and np.isnan(mpc.estimates_).all()


def test_vectorised_plan_equals_pensieves_loop_on_random_states():
    video = load_video("envivio")
    rng = np.random.default_rng(12)
    n = 20
    chunk = rng.integers(1, video.n_chunks, size=n)
    buffer_s = rng.choice([0.0, 0.5, 2.0, 4.0], size=n) + rng.uniform(0, 30, size=n)
    last = rng.integers(0, video.n_rungs, size=n)
    predicted = np.exp(rng.uniform(np.log(0.2), np.log(8.0), size=n))
    kbps = video.bitrates_kbps.tolist()
    mpc = RobustMPC()
    mpc.start(video, 1)
    for k in range(n):
        i = int(chunk[k])
        obs = _obs(video, i, buffer_s[k], last[k], np.ones((1, i)))
        got = mpc.plan(obs, predicted[k : k + 1])[0]
        h = min(5, video.n_chunks - i)
        sizes = video.chunk_bytes[i : i + h].tolist()
        want = _pensieve_plan(buffer_s[k], int(last[k]), predicted[k], sizes, kbps, 4.0, 4.3)
        assert got == want, (k, i, buffer_s[k], last[k], predicted[k])
    # All at once (one chunk index, 20 sessions) equals one by one.
    i = 40
    obs = _obs(video, i, buffer_s, last, np.ones((n, i)))
    together = mpc.plan(obs, predicted)
    alone = [mpc.plan(_obs(video, i, buffer_s[k], last[k], np.ones((1, i))), predicted[k : k + 1])[0] for k in range(n)]
    np.testing.assert_array_equal(together, alone)


def test_choose_equals_pensieves_bookkeeping_on_random_histories():
    # Pensieve's mpc.py keeps past_bandwidth_ests and past_errors; replay them per session in plain Python.
    sizes = np.sort(np.random.default_rng(5).integers(150_000, 1_300_000, (9, 3)), axis=1)
    video = Video("three", [400, 1000, 2500], 4.0, sizes)
    rng = np.random.default_rng(7)
    n = 20
    tp = np.exp(rng.normal(0.0, 0.8, size=(n, video.n_chunks)))
    buffers = rng.uniform(0, 20, size=(n, video.n_chunks))
    lasts = rng.integers(0, 3, size=(n, video.n_chunks))
    mpc = RobustMPC()
    mpc.start(video, n)
    got = np.array(
        [mpc.choose(_obs(video, i, buffers[:, i], lasts[:, i], tp[:, :i])) for i in range(1, video.n_chunks)]
    ).T
    kbps = video.bitrates_kbps.tolist()
    for s in range(n):
        past_errors, past_ests = [], []
        for i in range(1, video.n_chunks):
            measured = tp[s, i - 1]
            past_errors.append(abs(past_ests[-1] - measured) / measured if past_ests else 0.0)
            recent = tp[s, max(0, i - 5) : i]
            harmonic = 1.0 / (np.sum(1.0 / recent) / len(recent))
            future = harmonic / (1 + max(past_errors[-5:]))
            past_ests.append(harmonic)
            h = min(5, video.n_chunks - i)
            sizes = video.chunk_bytes[i : i + h].tolist()
            want = _pensieve_plan(buffers[s, i], lasts[s, i], future, sizes, kbps, 4.0, 2.5)
            assert got[s, i - 1] == want, (s, i)


@pytest.mark.parametrize("trace_set", ["fcc_pensieve88", "hsdpa_pensieve80"])
def test_robustmpc_above_bba_on_shipped_traces(trace_set):
    traces, video = load_traces(trace_set), load_video("envivio")
    mpc = simulate(traces, video, SCHEMES["robustmpc"]())
    bba = simulate(traces, video, BBA())
    assert mpc.n_sessions == len(traces) and mpc.rung.shape[1] == 48
    assert np.isfinite(mpc.qoe).all()
    assert mpc.summary()["qoe_per_chunk"] > bba.summary()["qoe_per_chunk"]


def test_config_and_misuse():
    assert SCHEMES["robustmpc"] is RobustMPC
    mpc = RobustMPC(horizon=3, rebuffer_penalty=2.0)
    assert RobustMPC.from_config(RobustMPCConfig(**mpc.config.to_dict())).config == mpc.config
    with pytest.raises(ConfigError, match="horizon must be an int >= 1"):
        RobustMPC(horizon=0)
    with pytest.raises(ConfigError, match="smooth_penalty must be a finite number >= 0"):
        RobustMPC(smooth_penalty=-1.0)
    video = load_video("envivio")
    with pytest.raises(ConfigError, match=r"call start\(...\) first"):
        RobustMPC().choose(_obs(video, 1, 5.0, 1, [[1.0]]))
    mpc = RobustMPC()
    mpc.start(video, 1)
    with pytest.raises(ConfigError, match="expected chunk 1"):
        mpc.choose(_obs(video, 2, 5.0, 1, [[1.0, 1.0]]))
