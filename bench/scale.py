"""Beyond one process: batch scoring speed by engine, the precomputed tier's cost, and overload with priorities.

1. **Batch scoring**: every member of ml-100k-fit with SASRec (``sasrec@production`` in the bench-serving home that
   bench/serving.py prepares), top 100, through :func:`marquee.scale.batch_score`: ``serial`` (one process, one
   thread), ``process`` and ``ray`` (Ray Data) with 1 and 2 workers, side by side in one run, every member scored
   20 times (943 members alone take less than the engines' set-up), then serial, process x2 and ray x2 again with
   every member scored 100 times (a longer job, where the engines' fixed start-up weighs less). Ray's start-up is
   excluded (a cluster is already up in production); each engine's worker start-up and model loading are included.
2. **Precomputed tier**: CPU per answer of the router's precomputed path (lookup and answer), over 200,000 calls.
3. **Overload with priorities**: ``marquee serve`` (heavy SASRec, light student, the precomputed table; one server
   with the heavy tier's batch thread at ``SCHED_IDLE``, one at nice 10, the default) pinned to
   CPU 0; wrk on CPU 1. The heavy tier's capacity is its closed-loop throughput at 64 connections; then 2x and 4x
   that is offered, half ``critical`` and half ``prefetch`` (two wrk processes, 128 connections each, pacing
   calibrated to the target), budget 50 ms, ``auto``. Per priority: answered, shed (429), the tiers that answered,
   server-side latency past the budget (the answer's ``latency_ms``, counted from arrival in the handler) and
   client-side percentiles.

4. **Ray Serve vs one process**: the same service (heavy SASRec, light student; no precomputed table) as
   ``marquee serve`` and as ``marquee serve --ray`` (one ingress replica, one heavy replica: on one core more
   replicas only share it), with and without Ray's throughput mode, each pinned to CPU 0 with everything it starts
   (Ray's GCS, raylet, proxy, controller and replicas inherit the pinning); wrk on CPU 1, closed loop: ``auto``
   within 50 ms at 4 and 32 connections, then ``heavy`` with no budget at 32. Throughput, client-side p50/p99,
   which tier answered, and CPU per request (user + system time of the server's whole process tree over the
   run / requests).
5. **Ray Serve under faults** (:func:`ray_faults`): promotion, rollback and a killed heavy replica under load.

Writes bench/results/scale.json and the ``scale`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, tree_cpu_seconds, write_section
from search_endpoint import BENCH_HOME
from serving import LOAD_CPU, Server, free_port

BUDGET_MS = 50.0
MODEL = "sasrec@production"
#: Every member is scored this many times: 943 members alone take under a second, less than the engines' set-up.
PASSES = 20
#: A longer job (94,300 scorings, the size of a 100k-member service): the engines' fixed start-up spread thinner.
LONG_PASSES = 100
#: Members per block: one recommend_index call, one Ray Data batch.
BLOCK = 512

LUA = r"""
local members = {%(members)s}
local priority, budget, mode, pause = "%(priority)s", %(budget)s, "%(mode)s", %(delay)s
local threads = {}
local i = 0
function setup(thread) table.insert(threads, thread) end
function init(args) i = math.random(#members); served, statuses, late = {}, {}, {} end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  i = i %% #members + 1
  local body = string.format('{"member_id":%%d,"k":10,"latency_budget_ms":%%s,"model":"%%s","priority":"%%s"}', members[i], budget, mode, priority)
  return wrk.format(nil, "/v1/recommendations", nil, body)
end
if pause > 0 then function delay() return pause end end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 200 then return end
  local used = body:match('"model_used":"(%%a+)"') or "?"
  served[used] = (served[used] or 0) + 1
  local ms = tonumber(body:match('"latency_ms":([%%d%%.]+)')) or 0
  if ms > budget then
    local reason = body:match('"fallback_reason":"([%%a_]+)"') or "none"
    late["n"] = (late["n"] or 0) + 1; late[used] = (late[used] or 0) + 1; late["reason:" .. reason] = (late["reason:" .. reason] or 0) + 1
  end
end
local function encode(t)
  local parts = {}
  for key, v in pairs(t) do table.insert(parts, string.format('"%%s":%%s', tostring(key), tostring(v))) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local function merge(name)
  local out = {}
  for _, thread in ipairs(threads) do for key, v in pairs(thread:get(name) or {}) do out[key] = (out[key] or 0) + v end end
  return out
end
function done(summary, latency, requests)
  local e = summary.errors
  local lat = {}
  for _, p in ipairs({50, 99, 99.9}) do lat["p" .. p] = latency:percentile(p) end
  lat["max"] = latency.max
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"socket_errors":%%d,"latency_us":%%s,"served":%%s,"statuses":%%s,"late":%%s}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, encode(lat), encode(merge("served")),
    encode(merge("statuses")), encode(merge("late"))))
end
"""


def batch(home: Path, tmp: Path, measure: bool = True) -> tuple[list[dict[str, Any]], Path]:
    from marquee.scale import batch_score
    from marquee.serve.precomputed import write_precomputed

    runs, table = [], None
    plan = [(e, w, PASSES) for e, w in (("serial", 1), ("process", 1), ("process", 2), ("ray", 1), ("ray", 2))]
    plan += [(e, w, LONG_PASSES) for e, w in (("serial", 1), ("process", 2), ("ray", 2))]
    if not measure:  # only the table the later sections serve
        plan = [("serial", 1, 1)]
    for engine, workers, passes in plan:
        r = batch_score(home / "registry", MODEL, 100, engine=engine, workers=workers, block=BLOCK, passes=passes)
        print(f"  {engine:>7} x{workers}: {r.provenance['members']} members in {r.seconds:.2f} s = {r.members_per_s:,.0f} members/s", flush=True)
        runs.append({"engine": engine, "workers": workers, "passes": passes, "members": r.provenance["members"], "seconds": r.seconds,
                     "members_per_s": r.members_per_s})  # fmt: skip
        if table is None:
            table = write_precomputed(tmp / "precomputed", r.table, r.provenance)
    return runs, table  # type: ignore[return-value]


def precomputed_cpu(path: Path) -> dict[str, Any]:
    from marquee.rank import MostPopular
    from marquee.serve.precomputed import Precomputed
    from marquee.serve.router import Router
    from marquee.testing import block_interactions

    pre = Precomputed.load(path)
    router = Router(MostPopular().fit(block_interactions()))
    router.precomputed = pre
    members = [m.item() if hasattr(m, "item") else m for m in pre.members.ids]
    n = 200_000
    t0 = time.process_time()
    for i in range(n):
        router._precomputed_answer(members[i % len(members)], 10, "no_model", False, 0.0)
    cpu_us = (time.process_time() - t0) / n * 1e6

    async def full() -> float:  # the whole router call with no online tier: plan, lookup, answer
        t = time.process_time()
        for i in range(n // 4):
            await router.recommend(members[i % len(members)], 10)
        return (time.process_time() - t) / (n // 4) * 1e6

    return {"lookup_answer_us": cpu_us, "router_us": asyncio.run(full()), "members": len(pre), "staleness_s": pre.staleness_s()}


def wrk(url: str, script: Path, connections: int, seconds: float) -> dict[str, Any]:
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{max(round(seconds), 1)}s", "--timeout", "5s", "-s", str(script), url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)  # type: ignore[return-value]


def result(proc: subprocess.Popen) -> dict[str, Any]:
    out = proc.communicate(timeout=300)[0]
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    n = r["requests"]
    return {"requests": n, "rps": n / (r["duration_us"] / 1e6), "ok": r["statuses"].get("200", 0), "shed": r["statuses"].get("429", 0),
            "other": n - r["statuses"].get("200", 0) - r["statuses"].get("429", 0), "socket_errors": r["socket_errors"],
            "served": r["served"], "late": r["late"].get("n", 0), "late_by_tier": {t: v for t, v in r["late"].items() if t != "n" and not t.startswith("reason:")},
            "late_by_reason": {t.split(":", 1)[1]: v for t, v in r["late"].items() if t.startswith("reason:")}, "p50_ms": r["latency_us"]["p50"] / 1000, "p99_ms": r["latency_us"]["p99"] / 1000,
            "p999_ms": r["latency_us"]["p99.9"] / 1000, "max_ms": r["latency_us"]["max"] / 1000}  # fmt: skip


def script(tmp: Path, members: list[int], priority: str, mode: str, budget: float, delay: float) -> Path:
    p = tmp / f"{priority}-{mode}-{budget}-{delay:.3f}.lua"
    p.write_text(LUA % {"members": ",".join(map(str, members)), "priority": priority, "budget": budget, "mode": mode, "delay": round(delay, 3)})
    return p


def overload(home: Path, table: Path, tmp: Path, seconds: float, heavy_priority: str = "idle") -> dict[str, Any]:
    from marquee.cli._common import load_dataset

    members = [int(m) for m in load_dataset("ml-100k-fit", home).interactions.members.ids.tolist()]
    port = free_port()
    argv = [str(Path(sys.executable).parent / "marquee"), "serve", "--heavy", MODEL, "--light", "sasrec-student@production", "--dataset",
            "ml-100k-fit", "--home", str(home), "--port", str(port), "--precomputed", str(table), "--no-artwork", "--no-search", "--no-homepage",
            "--heavy-priority", heavy_priority]  # fmt: skip
    server = Server(f"scale-{heavy_priority}", argv, {}, port, tmp)
    out: dict[str, Any] = {}
    try:
        warm = wrk(server.url, script(tmp, members, "critical", "heavy", 60_000, 0), 16, 2)
        result(warm)
        cap = result(wrk(server.url, script(tmp, members, "critical", "heavy", 60_000, 0), 64, seconds))
        out["heavy_capacity_rps"] = cap["rps"]
        print(f"  heavy capacity: {cap['rps']:,.0f} req/s (p99 {cap['p99_ms']:.1f} ms)", flush=True)
        for factor in (2, 4):
            target = factor * cap["rps"] / 2  # per priority
            c = 128
            pause = 1000 * c / target
            for _ in range(3):
                procs = {p: wrk(server.url, script(tmp, members, p, "auto", BUDGET_MS, pause), c, seconds) for p in ("critical", "prefetch")}
                runs = {p: result(proc) for p, proc in procs.items()}
                offered = sum(r["rps"] for r in runs.values())
                print(f"  {factor}x: offered {offered:,.0f} req/s (target {2 * target:,.0f}); " + "; ".join(
                    f"{p}: ok {r['ok']} shed {r['shed']} late {r['late']} p99 {r['p99_ms']:.1f} ms served {r['served']}" for p, r in runs.items()), flush=True)  # fmt: skip
                if abs(offered / (2 * target) - 1) <= 0.1:
                    break
                in_flight = 1000 * c / (offered / 2) - pause
                pause = max(1000 * c / target - in_flight, 0.1)
            out[f"{factor}x"] = {"target_rps": 2 * target, "offered_rps": offered, **runs}
    finally:
        server.stop()
    return out


#: What the bench measures, in order (``--only`` picks some).
SECTIONS = ("batch", "precomputed", "overload", "ray_serve", "ray_faults")
#: The Ray Serve comparison's runs: (mode, budget ms, connections).
RAY_RUNS = {"auto, 50 ms budget, 4 connections": ("auto", BUDGET_MS, 4), "auto, 50 ms budget, 32 connections": ("auto", BUDGET_MS, 32),
            "heavy, no budget, 32 connections": ("heavy", 60_000, 32)}  # fmt: skip


def ray_vs_one_process(home: Path, tmp: Path, seconds: float) -> dict[str, Any]:
    from marquee.cli._common import load_dataset

    members = [int(m) for m in load_dataset("ml-100k-fit", home).interactions.members.ids.tolist()]
    out: dict[str, Any] = {}
    ray = ["--ray", "--heavy-replicas", "1"]
    for kind, extra, env in (("one process", [], {}), ("Ray Serve", ray, {}), ("Ray Serve, throughput mode", ray, {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"})):
        port = free_port()
        argv = [str(Path(sys.executable).parent / "marquee"), "serve", "--heavy", MODEL, "--light", "sasrec-student@production", "--dataset",
                "ml-100k-fit", "--home", str(home), "--port", str(port), "--no-artwork", "--no-search", "--no-homepage", *extra]  # fmt: skip
        server = Server(kind.replace(" ", "-").replace(",", "").lower(), argv, env, port, tmp)
        runs: dict[str, Any] = {}
        try:
            result(wrk(server.url, script(tmp, members, "critical", "auto", BUDGET_MS, 0), 16, 3))  # warm-up
            for run, (mode, budget, connections) in RAY_RUNS.items():
                cpu0 = tree_cpu_seconds(server.proc.pid)
                r = result(wrk(server.url, script(tmp, members, "critical", mode, budget, 0), connections, seconds))
                r["cpu_ms_per_request"] = 1000 * (tree_cpu_seconds(server.proc.pid) - cpu0) / max(r["requests"], 1)
                runs[run] = r
                print(f"  {kind}, {run}: {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                      f"{r['cpu_ms_per_request']:.2f} CPU ms/request, served {r['served']}, other {r['other']}", flush=True)  # fmt: skip
        finally:
            server.stop(60)  # Ray Serve shuts down on SIGTERM: give it time
        out[kind] = runs
    return out


#: The fault run's clients and budget: within what Ray Serve answers on one core, so the heavy tier answers
#: most requests and a version change shows in them.
FAULT_CLIENTS, FAULT_BUDGET_MS, FAULT_PHASE_S = 2, 200.0, 8.0


def ray_faults(home: Path, tmp: Path, phase_s: float = FAULT_PHASE_S, recover_s: float = 90.0) -> dict[str, Any]:
    """``marquee serve --ray`` under steady load from :data:`FAULT_CLIENTS` client threads: a promotion of
    ``sasrec`` to version 2 after ``phase_s``, a rollback ``phase_s`` later, then a SIGKILL of the heavy replica's
    process (as the kernel's OOM killer would), and the load goes on until the heavy tier answers again (at most
    ``recover_s``) and ``phase_s`` more. Every answer is kept with its time, status, tier and version."""
    import shutil
    import signal
    import threading

    import httpx

    run_home = tmp / "faults-home"
    for part in ("datasets", "registry"):  # a copy: the alias moves stay out of the bench home
        shutil.copytree(home / part, run_home / part)
    from marquee.serve.registry import ModelRegistry

    reg = ModelRegistry(run_home / "registry")
    if reg.alias("sasrec", "production") != 1 or len(reg.versions("sasrec")) < 2:
        raise SystemExit(f"{home}: the fault runs need sasrec:1 in production and a sasrec:2 (bench/serving.py registers both)")
    port = free_port()
    argv = [str(Path(sys.executable).parent / "marquee"), "serve", "--ray", "--heavy-replicas", "1", "--heavy", MODEL, "--light",
            "sasrec-student@production", "--dataset", "ml-100k-fit", "--home", str(run_home), "--port", str(port), "--no-artwork",
            "--no-search", "--no-homepage"]  # fmt: skip
    token = "bench-token"
    server = Server("ray-faults", argv, {"MARQUEE_ADMIN_TOKEN": token}, port, tmp)
    members = [int(m) for m in reg.load("sasrec-student:1")[1].members_.ids[:500].tolist()]
    answers: list[tuple[float, int, str, str, str | None]] = []
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(base_url=server.url, timeout=30.0) as c:
            while not stop.is_set():
                t = time.monotonic()
                try:
                    r = c.post("/v1/recommendations", json={"member_id": members[int(rng.integers(len(members)))], "k": 10,
                                                            "latency_budget_ms": FAULT_BUDGET_MS})  # fmt: skip
                    b = r.json() if r.status_code == 200 else {}
                    answers.append((t, r.status_code, b.get("model_used", "-"), b.get("model_version", "-"), b.get("fallback_reason")))
                except httpx.HTTPError as exc:
                    answers.append((t, 0, "-", "-", type(exc).__name__))

    events: dict[str, float] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=30.0, headers={"Authorization": f"Bearer {token}"}) as admin:
            threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(FAULT_CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(phase_s)
            events["promote"] = time.monotonic()
            assert admin.post("/admin/models/promote", json={"name": "sasrec", "version": 2}).status_code == 200
            time.sleep(phase_s)
            events["rollback"] = time.monotonic()
            assert admin.post("/admin/models/rollback", json={"name": "sasrec"}).status_code == 200
            time.sleep(phase_s)
            victims = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith("ray::ServeReplica:marquee:heavy")]
            events["kill"] = time.monotonic()
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            time.sleep(1.0)
            while time.monotonic() - events["kill"] < recover_s and not any(a[0] > events["kill"] + 1.0 and a[2] == "heavy" for a in answers[-50:]):
                time.sleep(0.5)
            time.sleep(phase_s)
            stop.set()
            for t in threads:
                t.join(timeout=60)
    finally:
        stop.set()
        server.stop(60)
    answers.sort()

    def first_after(event: str, version: str, after_s: float = 0.0) -> float | None:
        hits = [t for t, status, used, v, _ in answers if t >= events[event] + after_s and used == "heavy" and v == version]
        return hits[0] - events[event] if hits else None

    def window(a: str, b: str | None) -> dict[str, Any]:
        end = events[b] if b else float("inf")
        part = [x for x in answers if events[a] <= x[0] < end]
        return {"requests": len(part), "not_2xx": sum(1 for x in part if x[1] != 200),
                "by": {k: sum(1 for x in part if f"{x[2]} {x[3]}" == k) for k in sorted({f"{x[2]} {x[3]}" for x in part})}}

    out = {"seconds": answers[-1][0] - answers[0][0] if answers else 0.0, "clients": FAULT_CLIENTS, "budget_ms": FAULT_BUDGET_MS, "killed_replicas": len(victims), "requests": len(answers),
           "not_2xx": sum(1 for a in answers if a[1] != 200), "lost": sum(1 for a in answers if a[1] == 0),
           "promote_to_v2_s": first_after("promote", "sasrec:2"), "rollback_to_v1_s": first_after("rollback", "sasrec:1"),
           "heavy_again_after_kill_s": first_after("kill", "sasrec:1", 0.5),  # sent after the replica was surely gone
           "after_promote": window("promote", "rollback"), "after_rollback": window("rollback", "kill"), "after_kill": window("kill", None),
           "fallbacks": {k: sum(1 for a in answers if a[4] == k) for k in sorted({a[4] for a in answers if a[4]})}}  # fmt: skip
    print(f"  faults: {out['requests']:,} requests, {out['not_2xx']} not 2xx; v2 answers {out['promote_to_v2_s']} s after promotion, "
          f"v1 {out['rollback_to_v1_s']} s after rollback, heavy again {out['heavy_again_after_kill_s']} s after the kill; "
          f"fallbacks {out['fallbacks']}", flush=True)  # fmt: skip
    return out


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def report(res: dict[str, Any]) -> str:
    serial = {r.get("passes", PASSES): r["members_per_s"] for r in res["batch"] if r["engine"] == "serial"}
    stamps = res.get("sections_generated", {})
    when = res["generated"] if len(set(stamps.values())) <= 1 else "; ".join(f"{k} {v}" for k, v in stamps.items())
    lines = [f"Run {when} on {res['machine']['cpu']} ({res['machine']['cores']} cores).", "",
             f"**Batch scoring** (the 943 members of ml-100k-fit scored {PASSES} times, and {LONG_PASSES} times for a longer job; SASRec `{MODEL}`, "
             "top 100; Ray's start excluded; worker start-up and model loading included; ratios against the serial path at the same length):", "",
             "| engine | workers | member scorings | seconds | members/s | vs serial |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["batch"]:
        base = serial.get(r.get("passes", PASSES))
        ratio = f"{r['members_per_s'] / base:.2f}x" if base else "-"
        lines.append(f"| {r['engine']} | {r['workers']} | {r['members']:,} | {r['seconds']:.2f} | {r['members_per_s']:,.0f} | {ratio} |")
    p = res["precomputed"]
    lines += ["", f"**Precomputed tier**: {p['lookup_answer_us']:.1f} us of CPU per answer (lookup and answer), {p['router_us']:.1f} us "
              f"through the whole router call with no online tier ({p['members']:,} members; target under 50 us).", ""]  # fmt: skip
    runs = [("idle", res["overload"])] + ([("low (nice 10, the default)", res["overload_low"])] if "overload_low" in res else [])
    capacity = "; ".join(f"{label.split(' ')[0]} {o['heavy_capacity_rps']:,.0f} req/s" for label, o in runs)
    lines += [f"**Overload** (one server per `--heavy-priority` of the heavy tier's batch thread; each server's heavy capacity, its "
              f"closed-loop throughput at 64 connections: {capacity}; 2x and 4x are of that; budget {BUDGET_MS:.0f} ms; half the offered "
              "load critical, half prefetch):", "",
              "| heavy thread | load | priority | offered req/s | answered (2xx) | shed (429) | other | past budget (server) | p50 ms | p99 ms | p99.9 ms | max ms | answered by |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (label, o), f, pr in ((run, f, pr) for run in runs for f in ("2x", "4x") for pr in ("critical", "prefetch")):
        r = o[f][pr]
        served = ", ".join(f"{k} {v:,}" for k, v in sorted(r["served"].items()))
        late = f"{r['late']:,}" + (" (" + ", ".join(f"{k} {v:,}" for k, v in sorted(r["late_by_tier"].items())) + "; reason "
                                   + ", ".join(f"{k} {v:,}" for k, v in sorted(r.get("late_by_reason", {}).items())) + ")" if r["late"] else "")
        lines.append(f"| {label} | {f} | {pr} | {r['rps']:,.0f} | {r['ok'] / max(r['requests'], 1):.2%} | {r['shed']:,} | {r['other'] + r['socket_errors']:,} | "
                     f"{late} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} | {r['max_ms']:.1f} | {served} |")  # fmt: skip
    rs = res.get("ray_serve")
    if rs:
        one = rs["one process"]
        lines += ["", "**Ray Serve vs one process** (the same service and models, no precomputed table; each server pinned to one core "
                  "with every process it starts, wrk on the other; closed loop; Ray Serve with one ingress and one heavy replica, "
                  "access logs off; throughput mode = `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`; CPU = the server's whole process tree):", "",
                  "| run | server | req/s | vs one process | p50 ms | p99 ms | CPU ms/request | answered by | not 2xx |",
                  "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for run in RAY_RUNS:
            for kind, runs in rs.items():
                r = runs[run]
                served = ", ".join(f"{k} {v / max(r['ok'], 1):.0%}" for k, v in sorted(r["served"].items()))
                lines.append(f"| {run} | {kind} | {r['rps']:,.0f} | {r['rps'] / one[run]['rps']:.2f}x | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                             f"{r['cpu_ms_per_request']:.2f} | {served} | {r['other'] + r['socket_errors']:,} |")  # fmt: skip
    f = res.get("ray_faults")
    if f:
        lines += ["", f"**Ray Serve under faults** ({f['clients']} client threads for {f['seconds']:.0f} s, `auto` within "
                  f"{f['budget_ms']:.0f} ms, one heavy replica; promotion of sasrec to version 2, rollback, then SIGKILL of the heavy replica's "
                  f"process, each {FAULT_PHASE_S:.0f} s apart): {f['requests']:,} requests, **{f['not_2xx']} not answered 2xx** ({f['lost']} lost). Version 2 answered "
                  f"{_s(f['promote_to_v2_s'])} after the promotion, version 1 {_s(f['rollback_to_v1_s'])} after the rollback; after the kill "
                  f"the heavy tier answered again {_s(f['heavy_again_after_kill_s'])} later (Serve replaced the replica). "
                  f"Answers by tier and version: after the promotion {_by(f['after_promote'])}; after the rollback "
                  f"{_by(f['after_rollback'])}; after the kill {_by(f['after_kill'])}. Fallback reasons: "
                  + (", ".join(f"{k} {v:,}" for k, v in f["fallbacks"].items()) or "none") + "."]  # fmt: skip
    return "\n".join(lines)


def _s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.1f} s"


def _by(window: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in window["by"].items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=BENCH_HOME, help="The bench-serving home (bench/serving.py prepares it).")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--only", action="append", choices=SECTIONS, help="Run only these sections (repeatable); the others are kept from "
                    "the last run's bench/results/scale.json, each section stamped with when it ran.")
    ap.add_argument("--report-only", action="store_true", help="Write the BENCHMARKS.md section from bench/results/scale.json; measure nothing.")
    args = ap.parse_args()
    if args.report_only:
        write_section("scale", "Scale: batch scoring, precomputed tier, overload, Ray Serve (bench/scale.py)",
                      report(json.loads((ROOT / "bench" / "results" / "scale.json").read_text())))
        return
    if not (args.home / "registry").exists():
        raise SystemExit(f"{args.home} has no registry: run python bench/serving.py first (it trains and registers the models)")
    only = set(args.only or SECTIONS)
    path = ROOT / "bench" / "results" / "scale.json"
    res: dict[str, Any] = json.loads(path.read_text()) if args.only and path.exists() else {}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        table = None
        if "batch" in only or "precomputed" in only or "overload" in only:
            print("batch scoring", flush=True)
            runs, table = batch(args.home, tmp, measure="batch" in only)
            if "batch" in only:
                res["batch"] = runs
        if "precomputed" in only:
            print("precomputed tier", flush=True)
            res["precomputed"] = precomputed_cpu(table)  # type: ignore[arg-type]
        if "overload" in only:
            print("overload", flush=True)
            res["overload"] = overload(args.home, table, tmp, args.seconds)  # type: ignore[arg-type]
            print("overload, the heavy thread at nice 10", flush=True)
            res["overload_low"] = overload(args.home, table, tmp, args.seconds, heavy_priority="low")  # type: ignore[arg-type]
        if "ray_serve" in only:
            print("Ray Serve vs one process", flush=True)
            res["ray_serve"] = ray_vs_one_process(args.home, tmp, args.seconds)
        if "ray_faults" in only:
            print("Ray Serve under faults", flush=True)
            res["ray_faults"] = ray_faults(args.home, tmp)
    res["generated"] = now
    res.setdefault("sections_generated", {}).update({name: now for name in only})
    res["machine"] = machine("ray")
    text = report(res)
    print(text)
    if not args.no_write:
        path.write_text(json.dumps(res, indent=2, default=float) + "\n")
        write_section("scale", "Scale: batch scoring, precomputed tier, overload, Ray Serve (bench/scale.py)", text)


if __name__ == "__main__":
    main()
