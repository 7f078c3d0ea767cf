"""``marquee playback``: the figures equal the Python API's, devices, the report, and bad input as one clean line."""

import json

import pytest
from typer.testing import CliRunner

from marquee import playback
from marquee.cli.main import app

runner = CliRunner()

KEYS = {
    "scheme",
    "sessions",
    "qoe_per_chunk",
    "rebuffer_s",
    "avg_bitrate_mbps",
    "startup_s",
    "switches",
    "quality_mean",
}
ONLINE = ("rb", "bba", "bola", "robustmpc")


def _evaluate(*args):
    return runner.invoke(app, ["playback", "evaluate", *map(str, args)])


def test_json_equals_simulate_summary(tmp_path):
    out = tmp_path / "out.json"
    result = _evaluate(
        "--traces", "hsdpa_pensieve80", "--video", "envivio", "--abr", ",".join(ONLINE), "--chunks", 10, "--json", out
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [r["scheme"] for r in rows] == list(ONLINE)
    traces, video = playback.load_traces("hsdpa_pensieve80"), playback.load_video("envivio")
    for row, name in zip(rows, ONLINE, strict=True):
        assert KEYS | {"device", "rebuffer_ratio", "bytes", "quality_p5"} == set(row)
        want = playback.simulate(traces, video, playback.SCHEMES[name](), playback.SessionConfig(n_chunks=10)).summary()
        assert row == want
        assert row["device"] is None and row["sessions"] == 80 and row["quality_mean"] is not None
    # the table shows every scheme, and off a terminal progress is one line per scheme
    for name in ONLINE:
        assert any(line.startswith("playback: ") and f" {name}: QoE" in line for line in result.output.splitlines())
    assert "QoE_lin per chunk" in result.output


def test_cut_plays_every_stretch_of_long_traces(tmp_path):
    out = tmp_path / "out.json"
    result = _evaluate(
        "--traces", "hsdpa_pensieve80", "--video", "envivio", "--abr", "bba", "--chunks", 5, "--cut", 100,
        "--cut-every", 50, "--json", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    pieces = playback.load_traces("hsdpa_pensieve80").cut(100, every_s=50)
    assert row["sessions"] == len(pieces) > 80
    want = playback.simulate(pieces, playback.load_video("envivio"), playback.BBA(), playback.SessionConfig(n_chunks=5))
    assert row == want.summary()


def test_optimal_when_registered(tmp_path):
    if "optimal" not in playback.SCHEMES:
        pytest.skip("no 'optimal' scheme is registered yet")
    out = tmp_path / "out.json"
    result = _evaluate(
        "--traces", "hsdpa_pensieve80", "--video", "envivio", "--abr", "bba,optimal", "--chunks", 6, "--json", out
    )
    assert result.exit_code == 0, result.output
    assert [r["scheme"] for r in json.loads(out.read_text())] == ["bba", "optimal"]


def test_device_list_and_all(tmp_path):
    out = tmp_path / "out.json"
    result = _evaluate(
        "--traces",
        "fcc_pensieve88",
        "--video",
        "envivio",
        "--abr",
        "rb,bba",
        "--device",
        "phone,tv",
        "--chunks",
        8,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert [(r["scheme"], r["device"]) for r in rows] == [
        ("rb", "phone"),
        ("rb", "tv"),
        ("bba", "phone"),
        ("bba", "tv"),
    ]
    traces, video = playback.load_traces("fcc_pensieve88"), playback.load_video("envivio")
    cfg = playback.SessionConfig(n_chunks=8)
    assert rows[2] == playback.simulate(traces, video, playback.BBA(), cfg, device="phone").summary()
    assert rows[0] != rows[1]  # the device changes the run

    result = _evaluate(
        "--traces",
        "fcc_pensieve88",
        "--video",
        "envivio",
        "--abr",
        "rb",
        "--device",
        "all",
        "--chunks",
        4,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    assert [r["device"] for r in json.loads(out.read_text())] == list(playback.DEVICES)


def test_report_has_the_sections_and_images(tmp_path):
    report, out = tmp_path / "sub" / "r.html", tmp_path / "r.json"
    result = _evaluate(
        "--traces", "hsdpa_pensieve80", "--video", "envivio", "--abr", "rb,bola", "--device", "phone,laptop",
        "--chunks", 12, "--report", report, "--json", out, "--session", 3,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert page.startswith("<!doctype html>")
    for section in (
        "Summary",
        "QoE distribution",
        "One session over time",
        "Devices side by side",
        "Conventions",
        "Device profiles",
    ):
        assert f"<h2>{section}</h2>" in page
    assert page.count("data:image/png;base64,") == 4  # QoE, one session on each of two devices, devices side by side
    names = [t.name for t in playback.load_traces("hsdpa_pensieve80")]
    assert f"Session 3 (trace <code>{names[3]}</code>)" in page
    assert "rtt_s" in page and "ExoPlayer" in page and "hsdpa_pensieve80" in page
    assert not list(report.parent.glob(".*.tmp"))


def test_report_default_session_is_the_median_of_the_first_scheme(tmp_path):
    from marquee.playback.report import median_session

    report = tmp_path / "r.html"
    result = _evaluate(
        "--traces", "fcc_pensieve88", "--video", "envivio", "--abr", "bba,rb", "--chunks", 6, "--report", report
    )
    assert result.exit_code == 0, result.output
    traces = playback.load_traces("fcc_pensieve88")
    run = playback.simulate(traces, playback.load_video("envivio"), playback.BBA(), playback.SessionConfig(n_chunks=6))
    k = median_session(run)
    assert f"Session {k} (trace <code>{run.trace_names[k]}</code>) — the median QoE of bba" in report.read_text()
    assert "Devices side by side" not in report.read_text()


def test_config_file_sets_the_conventions(tmp_path):
    (tmp_path / "c.toml").write_text("[session]\nrtt_s = 0.0\nsmooth_penalty = 0.0\nn_chunks = 20\n")
    out = tmp_path / "o.json"
    result = _evaluate(
        "--traces",
        "hsdpa_pensieve80",
        "--video",
        "envivio",
        "--abr",
        "bba",
        "--config",
        tmp_path / "c.toml",
        "--chunks",
        7,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    cfg = playback.SessionConfig(rtt_s=0.0, smooth_penalty=0.0, n_chunks=7)  # --chunks wins over the file
    want = playback.simulate(
        playback.load_traces("hsdpa_pensieve80"), playback.load_video("envivio"), playback.BBA(), cfg
    ).summary()
    assert json.loads(out.read_text()) == [want]


def _bad_cases(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1.0\n1.0 abc\n2.0 3.0\n")
    neg = tmp_path / "neg.txt"
    neg.write_text("0 1.0\n1 2.0\n2 -1.5\n")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    ladder = tmp_path / "ladder.csv"
    ladder.write_text("chunk_index,bytes_300kbps,bytes_750kbps\n0,150000,375000\n1,150000,\n")
    conf = tmp_path / "c.toml"
    conf.write_text("[session]\nrtt = 0.1\n")
    ok = ("--traces", "hsdpa_pensieve80", "--video", "envivio")
    return {
        "malformed trace line": ((*ok[2:], "--traces", bad), 3, ["bad.txt", "row 2", "'mbps'", "'abc'"]),
        "negative throughput": ((*ok[2:], "--traces", neg), 3, ["neg.txt", "row 3", "negative"]),
        "empty trace": ((*ok[2:], "--traces", empty), 3, ["empty.txt", "empty"]),
        "missing traces": ((*ok[2:], "--traces", tmp_path / "nope"), 3, ["nope", "no such file"]),
        "ladder chunk counts": ((*ok[:2], "--video", ladder), 3, ["ladder.csv", "rung 1", "same chunks"]),
        "unknown device": ((*ok, "--device", "phone,watch"), 2, ["unknown device 'watch'", "phone, tablet"]),
        "unknown scheme": (
            (*ok, "--abr", "bba,pensieve"),
            2,
            ["unknown scheme(s) 'pensieve'", "bba, bola, marquee, optimal, rb, robustmpc"],
        ),
        "bad config key": ((*ok, "--config", conf), 2, ["c.toml", "[session]", "['rtt']"]),
        "too many chunks": ((*ok, "--chunks", 49), 2, ["n_chunks=49", "48 chunks"]),
        "bad session": ((*ok, "--chunks", 3, "--session", 80), 2, ["session index 80", "0..79"]),
        "cut every alone": ((*ok, "--cut-every", 60), 2, ["--cut-every needs --cut"]),
        "bad cut": ((*ok, "--cut", 0), 2, ["length_s must be a finite number > 0"]),
    }


@pytest.mark.parametrize(
    "case",
    ["malformed trace line", "negative throughput", "empty trace", "missing traces", "ladder chunk counts",
     "unknown device", "unknown scheme", "bad config key", "too many chunks", "bad session", "cut every alone",
     "bad cut"],
)  # fmt: skip
def test_bad_input_is_one_clean_line_and_writes_nothing(tmp_path, case):
    args, code, words = _bad_cases(tmp_path)[case]
    out, report = tmp_path / "out.json", tmp_path / "r.html"
    out.write_text("previous\n")
    result = _evaluate(*args, "--json", out, "--report", report)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    for word in words:
        assert word in lines[0]
    assert out.read_text() == "previous\n" and not report.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_devices_and_schemes_list_the_registries():
    result = runner.invoke(app, ["playback", "devices", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [d.to_dict() for d in playback.DEVICES.values()]
    table = runner.invoke(app, ["playback", "devices"])
    assert (
        table.exit_code == 0 and all(name in table.output for name in playback.DEVICES) and "vmaf_phone" in table.output
    )

    result = runner.invoke(app, ["playback", "schemes", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == list(playback.SCHEMES)
    bba = next(r for r in rows if r["name"] == "bba")
    assert bba["config"] == {"reservoir_s": 5.0, "cushion_s": 10.0} and bba["offline"] is False
    table = runner.invoke(app, ["playback", "schemes"])
    assert table.exit_code == 0 and "robustmpc" in table.output and "online" in table.output


@pytest.mark.parametrize("command", [[], ["evaluate"], ["devices"], ["schemes"]])
def test_help(command):
    result = runner.invoke(app, ["playback", *command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command == ["evaluate"]:
        text = " ".join(result.output.split())
        for word in (
            "QoE_lin",
            "--traces",
            "--video",
            "--abr",
            "--device",
            "--chunks",
            "--config",
            "--report",
            "--session",
            "median QoE",
        ):
            assert word in text


def _write_traces(folder, traces):
    folder.mkdir()
    for t in traces:
        (folder / t.name).write_text("".join(f"{a} {b}\n" for a, b in zip(t.times_s, t.mbps, strict=True)))
    return folder


def test_fit_on_fits_the_marquee_scheme_on_other_traces_and_refuses_shared_ones(tmp_path):
    hsdpa = playback.load_traces("hsdpa_pensieve80")
    train = _write_traces(tmp_path / "train", hsdpa[:4])
    test = _write_traces(tmp_path / "test", hsdpa[4:7])
    out = tmp_path / "out.json"
    result = _evaluate("--traces", test, "--video", "envivio", "--abr", "marquee", "--chunks", 8, "--fit-on", train,
                       "--json", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "marquee fitted:" in result.output
    cfg = playback.SessionConfig(n_chunks=8)
    video = playback.load_video("envivio")
    fitted = playback.StochasticMPC().fit(playback.load_traces(train), video, cfg)
    want = playback.simulate(playback.load_traces(test), video, fitted, cfg).summary()
    assert json.loads(out.read_text())[0]["qoe_per_chunk"] == pytest.approx(want["qoe_per_chunk"])
    out.unlink()
    shared = _evaluate("--traces", test, "--video", "envivio", "--abr", "marquee", "--chunks", 8, "--fit-on", test,
                       "--json", out)  # fmt: skip
    assert shared.exit_code == 2 and "shares 3 trace(s) with --traces" in shared.output
    assert not out.exists()
