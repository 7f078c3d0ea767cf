"""Marquee's stochastic MPC: its dynamic program, its throughput draws, its device-aware objective."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import (
    Observation,
    RobustMPC,
    StochasticMPC,
    StochasticMPCConfig,
    load_traces,
    load_video,
    simulate,
)


def _observations(n=300, chunk=6, seed=0):
    rng = np.random.default_rng(seed)
    video = load_video("envivio")
    tp = rng.uniform(0.3, 5.0, size=(n, chunk))
    return Observation(
        chunk, video.n_chunks, rng.uniform(0.0, 30.0, n), rng.integers(0, video.n_rungs, n), tp, np.ones_like(tp), video
    )


def test_with_one_known_throughput_the_dp_finds_the_best_enumerated_plan():
    # One draw of probability 1: the closed-loop policy is the best open-loop plan, which robustMPC enumerates.
    obs = _observations()
    tput = np.random.default_rng(1).uniform(0.3, 5.0, obs.n_sessions)
    mpc = RobustMPC(horizon=3)
    mpc.start(obs.video, obs.n_sessions)
    ours = StochasticMPC(horizon=3, buffer_step_s=0.01)
    ours.start(obs.video, obs.n_sessions)
    want = mpc.plan(obs, tput)
    got = ours.plan(obs, tput[:, None], np.array([1.0]))
    assert np.mean(got == want) >= 0.98  # the rest are near-ties the buffer grid's interpolation splits


def _expectimax(obs, s, inv, weights, util, mbit, h, mu, gamma, smooth, persistence=0.0):
    """The best first rung by exhaustive expectimax over exact buffers: every rung, every draw, h chunks deep. The
    first chunk's draw is fresh; each later one keeps the draw before with probability ``persistence``."""
    video, i, cap = obs.video, obs.chunk_index, obs.buffer_cap_s

    def value(buf, prev, j, draw):
        if j == h:
            return 0.0, -1
        probs = (
            weights if draw is None else (1 - persistence) * weights + persistence * (np.arange(len(weights)) == draw)
        )
        best, arg = -np.inf, -1
        for r in range(video.n_rungs):
            x = util[i + j, r] - abs(util[i + j, r] - prev) * smooth
            for k, (w, iv) in enumerate(zip(probs, inv, strict=True)):
                dt = mbit[j, r] * iv + obs.rtt_s
                nxt = min(max(buf - dt, 0.0) + video.chunk_seconds, cap)
                x += w * (gamma * value(nxt, util[i + j, r], j + 1, k)[0] - mu * max(dt - buf, 0.0))
            if x > best:
                best, arg = x, r
        return best, arg

    return value(float(obs.buffer_s[s]), util[i - 1, obs.last_rung[s]], 0, None)[1]


@pytest.mark.parametrize("persistence", [0.0, 0.7])
def test_the_compiled_planner_is_the_expectimax_over_its_draws(persistence):
    # Several draws, a discount and a smoothness weight, draws independent or persisting: on a fine buffer grid the
    # planner's closed-loop DP chooses what exhaustive expectimax over exact buffers chooses (the grid's
    # interpolation splits only near-ties).
    obs = _observations(n=60, seed=3)
    rng = np.random.default_rng(4)
    tput = rng.uniform(0.3, 5.0, (obs.n_sessions, 3))
    weights = np.array([0.5, 0.3, 0.2])
    ours = StochasticMPC(horizon=3, buffer_step_s=0.01, discount=0.9, smooth_penalty=1.0, persistence=persistence)
    ours.start(obs.video, obs.n_sessions)
    got = ours.plan(obs, tput, weights)
    video = obs.video
    util = np.broadcast_to(video.bitrates_mbps, (video.n_chunks, video.n_rungs))
    mbit = video.chunk_bytes[obs.chunk_index : obs.chunk_index + 3] * 8.0 / 1e6
    want = [
        _expectimax(obs, s, 1.0 / tput[s], weights, util, mbit, 3, video.bitrates_mbps[-1], 0.9, 1.0, persistence)
        for s in range(obs.n_sessions)
    ]
    assert np.mean(got == np.array(want)) >= 0.95
    assert len(set(got.tolist())) >= 3  # the draws spread the choices: the test is not won by one rung


def test_persisting_draws_change_the_plan():
    # The same draws, independent or persisting, must not always give the same plan (else the state is ignored).
    obs = _observations(n=200, seed=5)
    tput = np.random.default_rng(6).uniform(0.3, 5.0, (obs.n_sessions, 3))
    weights = np.array([0.5, 0.3, 0.2])
    plans = []
    for persistence in (0.0, 0.9):
        scheme = StochasticMPC(horizon=6, persistence=persistence)
        scheme.start(obs.video, obs.n_sessions)
        plans.append(scheme.plan(obs, tput, weights))
    assert (plans[0] != plans[1]).sum() >= 5


def test_pessimistic_draws_choose_no_higher_rungs():
    obs = _observations()
    tput = np.full((obs.n_sessions, 1), 2.0)
    scheme = StochasticMPC()
    scheme.start(obs.video, obs.n_sessions)
    sure = scheme.plan(obs, tput, np.array([1.0]))
    risky = scheme.plan(obs, np.concatenate([tput, tput * 0.2], axis=1), np.array([0.5, 0.5]))
    # mostly lower, on average clearly so (a few sessions stay put to avoid a switch from a high last rung)
    assert np.mean(risky <= sure) >= 0.95 and risky.mean() < sure.mean() - 0.5


def test_it_keeps_its_own_ratios_per_session():
    traces = load_traces("hsdpa_pensieve80")[:6]
    scheme = StochasticMPC()
    played = simulate(traces, load_video("envivio"), scheme)
    # payload throughput: bits over the download time less the 80 ms round trip
    payload = played.throughput_mbps * played.download_s / (played.download_s - 0.08)
    # ratio at decision d = payload throughput of chunk d / the prediction made at decision d-1
    d = 10
    np.testing.assert_allclose(scheme.ratios_[:, d], payload[:, d] / scheme.predictions_[:, d - 1])
    recent = payload[:, d - 4 : d + 1]
    np.testing.assert_allclose(scheme.predictions_[:, d], 5 / np.sum(1 / recent, axis=1))


def test_device_aware_objective_spends_fewer_bytes_on_a_phone():
    traces = load_traces("fcc_pensieve88")[:20]
    video = load_video("envivio")
    aware = simulate(traces, video, StochasticMPC(), device="phone")
    blind = simulate(traces, video, StochasticMPC(objective="bitrate"), device="phone")
    assert aware.bytes.mean() < blind.bytes.mean()
    assert aware.quality_mean.mean() >= blind.quality_mean.mean() - 1.0
    with pytest.raises(ConfigError, match="has no per-chunk quality"):
        simulate(traces[:2], load_video("sabre_bbb").head(5), StochasticMPC(objective="quality"))


def test_config_is_validated_and_order_is_enforced():
    with pytest.raises(ConfigError, match="horizon must be an int >= 1"):
        StochasticMPC(horizon=0)
    with pytest.raises(ConfigError, match="prior_ratios must be positive"):
        StochasticMPC(prior_ratios=(0.5, -1.0))
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ConfigError, match=r"persistence must be a number in \[0, 1\)"):
            StochasticMPC(persistence=bad)
    with pytest.raises(ConfigError, match="objective must be one of"):
        StochasticMPC(objective="vibes")
    cfg = StochasticMPC(prior_weight=4.0).config
    assert StochasticMPC.from_config(StochasticMPCConfig(**cfg.to_dict())).config == cfg
    with pytest.raises(ConfigError, match="call start"):
        StochasticMPC().choose(_observations(n=3))


def test_fit_chooses_the_best_of_its_grid_on_the_traces_it_is_given():
    fcc = load_traces("fcc_pensieve88")[:6]
    hsdpa = load_traces("hsdpa_pensieve80")[:6]
    video = load_video("envivio").head(16)
    grid = {"prior_weight": (1.0, 50.0), "horizon": (4,)}
    scheme = StochasticMPC(history=2)
    assert scheme.fit([fcc, hsdpa], video, grid=grid) is scheme
    assert [p for p, _ in scheme.fit_scores_] == [
        {"prior_weight": 1.0, "horizon": 4},
        {"prior_weight": 50.0, "horizon": 4},
    ]
    best = max(scheme.fit_scores_, key=lambda ps: ps[1])[0]
    assert scheme.config.prior_weight == best["prior_weight"] and scheme.config.horizon == 4
    assert scheme.config.history == 2  # fields outside the grid keep their values
    # each score is the mean of the sets' means
    want = np.mean([simulate(t, video, StochasticMPC(history=2, **best)).qoe.mean() for t in (fcc, hsdpa)])
    assert max(score for _, score in scheme.fit_scores_) == pytest.approx(want)
    with pytest.raises(ConfigError, match="unknown field"):
        StochasticMPC().fit(fcc, video, grid={"speed": (1,)})


def test_a_discount_stops_the_planner_deferring_an_upgrade_forever():
    # A full buffer over a steady 0.7 Mbps with uncertain draws: undiscounted, "stay low now, upgrade later" is
    # worth as much as upgrading now plus the option of waiting, so re-planning defers it chunk after chunk.
    video = load_video("envivio")
    tp = np.full((1, 26), 0.7)
    obs = Observation(26, 48, np.array([59.5]), np.array([0]), tp, np.full_like(tp, 2.0), video, 60.0, None, 0.08)
    draws, weights = np.array([[0.55, 0.59, 0.24, 0.42, 0.6]]), np.array([0.14, 0.14, 0.24, 0.24, 0.24])
    picks = {}
    for gamma in (1.0, 0.95):
        scheme = StochasticMPC(discount=gamma)
        scheme.start(video, 1)
        picks[gamma] = int(scheme.plan(obs, draws, weights / weights.sum())[0])
    assert picks[1.0] == 0 and picks[0.95] >= 1
    with pytest.raises(ConfigError, match="discount must be in"):
        StochasticMPC(discount=0.0)
