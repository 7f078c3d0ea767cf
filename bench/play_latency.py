"""How long one play takes in the service: `marquee.serve.Player.play` per online ABR scheme.

A play is what the homepage's play button runs: one simulated session of the 48-chunk Envivio ladder on the
member's device, over a trace of that device's network. The scheme plays the whole session, so a play's latency is
its decision time times 48 plus the simulator's. The service's default scheme must fit a button press's budget
(`BUDGET_MS`, 50 ms) at the 90th percentile.

Each scheme gets its own `Player`, built (and so warmed: the constructor plays once) before timing; then `--plays`
plays walk titles, members and every service device in turn. One thread. Medians and percentiles of one run; the
schemes alternate play by play so that the machine's load falls on all of them alike.

    python bench/play_latency.py [--plays 300] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
SCHEMES = ("rb", "bba", "bola", "robustmpc", "marquee")
BUDGET_MS = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=300, help="timed plays per scheme")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    from marquee.serve.play import DEFAULT_SCHEME, SERVICE_DEVICES, Player

    info = machine()
    devices = list(SERVICE_DEVICES)
    with threadpool_limits(1):
        built, build_s = {}, {}
        for name in SCHEMES:
            start = time.perf_counter()
            built[name] = Player(scheme=name)
            build_s[name] = time.perf_counter() - start
            print(f"{name}: player built (and warmed) in {build_s[name]:.2f} s", flush=True)
        times: dict[str, list[float]] = {name: [] for name in SCHEMES}
        for k in range(args.plays):
            for name, player in built.items():
                start = time.perf_counter()
                player.play(k, devices[k % len(devices)], member_id=k, session=k)
                times[name].append((time.perf_counter() - start) * 1000.0)
    rows = {
        name: {
            "median_ms": float(np.median(t)),
            "p90_ms": float(np.quantile(t, 0.9)),
            "p99_ms": float(np.quantile(t, 0.99)),
            "max_ms": float(np.max(t)),
            "build_s": build_s[name],
        }
        for name, t in times.items()
    }
    lines = [
        f"One `Player.play` (48 Envivio chunks, one session) per scheme, {args.plays} plays each over titles, members "
        f"and the service's {len(devices)} devices, schemes alternating play by play; one thread, {info['cores']} "
        f"cores ({info['cpu']}), load average {info['load_average']} at the start. Budget: {BUDGET_MS:.0f} ms at the "
        f"90th percentile. The service's default scheme: `{DEFAULT_SCHEME}`. Build: seconds to construct the player, "
        f"its warm-up play included (the first player of the run also loads the traces and the ladder).",
        "",
        "| scheme | median ms | p90 ms | p99 ms | max ms | p90 within budget | build s |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, r in rows.items():
        ok = "yes" if r["p90_ms"] <= BUDGET_MS else "NO"
        lines.append(
            f"| {name} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {ok} "
            f"| {r['build_s']:.2f} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "play_latency.json"
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        out.write_text(
            json.dumps({"generated": stamp, "machine": info, "plays": args.plays, "rows": rows}, indent=2) + "\n"
        )
        write_section("play-latency", "Playback in the service: one play's latency (bench/play_latency.py)", table)
        print(f"wrote {out.relative_to(ROOT)} and BENCHMARKS.md")


if __name__ == "__main__":
    main()
