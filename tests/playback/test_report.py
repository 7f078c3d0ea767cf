"""The playback HTML report: the session it draws, escaping, ladders without quality, atomic writes, its imports."""

import subprocess
import sys

import numpy as np
import pytest

from marquee import playback
from marquee.errors import ConfigError
from marquee.playback.report import median_session, render_report, resolve_session, session_index, write_report


def _traces(n=5):
    # Trace i runs at 0.5 + i Mbps: a higher index never plays worse.
    times = [np.arange(0.0, 60.0) for _ in range(n)]
    return playback.traces_from_arrays("tiny", times, [np.full(60, 0.5 + i) for i in range(n)])


def _video(quality=True):
    rates = [300.0, 750.0, 1200.0]
    sizes = np.array([[r * 1000 / 8 * 4 for r in rates]] * 6, dtype=np.int64)
    q = np.tile([40.0, 60.0, 80.0], (6, 1)) if quality else None
    return playback.Video("tiny_ladder", rates, 4.0, sizes, q)


def _runs(video=None, devices=(None,)):
    traces, video = _traces(), video or _video()
    return [
        playback.simulate(traces, video, playback.SCHEMES[name](), device=d) for name in ("rb", "bba") for d in devices
    ]


def test_median_session_and_session_index():
    run = _runs()[0]
    k = median_session(run)
    assert run.qoe[k] == np.median(run.qoe)  # five sessions: the middle one
    assert resolve_session(run, None) == k
    assert session_index(run.trace_names, 2) == 2 and session_index(run.trace_names, "3") == 3
    assert session_index(run.trace_names, "tiny_4") == 4 and session_index(run.trace_names, None) is None
    with pytest.raises(ConfigError, match=r"session index 5 is out of range; the run has sessions 0\.\.4"):
        session_index(run.trace_names, 5)
    with pytest.raises(ConfigError, match="session 'nope' names no trace"):
        session_index(run.trace_names, "nope")


def test_report_escapes_user_strings_and_shows_the_sections(tmp_path):
    path = write_report(tmp_path / "r.html", _runs(), traces="<script>x</script>", video="a&b", session="tiny_1")
    page = path.read_text()
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page and "a&amp;b" in page
    for section in ("Summary", "QoE distribution", "One session over time", "Conventions"):
        assert f"<h2>{section}</h2>" in page
    assert "Device profiles" not in page and "Devices side by side" not in page  # no device was run
    assert page.count("data:image/png;base64,") == 2
    assert "Session 1 (trace <code>tiny_1</code>)" in page and "the median QoE" not in page
    assert "<td>payload_fraction</td><td>0.95</td>" in page


def test_report_with_devices_and_no_quality(tmp_path):
    page = render_report(_runs(_video(quality=False), ("phone", "tv")), traces="tiny", video="tiny_ladder")
    assert "<h2>Devices side by side</h2>" in page and "<h2>Device profiles</h2>" in page
    assert page.count("data:image/png;base64,") == 4  # QoE, one session per device (2), devices side by side
    assert "vmaf_phone" in page and "tiny_ladder@phone" in page
    summary = page.split("<h2>Summary</h2>")[1].split("</table>")[0]
    assert summary.count("<td>–</td>") == 2 * 4  # quality and quality p5 of each of the four runs


def test_failed_render_leaves_the_file_alone(tmp_path):
    path = tmp_path / "r.html"
    path.write_text("previous")
    other = playback.simulate(_traces(3), _video(), playback.BBA())
    with pytest.raises(ConfigError, match="same traces"):
        write_report(path, [*_runs(), other], traces="tiny", video="v")
    with pytest.raises(ConfigError, match="out of range"):
        write_report(path, _runs(), traces="tiny", video="v", session=9)
    with pytest.raises(ConfigError, match="at least one run"):
        write_report(path, [], traces="tiny", video="v")
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["r.html"]
    write_report(path, _runs(), traces="tiny", video="v")
    assert path.read_text().startswith("<!doctype html>") and [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_report_imports_nothing_above_playback():
    code = (
        "import sys, marquee.playback.report; "
        "bad = [m for m in sys.modules if m.startswith(('marquee.cli', 'marquee.rank', 'marquee.serve', 'marquee.evaluate'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
