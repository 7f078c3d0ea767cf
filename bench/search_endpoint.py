"""Load check of ``GET /v1/search``: the real server (``marquee serve``) pinned to one core, 16 connections.

The server runs on CPU 0 (``taskset``) on 127.0.0.1 at a free port; this process drives it from CPU 1 with
``--connections`` asyncio workers, each holding one httpx keep-alive connection and sending its next request
as soon as the last is answered, for ``--seconds`` after a short warm-up. Queries are typed as members type
them: 2-6 character prefixes of MovieLens titles, the first word, whole titles with one typo (a substitution,
deletion or transposition), and two-word prefixes ("star tr"); 80% carry a known member id, 20% none.
Latency is client-side (request sent to response read, connection reused); the server's own per-search time
comes from its Prometheus histogram.

The light tier (``--light``, default the distilled student that bench/serving.py registers in ``--home``)
ranks members, as in ``make run``; without that home, EASE fitted at start on MovieLens-100K.

Writes bench/results/search_endpoint.json and the ``search-endpoint`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section

BIN = Path(sys.executable).parent
SERVER_CPU, LOAD_CPU = 0, 1
BENCH_HOME = Path.home() / ".cache" / "marquee" / "bench-serving"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path | None, dataset: str, light: str, log: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """``marquee serve`` (light tier only, then ``options``) pinned to CPU 0 at a free port, once it answers /healthz."""
    port = free_port()
    argv = ["taskset", "-c", str(SERVER_CPU), str(BIN / "marquee"), "serve", "--heavy", "", "--light", light, "--dataset", dataset,
            "--port", str(port), "--log-level", "warning", *options, *(["--home", str(home)] if home else [])]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MARQUEE_ADMIN_TOKEN"}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the server did not start in 180 s; see {log}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def typo(word: str, rng: random.Random) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("sub", "del", "swap"))
    if kind == "sub":
        return word[:i] + rng.choice("aeioutnrs") + word[i + 1 :]
    if kind == "del":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def queries(titles: list[str], members: list[int], n: int, seed: int = 0) -> list[tuple[str, int | None]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        title = rng.choice(titles).split(" (")[0]
        words = title.split()
        kind = rng.random()
        if kind < 0.4:
            q = title[: rng.randint(2, 6)]
        elif kind < 0.55:
            q = words[0]
        elif kind < 0.85:
            q = " ".join(typo(w, rng) if len(w) >= 5 and j == 0 else w for j, w in enumerate(words))
        else:
            q = " ".join(words[:2])[: len(words[0]) + 3]
        out.append((q.strip() or title, rng.choice(members) if rng.random() < 0.8 else None))
    return out


async def drive(url: str, mix: list[tuple[str, int | None]], connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    personalized = [0]
    stop_at = time.perf_counter() + seconds

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=5.0, limits=httpx.Limits(max_connections=1)) as client:
            i = w
            while time.perf_counter() < stop_at:
                q, member = mix[i % len(mix)]
                i += connections
                params = {"q": q, "k": "10", **({"member_id": str(member)} if member is not None else {})}
                t0 = time.perf_counter()
                r = await client.get("/v1/search", params=params)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200 and r.json()["personalized"]:
                    personalized[0] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000.0
    return {
        "connections": connections, "seconds": round(elapsed, 2), "requests": len(latencies),
        "throughput_rps": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p90_ms": round(float(np.percentile(ms, 90)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "personalized_share": round(personalized[0] / max(len(latencies), 1), 3),
    }  # fmt: skip


def server_search_ms(url: str) -> dict:
    """Mean server-side search time from the Prometheus histogram, by personalised or not."""
    out: dict[str, dict[str, float]] = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("marquee_search_latency_seconds_") and ("_sum{" in line or "_count{" in line):
            name, value = line.rsplit(" ", 1)
            which = "personalized" if 'personalized="true"' in name else "anonymous"
            out.setdefault(which, {})["sum" if "_sum{" in name else "count"] = float(value)
    return {k: round(v["sum"] / v["count"] * 1000.0, 3) for k, v in out.items() if v.get("count")}


def report(res: dict) -> str:
    r, m = res["run"], res["machine"]
    return "\n".join([
        (f"`GET /v1/search` through `marquee serve` pinned to one core, {r['connections']} keep-alive connections "
        f"(httpx, asyncio, on another core) for {r['seconds']} s; ranker: {res['ranker']}; {res['n_titles']} titles. "
        f"Run {res['generated']} on {m['cpu']} ({m['cores']} cores, load {m['load_average']}), Python {m['python']}."),
        "",
        "| connections | requests | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) | personalised | server-side search (ms, mean) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {r['connections']} | {r['requests']:,} | {r['throughput_rps']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} "
        f"| {r['max_ms']:.1f} | {r['personalized_share']:.0%} | "
        + ", ".join(f"{k} {v:.2f}" for k, v in res["server_search_ms"].items()) + " |",
        "",
        (f"Target: p99 under 10 ms at 16 connections on one core — {'met' if r['p99_ms'] < 10 else 'NOT met'}. "
        f"Statuses: {r['statuses']}. Latency is client-side and includes queueing behind the other connections."),
    ])  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--home", type=Path, default=BENCH_HOME, help="MARQUEE_HOME with the light model (bench/serving.py's).")
    ap.add_argument("--light", default="sasrec-student@production")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("this check pins the server and the load to separate CPUs and needs two")
    os.sched_setaffinity(0, {LOAD_CPU})
    use_home = (args.home / "registry").exists()
    home, dataset, light = (args.home, "ml-100k-fit", args.light) if use_home else (None, "movielens-100k", "")
    from marquee.cli._common import load_dataset

    ds = load_dataset(dataset, home)
    titles = [n for n in ds.catalog.table.column("name").to_pylist() if n]
    members = ds.interactions.members.ids.tolist()
    mix = queries(titles, members, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        proc, url = start_server(home, dataset, light, Path(tmp) / "server.log", "--no-artwork")
        startup = time.perf_counter() - t0
        try:
            asyncio.run(drive(url, mix[:2000], args.connections, 2.0))  # warm-up
            httpx.get(f"{url}/metrics")
            run = asyncio.run(drive(url, mix, args.connections, args.seconds))
            server_ms = server_search_ms(url)
        finally:
            stop(proc)
            log = (Path(tmp) / "server.log").read_text()
    ranker = next((line.split("search ranked by ", 1)[1].strip() for line in log.splitlines() if "search ranked by " in line), "?")
    res = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine("httpx", "uvicorn"),
        "dataset": dataset, "n_titles": len(ds.catalog), "ranker": ranker, "server_start_s": round(startup, 1),
        "run": run, "server_search_ms": server_ms,
    }  # fmt: skip
    table = report(res)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "search_endpoint.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        write_section("search-endpoint", "Search endpoint (bench/search_endpoint.py)", table)


if __name__ == "__main__":
    main()
