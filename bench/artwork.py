"""Load benchmark of the artwork endpoints: ``marquee serve`` on MovieLens-100K, driven by wrk.

The server (``marquee serve --heavy '' --light ''``: artwork with the generated variants, the
durable SQLite decision log in a temporary directory) is pinned to CPU 0 and wrk to CPU 1. Each
wrk connection alternates ``POST /v1/artwork`` and ``POST /v1/feedback`` for the decision it was
just given, so half the requests are decisions and half are feedback, every one fsynced before
its answer. Runs: closed loop at 1/4/16 connections, then paced: 16 connections with exponential think times
(mean 15 ms), about 1,000 requests/s arriving independently.
Server CPU per request = the server process's CPU time (/proc, all threads) over the requests
answered: the figure that survives a noisy machine.

Writes bench/results/artwork.json and the ``artwork`` section of BENCHMARKS.md. Needs wrk and taskset, and MovieLens-100K in $MARQUEE_HOME
(``marquee data fetch movielens-100k``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _common import cpu_seconds, write_section

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

LUA = r"""
local pending = nil
local i = 0
local pause = %(delay)s
request = function()
  if pending then
    local body = string.format('{"decision_id":"%%s","reward":%%d}', pending, i %% 2)
    pending = nil
    return wrk.format("POST", "/v1/feedback", {["Content-Type"] = "application/json"}, body)
  end
  i = i + 1
  local devices = {"tv", "mobile", "web", "tablet"}
  local body = string.format('{"member_id":%%d,"title_id":%%d,"context":{"device":"%%s","local_hour":%%d}}',
    math.random(943), math.random(1682), devices[math.random(4)], math.random(0, 23))
  return wrk.format("POST", "/v1/artwork", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  local id = string.match(body, '"decision_id":"(%%x+)","member_id"')
  if id then pending = id end
end
-- Paced runs: an exponential think time per request (mean `pause` ms), so connections arrive
-- independently, as members do. A fixed pause lets connections fall into step: one group commit
-- answers a burst at once, its connections pause together and come back as the next burst.
if pause > 0 then delay = function() return math.floor(-math.log(1 - math.random()) * pause + 0.5) end end
"""


def wrk(url: str, connections: int, seconds: int, delay_ms: int, script: Path) -> dict:
    script.write_text(LUA % {"delay": delay_ms})
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ms = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    lat = {p: float(v) * ms[u] for p, v, u in re.findall(r"\s(50|90|99)%\s+([\d.]+)(us|ms|s)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "connections": connections, "delay_ms": delay_ms, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)), "p50_ms": lat["50"], "p90_ms": lat["90"], "p99_ms": lat["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="Length of each run.")
    parser.add_argument("--policy", default="epsilon_greedy", help="Artwork policy served.")
    parser.add_argument("--report-only", action="store_true", help="re-render BENCHMARKS.md from bench/results/artwork.json; run nothing")
    args = parser.parse_args()
    if args.report_only:
        write_section("artwork", "Artwork decisions under load (bench/artwork.py)", table(json.loads((ROOT / "bench" / "results" / "artwork.json").read_text())))
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "decisions.sqlite"
        cmd = ["taskset", "-c", "0", str(BIN / "marquee"), "serve", "--heavy", "", "--light", "", "--port", str(port),
               "--artwork-log", str(log), "--artwork-policy", args.policy, "--log-level", "warning"]  # fmt: skip
        server = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("the server did not start")
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            wrk(url, 4, 2, 0, Path(tmp) / "warm.lua")
            runs = []
            for connections, delay in ((1, 0), (4, 0), (16, 0), (16, 15)):
                before = cpu_seconds(server.pid)
                run = wrk(url, connections, args.seconds, delay, Path(tmp) / "load.lua")
                run["server_cpu_ms_per_request"] = 1000 * (cpu_seconds(server.pid) - before) / max(run["requests"], 1)
                runs.append(run)
                print(json.dumps(run), flush=True)
        finally:
            server.kill()
            server.wait()
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "policy": args.policy, "seconds": args.seconds, "runs": runs,
    }  # fmt: skip
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "artwork.json").write_text(json.dumps(result, indent=2) + "\n")
    write_section("artwork", "Artwork decisions under load (bench/artwork.py)", table(result))
    best = max(runs, key=lambda r: r["requests_per_s"])
    print(f"peak={best['requests_per_s']:.0f} req/s at {best['connections']} connections, p99 {best['p99_ms']:.1f} ms")


def table(result: dict) -> str:
    """The BENCHMARKS.md section: one row per run."""
    lines = [
        f"`marquee serve` with the {result['policy']} artwork policy, server pinned to one core, wrk to the other; each "
        f"connection alternates a decision and its feedback, each fsynced before the answer; {result['seconds']} s per run.",
        "",
        "| load | req/s | p50 ms | p90 ms | p99 ms | server CPU ms/request | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        load = f"{r['connections']} connection" + ("s" if r["connections"] > 1 else "") + (f", paced (think time exponential, mean {r['delay_ms']} ms)" if r["delay_ms"] else "")
        lines.append(
            f"| {load} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} "
            f"| {r['server_cpu_ms_per_request']:.3f} | {r['non_2xx']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
