"""Device classes: the ladder they are offered, the quality they show, their players' thresholds."""

import numpy as np
import pytest

from marquee.errors import ConfigError
from marquee.playback import (
    BBA,
    DEVICES,
    Device,
    SessionConfig,
    device,
    load_traces,
    load_video,
    perceived_quality,
    simulate,
)


def test_phone_model_is_libvmafs_transform():
    q = np.array([0.0, 20.0, 63.7, 85.1, 93.3, 100.0])
    phone = perceived_quality(q, "vmaf_phone")
    # 1.70674692 + 1.72643844 q - 0.00705305 q^2, never below q, clipped to 100
    assert phone[1] == pytest.approx(1.70674692 + 1.72643844 * 20 - 0.00705305 * 400)
    assert phone[3] == pytest.approx(1.70674692 + 1.72643844 * 85.1 - 0.00705305 * 85.1**2)
    assert phone[4] == 100.0 and phone[5] == 100.0  # saturates before the top rung
    assert np.all(phone >= q)
    tablet = perceived_quality(q, "vmaf_tablet")
    assert np.all((q <= tablet) & (tablet <= phone))
    with pytest.raises(ConfigError, match="unknown quality model 'oled'"):
        perceived_quality(q, "oled")


def test_ladder_cap_and_quality_follow_the_device():
    bbb4k = load_video("sabre_bbb4k")
    tv = device("tv").ladder(bbb4k)
    assert tv.bitrates_kbps.max() <= 8000 and tv.n_rungs < bbb4k.n_rungs
    assert device("tv4k").ladder(bbb4k).n_rungs == bbb4k.n_rungs
    envivio = load_video("envivio")
    phone = device("phone").ladder(envivio)
    assert phone.n_rungs == envivio.n_rungs and phone.name == "envivio@phone"
    assert np.all(phone.quality >= envivio.quality)
    np.testing.assert_array_equal(device("tv").ladder(envivio).quality, envivio.quality)


def test_unknown_device_and_bad_profiles_are_refused():
    with pytest.raises(ConfigError, match="unknown device 'fridge'; known: phone, tablet, laptop, tv, tv4k"):
        device("fridge")
    with pytest.raises(ConfigError, match="unknown quality_model"):
        Device("watch", "", None, "oled", 10.0, 0.0, 0.0, ())
    with pytest.raises(ConfigError, match="thresholds must not exceed buffer_cap_s"):
        Device("watch", "", None, "vmaf", 10.0, 12.0, 0.0, ())
    assert set(DEVICES) == {"phone", "tablet", "laptop", "tv", "tv4k"}


def test_start_threshold_delays_playback_until_enough_is_buffered():
    traces = load_traces("fcc_pensieve88")[:5]
    video = load_video("envivio")
    base = simulate(traces, video, BBA())
    late = simulate(traces, video, BBA(), SessionConfig(start_threshold_s=6.0))
    # 4 s chunks: playback waits for two chunks, so start-up is the first two downloads and they never stall
    np.testing.assert_allclose(late.startup_s, late.download_s[:, 0] + late.download_s[:, 1])
    assert np.all(late.stall_s[:, :2] == 0)
    np.testing.assert_allclose(base.startup_s, base.download_s[:, 0])


def test_resume_threshold_makes_a_rebuffer_wait_for_the_next_chunk():
    traces = load_traces("hsdpa_pensieve80")
    video = load_video("envivio")
    cfg = SessionConfig(resume_threshold_s=5.0)
    plain = simulate(traces, video, BBA())
    waits = simulate(traces, video, BBA(), cfg)
    s = int(np.flatnonzero(plain.rebuffer_s > 0)[0])
    i = int(np.flatnonzero(waits.stall_s[s] > 0)[0])
    # after the first stall the buffer holds one 4 s chunk < 5 s: the next download is waited for in full
    assert waits.buffer_s[s, i] == pytest.approx(4.0)
    assert waits.stall_s[s, i + 1] == pytest.approx(waits.download_s[s, i + 1])
    assert waits.rebuffer_s.sum() > plain.rebuffer_s.sum()


def test_simulate_with_a_device_uses_its_player_and_ladder():
    traces = load_traces("hsdpa_pensieve80")[:4]
    played = simulate(traces, load_video("envivio"), BBA(), device="phone")
    assert played.device == "phone" and played.config.buffer_cap_s == 50.0
    assert played.config.resume_threshold_s == 5.0
    assert played.video.name == "envivio@phone"
    assert played.summary()["device"] == "phone"
    assert played.summary()["quality_mean"] >= simulate(traces, load_video("envivio"), BBA()).summary()["quality_mean"]
