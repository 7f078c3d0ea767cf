"""Playback: every ABR scheme built so far on the shipped trace sets, and the simulator's speed.

Envivio-Dash3 (48 chunks, Pensieve's conventions: `SessionConfig()` defaults) over the shipped
`fcc_pensieve88` and `hsdpa_pensieve80` traces, one session per trace, for rate-based, BBA,
BOLA-BASIC and robustMPC: mean QoE_lin per chunk (chunks 2..48), rebuffering, bitrate, switches,
start-up. Speed: each scheme over all 88 FCC traces x 48 chunks, one thread, median of `--repeats`
runs. Issue 12 is in progress: the offline optimum, the Marquee scheme, devices and the other
trace sets join this benchmark as they are built. Writes bench/results/playback.json and the
`playback` section of BENCHMARKS.md.

    python bench/playback.py [--repeats 7] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from threadpoolctl import threadpool_limits

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
SCHEMES = ("rb", "bba", "bola", "robustmpc")
TRACE_SETS = ("fcc_pensieve88", "hsdpa_pensieve80")
TARGET_MPC_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per scheme (the median is reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    from marquee import playback

    info = machine()
    video = playback.load_video("envivio")
    results: dict[str, dict[str, dict]] = {}
    seconds: dict[str, float] = {}
    with threadpool_limits(1):
        for trace_set in TRACE_SETS:
            traces = playback.load_traces(trace_set)
            results[trace_set] = {name: playback.simulate(traces, video, playback.SCHEMES[name]()).summary() for name in SCHEMES}
        fcc = playback.load_traces("fcc_pensieve88")
        for name in SCHEMES:
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                playback.simulate(fcc, video, playback.SCHEMES[name]())
                runs.append(time.perf_counter() - start)
            seconds[name] = statistics.median(runs)

    lines = [
        f"Envivio-Dash3, 48 chunks, Pensieve's conventions (`SessionConfig()`), one session per shipped trace. "
        f"{info['cores']} cores ({info['cpu']}), one thread, load average {info['load_average']} at the start.",
        "",
        "| traces | scheme | QoE_lin per chunk | rebuffer s | avg bitrate Mbps | switches | start-up s | mean VMAF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for trace_set, by_scheme in results.items():
        for name, r in by_scheme.items():
            vmaf = "-" if r["quality_mean"] is None else f"{r['quality_mean']:.1f}"
            lines.append(
                f"| {trace_set} | {name} | {r['qoe_per_chunk']:.4f} | {r['rebuffer_s']:.2f} | {r['avg_bitrate_mbps']:.3f} "
                f"| {r['switches']:.1f} | {r['startup_s']:.2f} | {vmaf} |"
            )
    lines += ["", f"Speed, all 88 FCC traces x 48 chunks, median of {args.repeats} runs:", "", "| scheme | seconds |", "|---|---|"]
    lines += [f"| {name} | {s:.3f} |" for name, s in seconds.items()]
    mpc = seconds["robustmpc"]
    lines += [
        "",
        f"- robustMPC over all FCC traces: {mpc:.2f} s (target < {TARGET_MPC_S:.0f} s: {'met' if mpc < TARGET_MPC_S else 'not met'}).",
        "- In progress (issue 12): the offline optimum, the Marquee scheme, device profiles, the other trace sets. "
        "BOLA-BASIC scores below BBA here, against the published ordering (RB ~ BOLA > BBA): it is not yet trustworthy.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("cpu", "cores", "load_average")) + ".",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "playback.json"
        out.write_text(json.dumps({"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
                                   "results": results, "seconds": seconds}, indent=2) + "\n")  # fmt: skip
        write_section("playback", "Playback (bench/playback.py)", table)
        print(f"wrote {out} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
