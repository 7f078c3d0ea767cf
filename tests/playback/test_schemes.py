"""BBA's map and the rate-based scheme's harmonic mean."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import BBA, HarmonicMean, Observation, RateBased, load_video


def _obs(buffer_s, throughput=None):
    video = load_video("envivio")
    n = len(buffer_s)
    tp = np.ones((n, 1)) if throughput is None else np.asarray(throughput, dtype=float)
    return Observation(
        3, 48, np.asarray(buffer_s, dtype=float), np.ones(n, dtype=np.int64), tp, np.ones_like(tp), video
    )


def test_bba_reservoir_cushion_and_between():
    rungs = BBA().choose(_obs([0.0, 4.99, 5.0, 7.0, 10.0, 14.99, 15.0, 60.0]))
    # between: floor(5 * (b - 5) / 10)
    np.testing.assert_array_equal(rungs, [0, 0, 0, 1, 2, 4, 5, 5])
    assert BBA(reservoir_s=2.0, cushion_s=4.0).choose(_obs([2.0, 6.0])).tolist() == [0, 5]
    with pytest.raises(ConfigError, match="cushion_s must be > 0"):
        BBA(cushion_s=0.0)


def test_harmonic_mean():
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    np.testing.assert_allclose(HarmonicMean(5).predict(x), [3 / (1 + 0.5 + 0.25), 3.0])
    np.testing.assert_allclose(HarmonicMean(2).predict(x), [2 / (0.5 + 0.25), 3.0])
    long = np.array([[100.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    assert HarmonicMean(5).predict(long)[0] == pytest.approx(1.0)  # only the last 5
    with pytest.raises(ConfigError, match="window must be an int >= 1"):
        HarmonicMean(0)


def test_rate_based_highest_rung_below_prediction():
    tp = [[1.3, 1.3], [0.1, 0.1], [1.2, 1.2], [9.0, 9.0], [0.2, 2.0]]
    rungs = RateBased().choose(_obs([0.0] * 5, tp))
    hm = 2 / (1 / 0.2 + 1 / 2.0)  # 0.364 Mbps -> 300 kbps
    assert hm < 0.75
    np.testing.assert_array_equal(rungs, [2, 0, 2, 5, 0])
    assert RateBased(safety=0.5).choose(_obs([0.0], [[2.0]])).tolist() == [1]


def test_registry_and_config_round_trip():
    from marquee.playback import SCHEMES, Scheme
    from marquee.playback.scheme import register

    assert {name: cls.__name__ for name, cls in SCHEMES.items()} == {
        "rb": "RateBased",
        "bba": "BBA",
        "bola": "BOLA",
        "robustmpc": "RobustMPC",
        "optimal": "OfflineOptimal",
        "marquee": "StochasticMPC",
    }
    for cls in SCHEMES.values():
        scheme = cls()
        again = cls.from_config(cls.Config(**scheme.config.to_dict()))
        assert again.config == scheme.config
    assert BBA.from_config(BBA(reservoir_s=3.0).config).config.reservoir_s == 3.0

    class Impostor(Scheme):
        name = "bba"

        def choose(self, obs):
            return obs.last_rung

    with pytest.raises(ConfigError, match="scheme name 'bba' is taken by BBA"):
        register(Impostor)


def test_offline_plan_is_replayed_through_the_simulator():
    from marquee.playback import Scheme, load_traces, simulate

    traces = load_traces("fcc_pensieve88")[:3]
    video = load_video("envivio").head(6)

    class Staircase(Scheme):
        name = "staircase"
        needs_future = True

        def choose(self, obs):
            raise AssertionError("an offline scheme is replayed, never asked online")

        def plan_ahead(self, traces, video, config):
            plan = np.minimum(np.arange(video.n_chunks), video.n_rungs - 1)[None, :].repeat(len(traces), axis=0)
            plan[:, 0] = config.first_rung
            return plan

    played = simulate(traces, video, Staircase())
    assert played.rung[0].tolist() == [1, 1, 2, 3, 4, 5]

    class Wrong(Staircase):
        def plan_ahead(self, traces, video, config):
            return np.zeros((len(traces), video.n_chunks), dtype=np.int64)

    with pytest.raises(ConfigError, match="planned chunk 0 away from first_rung=1"):
        simulate(traces, video, Wrong())

    class Short(Staircase):
        def plan_ahead(self, traces, video, config):
            return np.ones((len(traces), 2), dtype=np.int64)

    with pytest.raises(ConfigError, match="plan of shape"):
        simulate(traces, video, Short())
