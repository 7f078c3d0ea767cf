"""How disjoint the Marquee scheme's tuning set is from the traces its targets are scored on, and how alike.

`pensieve_train127` (the tuning set of bench/playback_tune.py) and the target sets `fcc_pensieve88` and
`hsdpa_pensieve80` are the two halves of Pensieve's split. This script checks three things:

1. Files: no training trace has the name or the samples of a test trace.
2. FCC measurement units: an FCC trace's name starts `trace_NNNNNN_`, the unit (a household's link) it was measured
   on; how many training traces come from a unit that also has test traces.
3. HSDPA recordings: both halves were cut from one commute campaign, so a test trace may be a stretch of a training
   log. Each trace is resampled to 1 s; the first `--window` seconds of every test trace are correlated (Pearson)
   with every window of the same length of every training HSDPA log; a test trace counts as overlapping when its
   best correlation passes `--threshold`. The same count over an unrelated network (Belgian LTE, from `--shared`,
   when present) says how often that happens by chance.
4. How alike the halves are: per half and network, the traces' length, mean throughput, the share of seconds below
   0.2 Mbps (outages) and the stall per session that even the offline optimum cannot avoid (Envivio, Pensieve's
   conventions). Where the halves differ here, a choice tuned on one need not carry over to the other.

    python bench/playback_split.py [--shared DIR] [--window 120] [--threshold 0.9] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import write_section

ROOT = Path(__file__).resolve().parent.parent


def _per_second(trace) -> np.ndarray:
    t = np.arange(0.0, float(trace.times_s[-1]), 1.0)
    return np.interp(t, trace.times_s, trace.mbps)


def _best_correlations(tests, logs, window: int) -> np.ndarray:
    """Per test trace: the highest Pearson correlation of its first ``window`` seconds with any window of a log."""
    views = []
    for log in logs:
        x = _per_second(log)
        if len(x) < window:
            continue
        w = np.lib.stride_tricks.sliding_window_view(x, window)
        views.append((w - w.mean(1, keepdims=True)) / (w.std(1, keepdims=True) + 1e-9))
    best = np.full(len(tests), -1.0)
    for n, trace in enumerate(tests):
        a = _per_second(trace)[:window]
        if len(a) < window:
            continue
        a = (a - a.mean()) / (a.std() + 1e-9)
        best[n] = max(float((z @ a).max()) / window for z in views)
    return best


def _profile(playback, traces, video) -> dict:
    """Length, throughput, outage share and the optimum's unavoidable stall of a group of traces."""
    per_second = [_per_second(t) for t in traces]
    best = playback.simulate(playback.TraceSet("group", tuple(traces)), video, playback.OfflineOptimal())
    return {
        "traces": len(traces),
        "median_length_s": float(np.median([t.times_s[-1] - t.times_s[0] for t in traces])),
        "median_mean_mbps": float(np.median([x.mean() for x in per_second])),
        "outage_share": float((np.concatenate(per_second) < 0.2).mean()),
        "optimum_stall_s": float(best.stall_s.sum(axis=1).mean()),
        "optimum_stalling_share": float((best.stall_s.sum(axis=1) > 1.0).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "delivery" / "abr" / "traces",
        help="directory of the shared trace archives (for the LTE comparison; skipped if absent)",
    )
    parser.add_argument("--window", type=int, default=120, help="seconds of each test trace correlated")
    parser.add_argument("--threshold", type=float, default=0.9, help="correlation that counts as overlap")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    from marquee import playback

    start = time.perf_counter()
    train = playback.load_traces("pensieve_train127")
    fcc, hsdpa = playback.load_traces("fcc_pensieve88"), playback.load_traces("hsdpa_pensieve80")
    samples = {(t.times_s.tobytes(), t.mbps.tobytes()) for t in (*fcc, *hsdpa)}
    names = {t.name for t in (*fcc, *hsdpa)}
    same_file = sum(t.name in names or (t.times_s.tobytes(), t.mbps.tobytes()) in samples for t in train)

    def unit(name: str) -> str:
        return name.split("_http")[0]

    train_fcc = [t for t in train if t.name.startswith("trace_")]
    train_hsdpa = [t for t in train if not t.name.startswith("trace_")]
    test_units = {unit(t.name) for t in fcc}
    shared_units = sum(unit(t.name) in test_units for t in train_fcc)

    hs = _best_correlations(list(hsdpa), train_hsdpa, args.window)
    lte_path = args.shared / "sabre_lte_belgium40.tar.xz"
    lte = (
        _best_correlations(list(playback.read_traces(lte_path)), train_hsdpa, args.window)
        if lte_path.exists()
        else None
    )
    video = playback.load_video("envivio")
    groups = {
        "training FCC": train_fcc,
        "test FCC (`fcc_pensieve88`)": list(fcc),
        "training HSDPA": train_hsdpa,
        "test HSDPA (`hsdpa_pensieve80`)": list(hsdpa),
    }
    profiles = {name: _profile(playback, traces, video) for name, traces in groups.items()}
    res = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - start,
        "window_s": args.window,
        "threshold": args.threshold,
        "train": {"fcc": len(train_fcc), "hsdpa": len(train_hsdpa)},
        "same_file": int(same_file),
        "fcc_shared_units": int(shared_units),
        "fcc_test_units": len(test_units),
        "hsdpa_overlapping": int((hs > args.threshold).sum()),
        "hsdpa_tests": len(hs),
        "hsdpa_median_best": float(np.median(hs)),
        "lte_overlapping": None if lte is None else int((lte > args.threshold).sum()),
        "lte_tests": None if lte is None else len(lte),
        "lte_median_best": None if lte is None else float(np.median(lte)),
        "profiles": profiles,
    }
    lines = [
        f"The tuning set `pensieve_train127` ({res['train']['fcc']} FCC, {res['train']['hsdpa']} HSDPA traces) against "
        f"the target sets. Ran {res['generated']} in {res['seconds']:.0f} s.",
        "",
        f"- Files: {res['same_file']} training traces share a name or their samples with a test trace.",
        f"- FCC units: {res['fcc_shared_units']} of the {res['train']['fcc']} FCC training traces come from a "
        f"measurement unit that also has traces in `fcc_pensieve88` ({res['fcc_test_units']} units there).",
        f"- HSDPA recordings: {res['hsdpa_overlapping']} of the {res['hsdpa_tests']} test traces have their first "
        f"{args.window} s correlate above {args.threshold} with a window of a training log (median best correlation "
        f"{res['hsdpa_median_best']:.2f}).",
    ]
    if lte is not None:
        lines.append(
            f"- By chance: {res['lte_overlapping']} of the {res['lte_tests']} Belgian LTE traces, an unrelated "
            f"network, do (median best {res['lte_median_best']:.2f})."
        )
    lines += [
        "",
        "How alike the halves are (seconds resampled at 1 s; the optimum plays Envivio under Pensieve's conventions; "
        "a session plays the trace from its start):",
        "",
        "| traces | count | median length s | median mean Mbps | seconds below 0.2 Mbps | the optimum's stall s "
        "per session | sessions where the optimum stalls > 1 s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in profiles.items():
        lines.append(
            f"| {name} | {p['traces']} | {p['median_length_s']:.0f} | {p['median_mean_mbps']:.2f} | "
            f"{p['outage_share']:.1%} | {p['optimum_stall_s']:.2f} | {p['optimum_stalling_share']:.0%} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "playback_split.json"
        out.write_text(json.dumps(res, indent=2) + "\n")
        write_section(
            "playback-split",
            "Playback: how disjoint, and how alike, the tuning and target sets are (bench/playback_split.py)",
            table,
        )
        print(f"wrote {out.relative_to(ROOT)} and BENCHMARKS.md")


if __name__ == "__main__":
    main()
