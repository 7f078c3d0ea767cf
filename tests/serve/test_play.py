"""serve.play: a simulated playback session of a title on the member's device."""

import json
import subprocess
import sys

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import DEVICES, SCHEMES, load_traces, load_video, simulate
from marquee.serve.play import DEFAULT_SCHEME, SERVICE_DEVICES, Player, PlayResult, network_for


@pytest.fixture(scope="module")
def player():
    return Player()


def test_service_devices_map_onto_playback_classes_and_shipped_networks():
    assert set(SERVICE_DEVICES) == {"tv", "mobile", "web", "tablet", "console", "other"}
    assert set(SERVICE_DEVICES.values()) <= set(DEVICES)
    assert network_for("phone") == "hsdpa_pensieve80"  # the first shipped one of the phone's cellular networks
    assert network_for("tablet") == "hsdpa_pensieve80"
    assert network_for("laptop") == "fcc_pensieve88"
    assert network_for("tv") == "fcc_pensieve88"
    assert network_for("tv4k") == "fcc_pensieve88"  # its first two networks are shared sets, not shipped
    with pytest.raises(ConfigError, match=r"unknown playback device class 'watch'; known: phone, tablet"):
        network_for("watch")


def test_play_is_deterministic_and_its_arguments_pick_the_trace(player):
    first = player.play(42, "mobile", member_id=7, session=3)
    assert player.play(42, "mobile", member_id=7, session=3) == first
    assert Player().play(42, "mobile", member_id=7, session=3) == first  # not state of one player
    # over many sessions the hash spreads plays across the network's traces
    traces = {player.play(42, "mobile", member_id=7, session=s).trace for s in range(40)}
    assert len(traces) > 20
    others = [
        player.play(43, "mobile", member_id=7, session=3),
        player.play(42, "mobile", member_id=8, session=3),
        player.play(42, "mobile", member_id=None, session=3),
        player.play("42", "mobile", member_id=7, session=3),
        Player(seed=1).play(42, "mobile", member_id=7, session=3),
    ]
    # each change of an argument is another draw; over five draws from 80 traces, some land elsewhere
    assert any(o.trace != first.trace for o in others)


def test_devices_play_on_their_class_network_ladder_and_quality_model(player):
    for device, cls in SERVICE_DEVICES.items():
        for s in range(5):
            r = player.play(9, device, member_id=1, session=s)
            assert (r.device, r.device_class, r.network) == (device, cls, network_for(cls))
            assert r.trace in {t.name for t in load_traces(r.network)}
            assert r.scheme == DEFAULT_SCHEME
            assert 300.0 <= r.mean_bitrate_kbps <= min(DEVICES[cls].max_bitrate_kbps, 4300.0)
            assert 0.0 <= r.mean_quality <= 100.0
    assert player.play(9, "mobile").quality_unit == "VMAF (phone model)"
    assert player.play(9, "tablet").quality_unit == "VMAF (tablet model)"
    assert player.play(9, "web").quality_unit == "VMAF"
    assert player.play(9, None) == player.play(9, "tv")


def test_startup_and_rebuffering_are_non_negative_and_consistent(player):
    for device in SERVICE_DEVICES:
        for s in range(4):
            r = player.play(5, device, member_id=2, session=s)
            assert r.startup_delay_s > 0.0
            assert r.rebuffer_s >= 0.0 and 0.0 <= r.rebuffer_ratio < 1.0
            assert r.rebuffer_ratio == pytest.approx(r.rebuffer_s / (r.rebuffer_s + r.duration_s))
            assert (r.chunks, r.duration_s) == (48, 192.0)
            assert 0 <= r.switches <= r.chunks - 1


def test_a_play_is_the_simulators_session_on_that_trace_and_device(player):
    video = load_video("envivio")
    # the phone's 3G network stalls somewhere: find a play that rebuffers so the comparison covers stalls
    r = next(x for s in range(60) if (x := player.play("tt0111161", "mobile", member_id=3, session=s)).rebuffer_s > 0)
    trace = next(t for t in load_traces("hsdpa_pensieve80") if t.name == r.trace)
    direct = simulate(trace, video, SCHEMES[DEFAULT_SCHEME](), device="phone")
    assert r.startup_delay_s == direct.startup_s[0]
    assert r.rebuffer_s == direct.rebuffer_s[0]
    assert r.rebuffer_ratio == direct.rebuffer_ratio[0]
    assert r.mean_bitrate_kbps == pytest.approx(direct.avg_bitrate_mbps[0] * 1000.0)
    assert r.mean_quality == direct.quality_mean[0]
    assert r.switches == direct.switches[0]
    # the device matters: the same trace as a TV shows the default model's (lower) VMAF and a 2 s resume
    as_tv = simulate(trace, video, SCHEMES[DEFAULT_SCHEME](), device="tv")
    assert r.mean_quality > as_tv.quality_mean[0]


def test_marquee_scheme_can_be_chosen():
    r = Player(scheme="marquee").play(1, "web")
    assert r.scheme == "marquee"
    trace = next(t for t in load_traces("fcc_pensieve88") if t.name == r.trace)
    direct = simulate(trace, load_video("envivio"), SCHEMES["marquee"](), device="laptop")
    assert r.mean_quality == direct.quality_mean[0]


def test_string_title_and_member_ids():
    player = Player()
    r = player.play("tt0111161", "web", member_id="member-abc")
    assert r.title_id == "tt0111161"
    assert player.play("tt0111161", "web", member_id="member-abc") == r
    d = r.to_dict()
    assert d["title_id"] == "tt0111161"
    assert json.loads(json.dumps(d)) == d


def test_to_dict_is_json_ready_and_rounded(player):
    r = player.play(3, "tv", member_id=11, session=2)
    d = r.to_dict()
    assert set(d) == set(PlayResult.__dataclass_fields__)
    assert d["startup_delay_s"] == round(r.startup_delay_s, 3)
    assert d["mean_bitrate_kbps"] == round(r.mean_bitrate_kbps, 1)
    assert d["mean_quality"] == round(r.mean_quality, 2)
    assert d["rebuffer_ratio"] == round(r.rebuffer_ratio, 4)
    assert all(type(d[k]) is float for k in ("startup_delay_s", "mean_bitrate_kbps", "mean_quality", "rebuffer_s"))
    assert type(d["switches"]) is int and type(d["chunks"]) is int
    assert json.loads(json.dumps(d)) == d


def test_unknown_device_names_the_allowed_values(player):
    allowed = "tv, mobile, web, tablet, console, other"
    with pytest.raises(ConfigError, match=rf"unknown device 'phone'; use one of {allowed} \(or None for 'tv'\)"):
        player.play(1, "phone")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"title_id": 1.5}, r"title_id must be an int or a str, got float 1.5"),
        ({"title_id": True}, r"title_id must be an int or a str, got bool"),
        ({"member_id": [1]}, r"member_id must be an int or a str, got list"),
        ({"session": -1}, r"session must be an int >= 0, got -1"),
    ],
)
def test_bad_arguments_raise(player, kwargs, match):
    args = {"title_id": 1, "device": "tv", **kwargs}
    with pytest.raises(ConfigError, match=match):
        player.play(args.pop("title_id"), args.pop("device"), **args)


def test_bad_player_configs_raise():
    with pytest.raises(ConfigError, match=r"unknown scheme 'fast'; known: .*robustmpc"):
        Player(scheme="fast")
    with pytest.raises(ConfigError, match=r"scheme 'optimal' plans with the whole trace known .* use one of"):
        Player(scheme="optimal")
    with pytest.raises(ConfigError, match=r"video 'sabre_bbb' has no per-chunk quality.*video='envivio'"):
        Player(video="sabre_bbb")
    with pytest.raises(ConfigError, match=r"unknown video 'bbb'; shipped: envivio"):
        Player(video="bbb")
    with pytest.raises(ConfigError, match=r"seed must be an int >= 0"):
        Player(seed=-1)


def test_player_loads_its_data_once(player, monkeypatch):
    from marquee.serve import play

    def refuse(*args, **kwargs):
        raise AssertionError("play() must not load data")

    monkeypatch.setattr(play, "load_traces", refuse)
    monkeypatch.setattr(play, "load_video", refuse)
    assert np.isfinite(player.play(1, "tablet").mean_quality)


def test_play_module_knows_no_http():
    code = "import sys, marquee.serve.play; print(sorted(m for m in ('fastapi', 'starlette', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
