"""Plays meet playback: sessions on their devices over real traces, and an A/B test of two ABR schemes."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import BBA, RobustMPC, StochasticMPC, load_traces, load_video, simulate
from marquee.sim.context import DEVICES
from marquee.sim.playback import PLAYBACK_DEVICE, abr_ab_test, play


def test_every_session_plays_on_its_device_over_its_networks(tiny_world):
    sessions = tiny_world.sessions(np.arange(200), seed=1)
    out = play(sessions, BBA, seed=2)
    assert len(out) == 200 and not np.isnan(out.qoe).any()
    names = np.array(DEVICES)[sessions.device]
    np.testing.assert_array_equal(out.device, [PLAYBACK_DEVICE[n] for n in names])
    cellular = np.isin(out.device, ["phone", "tablet"])
    assert all(t.startswith("hsdpa_pensieve80/") for t in out.trace[cellular])
    assert all(t.startswith("fcc_pensieve88/") for t in out.trace[~cellular])
    # a session's figures are what the simulator gives for that trace on that device
    k = int(np.flatnonzero(out.device == "phone")[0])
    trace = load_traces("hsdpa_pensieve80")[load_traces("hsdpa_pensieve80").names.index(out.trace[k].split("/")[1])]
    alone = simulate([trace], load_video("envivio"), BBA(), device="phone")
    assert out.rebuffer_s[k] == pytest.approx(alone.rebuffer_s[0])
    assert out.startup_s[k] == pytest.approx(alone.startup_s[0])
    assert out.megabytes[k] == pytest.approx(alone.bytes[0] / 1e6)


def test_networks_can_be_replaced_and_are_checked(tiny_world):
    sessions = tiny_world.sessions(np.arange(40), seed=1)
    fcc = load_traces("fcc_pensieve88")[:3]
    out = play(sessions, BBA, networks={"phone": fcc, "tablet": fcc}, seed=0)
    assert all(t.startswith("fcc_pensieve88/") for t in out.trace)
    with pytest.raises(ConfigError, match="unknown device"):
        play(sessions, BBA, networks={"fridge": fcc})


def test_an_abr_ab_test_knows_its_truth(tiny_world):
    video = load_video("envivio").head(20)
    same = abr_ab_test(tiny_world, RobustMPC, RobustMPC, members=100, sessions_per_member=2, video=video, seed=0)
    assert all(v == 0.0 for v in same.truth.values())
    res = abr_ab_test(tiny_world, BBA, StochasticMPC, members=200, sessions_per_member=2, video=video, seed=0)
    assert set(res.truth) == {"qoe", "rebuffer_s", "startup_s", "bitrate_mbps", "quality", "megabytes"}
    assert res.comparisons["qoe"].n_control == res.comparisons["qoe"].n_variant == 100
    # the truth is a real difference, and the interval is about it
    assert res.truth["qoe"] != 0.0
    assert res.covers_truth("qoe")
    assert res.comparisons["qoe"].absolute.low < res.truth["qoe"] < res.comparisons["qoe"].absolute.high
