"""BOLA-BASIC: V from the buffer capacity (the player's cap by default), thresholds, ties, config."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import BOLA, BOLAConfig, Observation, load_traces, load_video, simulate


def _obs(buffer_s, cap=60.0, video=None):
    video = video or load_video("envivio")
    n = len(buffer_s)
    tp = np.ones((n, 1))
    return Observation(
        3,
        48,
        np.asarray(buffer_s, dtype=float),
        np.ones(n, dtype=np.int64),
        tp,
        np.ones_like(tp),
        video,
        buffer_cap_s=cap,
    )


def _thresholds(q_max, gp=5.0):
    rates = load_video("envivio").bitrates_kbps
    u = np.log(rates / rates[0])
    v = (q_max - 4.0) / (u[-1] + gp)
    # buffer at which rung m overtakes rung m-1: V * (gp + (b_m u_{m-1} - b_{m-1} u_m) / (b_m - b_{m-1}))
    return [v * (gp + (rates[m] * u[m - 1] - rates[m - 1] * u[m]) / (rates[m] - rates[m - 1])) for m in range(1, 6)]


@pytest.mark.parametrize(
    ("scheme", "cap", "q_max"),
    [
        (BOLA(), 60.0, 60.0),  # default: the player's cap
        (BOLA(), 30.0, 30.0),  # a device's smaller cap moves V with it
        (BOLA(buffer_target_s=25.0), 60.0, 25.0),  # Sabre's default player, decoupled from ours
    ],
)
def test_switches_at_its_thresholds(scheme, cap, q_max):
    thresholds = _thresholds(q_max)
    assert np.all(np.diff(thresholds) > 0)
    below = scheme.choose(_obs([t - 1e-6 for t in thresholds], cap))
    above = scheme.choose(_obs([t + 1e-6 for t in thresholds], cap))
    np.testing.assert_array_equal(below, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(above, [1, 2, 3, 4, 5])
    assert scheme.v(_obs([0.0], cap)) == pytest.approx((q_max - 4.0) / (np.log(4300 / 300) + 5.0))


def test_cap_thresholds_match_the_docstring():
    np.testing.assert_allclose(_thresholds(60.0), [32.1, 37.5, 40.8, 44.0, 47.1], atol=0.05)
    np.testing.assert_allclose(_thresholds(25.0), [12.0, 14.1, 15.3, 16.5, 17.7], atol=0.05)


def test_ends_of_the_buffer():
    # empty buffer: lowest; at and above the pause level Q_max - p every score is <= 0 and the top rung wins
    assert BOLA().choose(_obs([0.0, 55.999, 56.0, 100.0])).tolist() == [0, 5, 5, 5]
    # a larger gamma_p raises every threshold
    assert BOLA(gamma_p=50.0).choose(_obs([40.0])).tolist() == [0]
    assert BOLA().choose(_obs([40.0])).tolist() == [2]


def test_config_validation_and_round_trip():
    for bad in (0, -1.0, True, "25"):
        with pytest.raises(ConfigError, match="gamma_p must be a number > 0"):
            BOLA(gamma_p=bad)
        with pytest.raises(ConfigError, match="buffer_target_s must be a number > 0"):
            BOLA(buffer_target_s=bad)
    assert BOLA().config == BOLAConfig(gamma_p=5.0, buffer_target_s=None)
    for scheme in (BOLA(), BOLA(gamma_p=3.0, buffer_target_s=25.0)):
        assert BOLA.from_config(BOLA.Config(**scheme.config.to_dict())).config == scheme.config
    with pytest.raises(ConfigError, match="must exceed the chunk length 4.0 s"):
        BOLA(buffer_target_s=4.0).choose(_obs([1.0]))
    with pytest.raises(ConfigError, match="player's buffer_cap_s"):
        BOLA().choose(_obs([1.0], cap=3.0))


def test_plays_and_never_rebuffers_more_than_sabres_25s_sizing():
    traces = load_traces("hsdpa_pensieve80")[:10]
    video = load_video("envivio")
    ours = simulate(traces, video, BOLA())
    sabre25 = simulate(traces, video, BOLA(buffer_target_s=25.0))
    assert ours.rung.shape == (10, video.n_chunks) and ours.rung[:, 0].tolist() == [1] * 10
    # a larger capacity keeps more buffer before climbing: less stalling, lower bitrate
    assert ours.rebuffer_s.mean() <= sabre25.rebuffer_s.mean()
    assert ours.avg_bitrate_mbps.mean() <= sabre25.avg_bitrate_mbps.mean()
