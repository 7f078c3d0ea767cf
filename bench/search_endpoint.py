"""Load check of ``GET /v1/search``: the real server (``marquee serve``) pinned to one core, 16 connections.

The server runs on CPU 0 (``taskset``) on 127.0.0.1 at a free port; wrk (one thread, pinned to CPU 1) holds
``--connections`` keep-alive connections, each sending its next request as soon as the last is answered, for
``--seconds`` after a warm-up on other queries. Queries are typed as members type them: 2-6 character prefixes
of MovieLens titles, the first word, whole titles with one typo (a substitution, deletion or transposition),
and two-word prefixes ("star tr"); 80% carry a known member id, 20% none. Titles and members are drawn
uniformly, so queries repeat less than in a real search log (whose head queries are most of its traffic):
the server's text-stage cache (``SearchConfig.cache_queries``) hits less than it would in production, and
its hit rate in the run is reported. The warm-up walks another list (drawn with another seed, so some queries
recur, as they would); the measured run sends its list in order and never wraps it.

Latency is wrk's (request written to response read, connection reused); the server's own per-search time
comes from its Prometheus histogram.

The light tier (``--light``, default the distilled student that bench/serving.py registers in ``--home``,
registered here first when missing: about two minutes) ranks members, as in ``make run``.

Needs wrk (Debian: ``apt-get install wrk``) and taskset (util-linux). Writes bench/results/search_endpoint.json
and the ``search-endpoint`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section

BIN = Path(sys.executable).parent
SERVER_CPU, LOAD_CPU = 0, 1
BENCH_HOME = Path.home() / ".cache" / "marquee" / "bench-serving"

# wrk's script: request paths from a file, in order (one counter per wrk thread, and one thread); statuses and the
# personalised answers counted; one RESULT line of JSON at the end.
LUA = r"""
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) i = 0; statuses = {}; personal = 0 end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body:find('"personalized":true', 1, true) then personal = personal + 1 end
end
function done(summary, latency, requests)
  local lat, st, pers = {}, {}, 0
  for _, p in ipairs({50, 90, 99, 99.9}) do lat[#lat + 1] = string.format('"p%%s":%%d', p, latency:percentile(p)) end
  lat[#lat + 1] = string.format('"max":%%d', latency.max)
  for _, t in ipairs(threads) do
    pers = pers + t:get("personal")
    for code, n in pairs(t:get("statuses")) do st[code] = (st[code] or 0) + n end
  end
  local parts = {}
  for code, n in pairs(st) do parts[#parts + 1] = string.format('"%%d":%%d', code, n) end
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%%d,"duration_us":%%d,"socket_errors":%%d,"latency_us":{%%s},"statuses":{%%s},"personalized":%%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, table.concat(lat, ","), table.concat(parts, ","), pers))
end
"""


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


def paths(mix: list[tuple[str, int | None]]) -> list[str]:
    return ["/v1/search?" + urlencode({"q": q, "k": "10", **({"member_id": str(m)} if m is not None else {})}) for q, m in mix]


def drive(url: str, mix: list[tuple[str, int | None]], connections: int, seconds: float, tmp: Path) -> dict:
    """wrk over ``mix`` (in order) for ``seconds``; latencies in ms."""
    listing, script = tmp / "paths.txt", tmp / "search.lua"
    listing.write_text("\n".join(paths(mix)) + "\n")
    script.write_text(LUA % {"paths": listing})
    cmd = ["taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{connections}", f"-d{max(round(seconds), 1)}s", "--timeout", "5s",
           "-s", str(script), url]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    r = json.loads(line[len("RESULT ") :])
    n, lat = r["requests"], r["latency_us"]
    return {
        "connections": connections, "seconds": round(r["duration_us"] / 1e6, 2), "requests": n,
        "throughput_rps": round(n / (r["duration_us"] / 1e6), 1), "p50_ms": lat["p50"] / 1000, "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000, "p999_ms": lat["p99.9"] / 1000, "max_ms": lat["max"] / 1000,
        "statuses": dict(sorted(r["statuses"].items())), "socket_errors": r["socket_errors"],
        "personalized_share": round(r["personalized"] / max(n, 1), 3),
    }  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of the server process (taskset execs marquee, so the pid is the server's)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def cache_counts(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics").text
    return {o: float(v) for o, v in re.findall(r'marquee_search_cache_total\{outcome="(\w+)"\} (\S+)', text)}


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
    m, runs = res["machine"], res["runs"]
    r0 = runs[0]["run"]
    rows = [
        f"| {c['cache_queries']:,} | {r['requests']:,} | {r['throughput_rps']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} "
        f"| {r['p99_ms']:.2f} | {r['p999_ms']:.2f} | {r['max_ms']:.1f} | {r['personalized_share']:.0%} | {c['cache_hit_rate']:.0%} | "
        f"{c['server_rss_mb']:,.0f} | "
        + ", ".join(f"{k} {v:.2f}" for k, v in c["server_search_ms"].items()) + " |"
        for c in runs for r in [c["run"]]
    ]  # fmt: skip
    default = next(c for c in runs if c["cache_queries"] == res["default_cache"])["run"]
    return "\n".join([
        (f"`GET /v1/search` through `marquee serve` pinned to one core, {r0['connections']} keep-alive connections "
        f"(wrk, one thread, on another core), {r0['seconds']} s per run; ranker: {res['ranker']}; {res['n_titles']} titles; "
        f"{res['queries']:,} queries in the list, none sent twice in a run. One server per row, started with "
        "`--search-cache N` (the default, then none). "
        f"Run {res['generated']} on {m['cpu']} ({m['cores']} cores, load {m['load_average']}), Python {m['python']}."),
        "",
        "| text-stage cache (queries) | requests | throughput (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | personalised | cache hits | server RSS after (MB) | server-side search (ms, mean) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        (f"Target: p99 under 10 ms at 16 connections on one core — {'met' if default['p99_ms'] < 10 else 'NOT met'} with the default "
        f"cache ({default['p99_ms']:.2f} ms). Statuses: {[c['run']['statuses'] for c in runs]}, socket errors: "
        f"{[c['run']['socket_errors'] for c in runs]}. Latency includes queueing behind the other connections. "
        "The cache hit rate is the server's (`marquee_search_cache_total`) over the measured run; titles and members are "
        "drawn uniformly, so queries repeat less than in a real search log. The servers' resident memory after the run "
        f"differs by {runs[0]['server_rss_mb'] - runs[-1]['server_rss_mb']:,.0f} MB: the text-stage cache, full or filling."),
    ])  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--home", type=Path, default=BENCH_HOME, help="MARQUEE_HOME with the light model (bench/serving.py's).")
    ap.add_argument("--light", default="sasrec-student@production")
    ap.add_argument("--queries", type=int, default=200_000, help="queries in the list wrk walks (more than the run sends)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("this check pins the server and the load to separate CPUs and needs two")
    os.sched_setaffinity(0, {LOAD_CPU})
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (Debian: apt-get install {'wrk' if tool == 'wrk' else 'util-linux'})")
    if not (args.home / "registry").exists() or args.light == "sasrec-student@production":
        from serving import prepare

        prepare(args.home, retrain=False)  # reuses what bench/serving.py registered
    home, dataset = args.home, "ml-100k-fit"
    from marquee.cli._common import load_dataset
    from marquee.search.index import DEFAULT_CACHE_QUERIES as DEFAULT_CACHE  # marquee serve --search-cache's default

    ds = load_dataset(dataset, home)
    titles = [n for n in ds.catalog.table.column("name").to_pylist() if n]
    members = ds.interactions.members.ids.tolist()
    mix = queries(titles, members, args.queries)
    warm = queries(titles, members, 5_000, seed=1)
    runs, ranker = [], "?"
    for cache in (DEFAULT_CACHE, 0):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            proc, url = start_server(home, dataset, args.light, Path(tmp) / "server.log", "--no-artwork", "--search-cache", str(cache))
            startup = time.perf_counter() - t0
            try:
                drive(url, warm, args.connections, 2.0, Path(tmp))
                before = cache_counts(url)
                run = drive(url, mix, args.connections, args.seconds, Path(tmp))
                after = cache_counts(url)
                server_ms = server_search_ms(url)
                ranker = httpx.get(f"{url}/v1/search", params={"q": "star"}).json()["ranker"]
                rss = rss_mb(proc.pid)
            finally:
                stop(proc)
        if run["requests"] >= len(mix):
            raise SystemExit(f"the run sent {run['requests']} requests over {len(mix)} queries, so some twice; pass --queries above that")
        hits, misses = (after.get(o, 0.0) - before.get(o, 0.0) for o in ("hit", "miss"))
        runs.append({
            "cache_queries": cache, "server_start_s": round(startup, 1), "run": run, "server_search_ms": server_ms,
            "server_rss_mb": round(rss, 1),
            "cache": {"hits": hits, "misses": misses}, "cache_hit_rate": hits / max(hits + misses, 1.0),
        })  # fmt: skip
        print(f"cache {cache}: {run['throughput_rps']:.0f} req/s, p99 {run['p99_ms']:.2f} ms, hits {hits / max(hits + misses, 1.0):.0%}", flush=True)
    res = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine("uvicorn"),
        "dataset": dataset, "n_titles": len(ds.catalog), "ranker": ranker, "queries": len(mix),
        "default_cache": DEFAULT_CACHE, "runs": runs,
    }  # fmt: skip
    table = report(res)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "search_endpoint.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        write_section("search-endpoint", "Search endpoint (bench/search_endpoint.py)", table)


if __name__ == "__main__":
    main()
