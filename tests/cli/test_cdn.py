"""``marquee cdn replay``: the issue's exact JSON keys, a table, an HTML report, one-line errors, nothing half-written."""

import json

from typer.testing import CliRunner

from marquee import cdn
from marquee.cli.main import app

runner = CliRunner()


def test_replay_writes_json_and_report(tmp_path):
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    result = runner.invoke(app, ["cdn", "replay", "cache2k_web07", "--policy", "lru,fifo", "--cache-size", "0.1%,1%,10%",
                                 "--json", str(out), "--report", str(page)])
    assert result.exit_code == 0, result.output
    rows = json.loads(out.read_text())
    assert len(rows) == 6
    assert set(rows[0]) == {"policy", "cache_bytes", "requests", "miss_ratio", "byte_miss_ratio", "requests_per_s"}
    reqs = cdn.load_requests("cache2k_web07")
    lru_1 = next(r for r in rows if r["policy"] == "lru" and r["cache_bytes"] == reqs.cache_bytes("1%"))
    assert lru_1["miss_ratio"] == cdn.run(reqs, "lru", "1%").miss_ratio
    assert "<img" in page.read_text() and "miss ratio" in page.read_text()
    assert "lru" in result.output


def test_trace_file_with_format(tmp_path):
    reqs = cdn.load_requests("adapt_size")
    path = cdn.write_oracle_general(reqs.slice(0, 5000), tmp_path / "t.bin")
    result = runner.invoke(app, ["cdn", "replay", str(path), "--format", "oraclegeneral", "--policy", "lru",
                                 "--cache-size", "1MiB", "--json", str(tmp_path / "o.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "o.json").read_text())[0]["cache_bytes"] == 2**20


def test_errors_are_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "r.json"
    cut = tmp_path / "cut.bin"
    cut.write_bytes(b"\x00" * 30)
    cases = [
        (["cache2k_web07", "--policy", "lru,nosuch"], "unknown cache policy 'nosuch'"),
        (["cache2k_web07", "--cache-size", "0"], "at least 1 byte"),
        ([str(cut), "--format", "oraclegeneral"], "offset 24"),
        ([str(cut), "--format", "tarball"], "unknown --format"),
        ([str(cut)], "give --format"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["cdn", "replay", *args, "--json", str(out)])
        assert result.exit_code != 0
        assert message in result.output, result.output
        assert "Traceback" not in result.output
        assert not out.exists()


def test_policies_lists_the_registry():
    result = runner.invoke(app, ["cdn", "policies"])
    assert result.exit_code == 0 and "lru" in result.output and "fifo" in result.output
