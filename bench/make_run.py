"""`make run` from a clean clone to serving: the time a new user waits, stage by stage.

Clones this repository's HEAD into a temporary directory, runs `make run` there with a fresh
MARQUEE_HOME (so MovieLens is fetched, every model trained and registered) and pip's cache off
(every package downloaded or read from the local wheel folder, as on a new machine), stamps each
line `make` prints, and stops the server as soon as /readyz answers 200. Writes
bench/results/make_run.json and the `make-run` section of BENCHMARKS.md.

    python bench/make_run.py [--pip-cache] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 300.0
#: A command `make` echoes: the start of a stage.
STAGE = re.compile(r"(\S*python\S* -m venv|\S*python\S* -m pip install|\S*python -c 'import|\S*/marquee \S+( \S+)?)")
#: A line of a stage that runs beside others: make run tags them ``[leaderboard] ...``.
TAGGED = re.compile(r"^\[([a-z-]+)\] ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pip-cache", action="store_true", help="let pip use its cache (a machine that installed before)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="give up after this many seconds")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    info = machine()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "marquee"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "MARQUEE_HOME": str(Path(tmp) / "home"), "MARQUEE_PORT": str(port), "PYTHONUNBUFFERED": "1"}
        env.pop("VIRTUAL_ENV", None)
        if not args.pip_cache:
            env["PIP_NO_CACHE_DIR"] = "1"
        stages: list[tuple[str, float]] = []
        tagged: dict[str, list[float]] = {}
        side_begin: list[float] = []
        start = time.perf_counter()
        proc = subprocess.Popen(
            ["make", "run"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        log: list[str] = []

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.append(line.rstrip("\n"))
                now = time.perf_counter() - start
                t = TAGGED.match(line)
                if t:  # a side-by-side stage: its span is from its first line to its last
                    tagged.setdefault(t.group(1), [now, now])[1] = now
                    continue
                if " -j2 run-" in line:  # make run starts its side-by-side stages
                    side_begin.append(now)
                    continue
                m = STAGE.search(line.strip())
                if m:
                    text = m.group(0)
                    name = "bytecode warm-up (import)" if "-c 'import" in text else text.rsplit("/", 1)[-1] if "marquee" in text else text.split(" -m ")[-1]
                    stages.append((name, time.perf_counter() - start))
                    print(f"{time.perf_counter() - start:7.1f} s  {line.strip()[:120]}", flush=True)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        ready = None
        try:
            while ready is None and time.perf_counter() - start < args.timeout:
                if proc.poll() is not None:
                    raise SystemExit(f"make run exited with {proc.returncode} before serving:\n" + "\n".join(log[-30:]))
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200:
                        ready = time.perf_counter() - start
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        if ready is None:
            raise SystemExit(f"not serving after {args.timeout:.0f} s")

    if tagged:  # the side-by-side stages, as one stage between the sequential ones, then each
        begin = side_begin[0] if side_begin else min(first for first, _ in tagged.values())
        end = max(last for _, last in tagged.values())
        # Commands echoed inside that span belong to the side-by-side stages, shown below by tag.
        stages = [st for st in stages if not begin <= st[1] <= end] + [("side-by-side stages", begin)]
        stages.sort(key=lambda st: st[1])
    bounds = [t for _, t in stages] + [ready]
    rows = [(name, bounds[i + 1] - t) for i, (name, t) in enumerate(stages)]
    rows += [(f"  [{tag}] from {first:.0f} s to {last:.0f} s", last - first) for tag, (first, last) in tagged.items()]
    lines = [
        f"A clean clone of this repository, `make run` with a fresh `MARQUEE_HOME` and pip's cache "
        f"{'on' if args.pip_cache else 'off'}, until `/readyz` answers 200. {info['cores']} cores ({info['cpu']}), "
        f"load average {info['load_average']} at the start.",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| `{name}` | {seconds:.1f} |" for name, seconds in rows],
        f"| **clean clone to serving** | **{ready:.1f}** (target < {TARGET_S:.0f}: {'met' if ready < TARGET_S else 'not met'}) |",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "make_run.json"
        out.write_text(json.dumps({"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
                                   "pip_cache": args.pip_cache, "stages": rows, "ready_seconds": ready}, indent=2) + "\n")  # fmt: skip
        write_section("make-run", "make run, clean clone to serving (bench/make_run.py)", table)
        print(f"wrote {out} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
