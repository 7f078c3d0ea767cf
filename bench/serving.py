"""Load benchmark of the inference service: the real server on 127.0.0.1, driven by wrk.

The server is pinned to CPU 0 and wrk to CPU 1 (``taskset``), so the load generator never competes
with the server. Models are fitted on the train+validation part of MovieLens-100K's leave-one-out
split, so every answer can be scored against the member's held-out title: wrk's Lua script reads
each response and adds its NDCG@10 to the tier that served it (the "served mix" quality).

Runs, each bounded in time (``--seconds``, after a short warm-up):
  * the light model behind a plain FastAPI handler (bench/plain_fastapi.py) and behind Marquee's
    router, at 1/4/16/64 connections: the router's overhead as a measured ratio;
  * the light model with every request stating a device and hour, at 16 connections: the context
    stage (learned from a simulated log of the same data) re-ranks the tier's top 100;
  * heavy-only (micro-batched) and auto (50 ms budget) at 1/4/16/64 connections;
  * heavy-only with micro-batching off at 16 connections, two ways: batches of one on the worker
    thread (``--max-batch 1``) and the model inline on the event loop (``--max-batch 0``);
  * auto at twice the request rate heavy-only sustains with p99 within the budget (256 connections
    paced by wrk's ``delay``, recalibrated until the achieved rate is within 5% of the target);
  * promotion and rollback of both tiers through the admin API in the middle of a run.
Server CPU per request = the server process's CPU time (all threads, /proc) over the requests
answered in the run: the figure that survives a noisy machine.

Writes bench/results/serving.json and the section between the ``serving`` markers of BENCHMARKS.md.
Needs wrk (Debian: ``apt-get install wrk``) and taskset (util-linux).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from _common import cpu_seconds, write_section

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SERVER_CPU, LOAD_CPU = "0", "1"
TOKEN = "bench-token"
BUDGET_MS = 50.0
UNBOUNDED_MS = 60_000.0  # heavy-only runs: a budget that never forces a fallback

LUA = r"""
local members = {%(members)s}
local heldout = {%(heldout)s}
local mode, budget, k, pause, with_context = "%(mode)s", %(budget)s, %(k)d, %(delay)s, %(context)s
local devices = {"tv", "mobile", "web", "tablet"}
local threads = {}
local i = 0

function setup(thread) table.insert(threads, thread) end

function init(args)
  i = math.random(#members)
  served, gain, versions, statuses = {}, {}, {}, {}
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  i = i %% #members + 1
  local context = ""
  if with_context then
    context = string.format(',"context":{"device":"%%s","local_hour":%%d}', devices[i %% 4 + 1], (i * 7) %% 24)
  end
  local body = string.format('{"member_id":%%d,"k":%%d,"latency_budget_ms":%%s,"model":"%%s"%%s}', members[i], k, budget, mode, context)
  return wrk.format(nil, "/v1/recommendations", nil, body)
end

if pause > 0 then function delay() return pause end end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 then return end
  local used = body:match('"model_used":"(%%a+)"') or "?"
  local version = body:match('"model_version":"([^"]*)"') or "-"
  local target = heldout[tonumber(body:match('"member_id":(%%d+)'))]
  local g, rank = 0, 0
  for tid in body:gmatch('"title_id":(%%d+)') do
    rank = rank + 1
    if tonumber(tid) == target then g = 1 / (math.log(rank + 1) / math.log(2)) end
  end
  served[used] = (served[used] or 0) + 1
  gain[used] = (gain[used] or 0) + g
  versions[version] = (versions[version] or 0) + 1
end

local function encode(t)
  local parts = {}
  for key, v in pairs(t) do table.insert(parts, string.format('"%%s":%%s', tostring(key), tostring(v))) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function merge(name)
  local out = {}
  for _, thread in ipairs(threads) do
    for key, v in pairs(thread:get(name) or {}) do out[key] = (out[key] or 0) + v end
  end
  return out
end

function done(summary, latency, requests)
  local e = summary.errors
  local lat = {}
  for _, p in ipairs({50, 90, 99, 99.9}) do lat["p" .. p] = latency:percentile(p) end
  lat["max"], lat["mean"] = latency.max, latency.mean
  io.write(string.format(
    'RESULT {"requests":%%d,"duration_us":%%d,"socket_errors":%%d,"latency_us":%%s,"served":%%s,"gain":%%s,"versions":%%s,"statuses":%%s}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, encode(lat),
    encode(merge("served")), encode(merge("gain")), encode(merge("versions")), encode(merge("statuses"))))
end
"""


# ---- setup ------------------------------------------------------------------------------------
def prepare(home: Path, retrain: bool) -> dict[str, Any]:
    """Fit (or reuse) SASRec and two distilled students on train+validation; register them."""
    from marquee.data import Dataset, dataset_dir, leave_one_out
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.rank import SASRec
    from marquee.rank.distill import Distilled
    from marquee.serve import ModelRegistry

    full = fetch_movielens_100k()  # the shared cache, not the bench home
    split = leave_one_out(full.interactions)
    fit, holdout = split.stage("test")
    ds = Dataset("ml-100k-fit", fit, full.catalog, full.members, info={"source": "movielens-100k train+validation (bench/serving.py)"})
    ds.save(dataset_dir(ds.name, home))
    reg = ModelRegistry(home / "registry")
    fp = fit.fingerprint()
    have = [mv for mv in reg.versions("sasrec") if mv.data_fingerprint == fp] if not retrain else []
    if len(have) < 2 or len([mv for mv in reg.versions("sasrec-student") if mv.data_fingerprint == fp]) < 2:
        shutil.rmtree(home / "registry", ignore_errors=True)
        reg = ModelRegistry(home / "registry")
        print("fitting SASRec and two students on train+validation (about two minutes)", flush=True)
        teacher = SASRec().fit(fit).for_serving()
        provenance = {"data_fingerprint": fp, "split_fingerprint": split.fingerprint()}
        # Version 2 of each is what the promotion run swaps in: a retrained student, and the same
        # SASRec weights registered again (a new version all the same: loaded, verified, swapped).
        for _ in range(2):
            reg.register("sasrec", teacher, **provenance)
        for seed in (0, 1):
            reg.register("sasrec-student", Distilled(seed=seed).fit(fit, teacher=teacher), parent="sasrec:1", **provenance)
    if not [mv for mv in reg.versions("context") if mv.data_fingerprint == fp]:
        # MovieLens records no device or hour: the stage learns from a simulated log of a world
        # calibrated on the same data (as `make run` does), and re-ranks the MovieLens tiers.
        from marquee.rank import EASE, ContextReranker
        from marquee.sim import World

        log = World(n_members=2000, seed=0).fit(fit).log(seed=1)
        reg.register("context", ContextReranker(EASE()).fit(log).stage(), data_fingerprint=fp)
    for name in ("sasrec", "sasrec-student", "context"):
        if reg.aliases(name).get("production") != 1:
            reg.set_alias(name, "production", 1, actor="bench", reason="bench start")
    members = full.interactions.members.ids[holdout.member_idx]
    targets = full.interactions.titles.ids[holdout.title_idx[holdout.indptr[:-1]]]
    return {
        "members": members.tolist(),
        "heldout": dict(zip(members.tolist(), targets.tolist(), strict=True)),
        "student_path": str(reg.get("sasrec-student", 1).path),
        "split": split.fingerprint(),
    }


# ---- processes ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, logs: Path) -> None:
        self.name, self.port, self.url = name, port, f"http://127.0.0.1:{port}"
        self.log = (logs / f"{name}.log").open("w")
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *argv], env={**os.environ, **env}, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)  # fmt: skip
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{name} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"{name} did not start in 180 s; see {self.log.name}")

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self, wait_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``wait_s`` (a server on Ray Serve needs longer to take Serve and Ray down)."""
        self.proc.terminate()
        try:
            self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def marquee_server(name: str, home: Path, logs: Path, max_batch: int = 32) -> Server:
    port = free_port()
    argv = [str(BIN / "marquee"), "serve", "--heavy", "sasrec@production", "--light", "sasrec-student@production",
            "--dataset", "ml-100k-fit", "--home", str(home), "--port", str(port), "--max-batch", str(max_batch),
            "--context", "context@production"]  # fmt: skip
    return Server(name, argv, {"MARQUEE_ADMIN_TOKEN": TOKEN}, port, logs)


def plain_server(student_path: str, logs: Path) -> Server:
    port = free_port()
    argv = [str(BIN / "python"), "-m", "uvicorn", "bench.plain_fastapi:app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log", "--no-proxy-headers", "--no-server-header", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    return Server("plain-fastapi", argv, {"MARQUEE_BENCH_MODEL": student_path}, port, logs)


def wrk(server: Server, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{max(round(seconds), 1)}s", "--timeout", "5s", "-s", str(script), server.url]
    cpu0 = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    cpu1 = server.cpu_seconds()
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = json.loads(line[len("RESULT ") :])
    n = r["requests"]
    ok = r["statuses"].get("200", 0)
    return {
        "connections": connections,
        "requests": n,
        "rps": n / (r["duration_us"] / 1e6),
        "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
        "p999_ms": r["latency_us"]["p99.9"] / 1000, "max_ms": r["latency_us"]["max"] / 1000,
        "non_2xx": n - ok, "socket_errors": r["socket_errors"],
        "cpu_ms_per_request": 1000 * (cpu1 - cpu0) / max(n, 1),
        "served": r["served"], "ndcg_by_tier": {t: r["gain"][t] / c for t, c in r["served"].items() if c},
        "ndcg": sum(r["gain"].values()) / max(ok, 1), "versions": r["versions"],
    }  # fmt: skip


class Load:
    def __init__(self, data: dict[str, Any], tmp: Path) -> None:
        self.data, self.tmp = data, tmp

    def script(self, mode: str, budget: float, delay_ms: float = 0.0, k: int = 10, context: bool = False) -> Path:
        path = self.tmp / f"{mode}-{budget}-{delay_ms}-{context}.lua"
        path.write_text(LUA % {
            "members": ",".join(map(str, self.data["members"])),
            "heldout": ",".join(f"[{m}]={t}" for m, t in self.data["heldout"].items()),
            "mode": mode, "budget": budget, "k": k, "delay": round(delay_ms, 3), "context": "true" if context else "false",
        })  # fmt: skip
        return path

    def measure(
        self, server: Server, mode: str, budget: float, connections: int, seconds: float, delay_ms: float = 0.0, context: bool = False
    ) -> dict[str, Any]:
        script = self.script(mode, budget, delay_ms, context=context)
        wrk(server, script, connections, 1.0)  # warm-up: connections, caches, latency estimates
        r = wrk(server, script, connections, seconds)
        r.update(server=server.name, mode=mode, budget_ms=budget, delay_ms=delay_ms, context=context)
        print(
            f"{server.name:>15} {mode:>5} c={connections:<3} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f}  p99 {r['p99_ms']:6.2f}  "
            f"p99.9 {r['p999_ms']:6.2f} ms  cpu {r['cpu_ms_per_request']:.3f} ms/req  non-2xx {r['non_2xx']}  served {r['served']}",
            flush=True,
        )
        return r


def admin(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = httpx.post(f"{server.url}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    resp.raise_for_status()
    return resp.json()


def promotion_under_load(load: Load, server: Server, seconds: float) -> dict[str, Any]:
    """Promote version 2 of both tiers a third of the way in, roll both back at two thirds, while
    8 connections ask the light tier and 8 the heavy one."""
    procs = []
    for mode, budget in (("light", BUDGET_MS), ("heavy", UNBOUNDED_MS)):
        script = load.script(mode, budget)
        cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c8", f"-d{max(round(seconds), 1)}s", "--timeout", "5s", "-s", str(script), server.url]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    time.sleep(seconds / 3)
    moves = [admin(server, "/admin/models/promote", {"name": n, "version": 2, "reason": "bench"}) for n in ("sasrec-student", "sasrec")]
    time.sleep(seconds / 3)
    moves += [admin(server, "/admin/models/rollback", {"name": n, "reason": "bench"}) for n in ("sasrec-student", "sasrec")]
    result: dict[str, Any] = {"requests": 0, "failed": 0, "versions": {}, "moves": moves}
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        r = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])
        result["requests"] += r["requests"]
        result["failed"] += r["requests"] - r["statuses"].get("200", 0) + r["socket_errors"]
        for version, n in r["versions"].items():
            result["versions"][version] = result["versions"].get(version, 0) + n
    print(f"promotion under load: {result['requests']} requests, {result['failed']} failed, versions served {result['versions']}", flush=True)
    return result


# ---- report -----------------------------------------------------------------------------------
def _context_line(runs: list[dict[str, Any]], light: dict[str, Any]) -> list[str]:
    ctx = next((r for r in runs if r.get("context")), None)
    if ctx is None:  # results from before the context run existed
        return []
    return [
        f"- **Context stage** (light tier, 16 connections, every request with a device and hour, so the tier returns its top 100 "
        f"and the stage re-ranks them): {ctx['rps']:,.0f} req/s, p99 {ctx['p99_ms']:.2f} ms, {ctx['cpu_ms_per_request']:.3f} ms of server CPU "
        f"per request vs {light['cpu_ms_per_request']:.3f} without context (+{ctx['cpu_ms_per_request'] - light['cpu_ms_per_request']:.3f} ms)."
    ]


def report(results: dict[str, Any]) -> str:
    runs = results["runs"]

    def find(server: str, mode: str, c: int, context: bool = False) -> dict[str, Any]:
        return next(
            r for r in runs
            if r["server"] == server and r["mode"] == mode and r["connections"] == c and not r["delay_ms"] and r.get("context", False) == context
        )  # fmt: skip

    lines = [
        f"{results['machine']}; server pinned to CPU {SERVER_CPU}, wrk (1 thread) to CPU {LOAD_CPU}; {results['seconds']:.0f} s per run "
        f"after a 1 s warm-up; k = 10; members of the leave-one-out test split (`{results['split']}`), models fitted on train+validation.",
        "",
        "| server | mode | connections | req/s | p50 ms | p99 ms | p99.9 ms | server CPU ms/request | non-2xx | served (NDCG@10) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        mix = ", ".join(f"{t} {n} ({r['ndcg_by_tier'].get(t, 0):.3f})" for t, n in sorted(r["served"].items()))
        label = r["mode"] + (f" (budget {r['budget_ms']:.0f} ms)" if r["mode"] == "auto" else "")
        label += f", paced {r['delay_ms']:.1f} ms" if r["delay_ms"] else ""
        label += ", with context (re-ranked)" if r.get("context") else ""
        lines.append(
            f"| {r['server']} | {label} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['p999_ms']:.2f} "
            f"| {r['cpu_ms_per_request']:.3f} | {r['non_2xx'] + r['socket_errors']} | {mix} |"
        )
    light, plain = find("marquee", "light", 16), find("plain-fastapi", "light", 16)
    peak = {
        name: max((r for r in runs if r["server"] == name and r["mode"] == "light" and not r.get("context")), key=lambda r: r["rps"])
        for name in ("marquee", "plain-fastapi")
    }
    pm, pp = peak["marquee"], peak["plain-fastapi"]
    heavy, unbatched, inline = find("marquee", "heavy", 16), find("marquee-unbatched", "heavy", 16), find("marquee-inline", "heavy", 16)
    over = results["overload"]
    heavy_ndcg = heavy["ndcg"]
    p = results["promotion"]
    lines += [
        "",
        f"- **Light path**: peak throughput {pm['rps']:,.0f} req/s ({pm['connections']} connections, {pm['cpu_ms_per_request']:.3f} ms of server CPU "
        f"per request) vs {pp['rps']:,.0f} for the plain FastAPI handler ({pp['connections']} connections, {pp['cpu_ms_per_request']:.3f} ms): "
        f"**{pm['rps'] / pp['rps']:.2f}x**. At 16 connections: {light['cpu_ms_per_request']:.3f} vs {plain['cpu_ms_per_request']:.3f} ms of CPU "
        f"per request ({plain['cpu_ms_per_request'] / light['cpu_ms_per_request']:.1f}x less), {light['rps']:,.0f} vs {plain['rps']:,.0f} req/s "
        f"(Marquee's server busy {light['rps'] * light['cpu_ms_per_request'] / 1000:.0%} of its core there), p99 **{light['p99_ms']:.2f} ms**.",
        *_context_line(runs, light),
        f"- **Heavy path** (16 connections): micro-batched {heavy['rps']:,.0f} req/s vs {unbatched['rps']:,.0f} with batches of one on the "
        f"worker thread (**{heavy['rps'] / unbatched['rps']:.2f}x**; server CPU {heavy['cpu_ms_per_request']:.3f} vs "
        f"{unbatched['cpu_ms_per_request']:.3f} ms/request) and {inline['rps']:,.0f} with the model inline on the event loop "
        f"(**{heavy['rps'] / inline['rps']:.2f}x**; {inline['cpu_ms_per_request']:.3f} ms/request, but every other request waits while it computes).",
        f"- **Auto at {over['rps'] / results['heavy_capacity_rps']:.2f}x the heavy tier's capacity** ({over['rps']:,.0f} req/s answered, "
        f"{over['target_rps']:,.0f} targeted by {over['connections']} paced connections; "
        f"heavy-only sustains {results['heavy_capacity_rps']:,.0f} with p99 within the budget): p99 {over['p99_ms']:.2f} ms (budget {BUDGET_MS:.0f} ms), "
        f"p99.9 {over['p999_ms']:.2f} ms, {over['non_2xx'] + over['socket_errors']} non-2xx; served mix NDCG@10 {over['ndcg']:.4f} = "
        f"**{over['ndcg'] / heavy_ndcg:.1%}** of heavy-only ({heavy_ndcg:.4f}); mix {over['served']}.",
        f"- **Promotion and rollback under load** (both tiers to version 2 and back; 8 connections on each tier): {p['requests']:,} requests, "
        f"**{p['failed']} failed**; versions that answered: {p['versions']}.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "marquee" / "bench-serving", help="registry and data of the bench")
    parser.add_argument("--retrain", action="store_true", help="refit the models even if the bench registry has them")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md and bench/results alone")
    parser.add_argument("--report-only", action="store_true", help="re-render the table from bench/results/serving.json; run nothing")
    args = parser.parse_args()
    if args.report_only:
        write(report(json.loads((ROOT / "bench" / "results" / "serving.json").read_text())), None)
        return
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("this benchmark pins the server and wrk to separate CPUs and needs two")

    import onnxruntime
    import torch

    data = prepare(args.home, args.retrain)
    tmp = Path(tempfile.mkdtemp(prefix="marquee-bench-"))
    load = Load(data, tmp)
    conns = (1, 4, 16, 64)
    runs: list[dict[str, Any]] = []
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}",
        "seconds": args.seconds, "split": data["split"], "runs": runs,
    }  # fmt: skip
    server = plain_server(data["student_path"], tmp)
    try:
        runs += [load.measure(server, "light", BUDGET_MS, c, args.seconds) for c in conns]
    finally:
        server.stop()
    server = marquee_server("marquee", args.home, tmp)
    try:
        runs += [load.measure(server, "light", BUDGET_MS, c, args.seconds) for c in conns]
        runs.append(load.measure(server, "light", BUDGET_MS, 16, args.seconds, context=True))
        runs += [load.measure(server, "heavy", UNBOUNDED_MS, c, args.seconds) for c in conns]
        runs += [load.measure(server, "auto", BUDGET_MS, c, args.seconds) for c in conns]
        # What heavy-only sustains: its best throughput with p99 still within the budget.
        heavy_runs = [r for r in runs if r["server"] == "marquee" and r["mode"] == "heavy"]
        within = [r["rps"] for r in heavy_runs if r["p99_ms"] <= BUDGET_MS] or [heavy_runs[0]["rps"]]
        capacity = max(within)
        results["heavy_capacity_rps"] = capacity
        # Twice heavy's capacity, close to open loop: 256 connections, each pausing between its
        # requests so that together they offer 2x; as responses slow down a closed loop would offer
        # less, so the pause is recalibrated from the achieved rate until it is within 5% of target.
        target, c = 2 * capacity, 256
        pause = 1000 * c / target
        for _ in range(4):
            over = load.measure(server, "auto", BUDGET_MS, c, args.seconds, delay_ms=pause)
            if abs(over["rps"] / target - 1) <= 0.05:
                break
            in_flight_ms = 1000 * c / over["rps"] - pause
            pause = max(1000 * c / target - in_flight_ms, 0.1)
        over["target_rps"] = target
        runs.append(over)
        results["overload"] = over
        results["promotion"] = promotion_under_load(load, server, max(args.seconds * 2, 9.0))
    finally:
        server.stop()
    # Batching off, two ways: batches of one on the worker thread, and the model inline on the event loop.
    for name, max_batch in (("marquee-unbatched", 1), ("marquee-inline", 0)):
        server = marquee_server(name, args.home, tmp, max_batch=max_batch)
        try:
            runs.append(load.measure(server, "heavy", UNBOUNDED_MS, 16, args.seconds))
        finally:
            server.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    table = report(results)
    if args.no_write:
        print(table)
        return
    write(table, results)


def write(table: str, results: dict[str, Any] | None) -> None:
    """Print the table; store ``results`` (unless None) and the table's BENCHMARKS.md section."""
    print(table)
    if results is not None:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    write_section("serving", "Serving under load (bench/serving.py)", table)


if __name__ == "__main__":
    main()
