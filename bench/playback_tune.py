"""Choose the Marquee ABR scheme's hyperparameters on a declared tuning set, disjoint from the scored ones.

The tuning set is Puffer 2022-02-18 (`puffer220218_500`, 500 real session throughput traces from
Stanford's Puffer, a dataset no target is measured on). Each candidate of a small grid over
`StochasticMPCConfig` (history of own ratios, weight of the pessimistic prior, the prior's shape;
horizon 24) plays Envivio over every tuning trace with Pensieve's conventions; the candidate with
the highest mean QoE_lin per chunk wins and becomes the defaults of `StochasticMPCConfig`. The
scored sets (FCC, HSDPA and the rest) are never read here.

Writes bench/results/playback_tune.json: every candidate's score, the winner, and robustMPC's
score on the same traces.

    python bench/playback_tune.py [--traces DIR] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
TUNING_SET = "puffer220218_500"
GRID = {
    "history": (2, 3, 5),
    "prior_weight": (2.0, 3.0),
    "prior_ratios": ((0.4, 0.7, 1.0), (0.5, 0.8, 1.0), (0.55, 0.85, 1.05)),
    "horizon": (24,),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--traces",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "delivery" / "abr" / "traces",
        help="directory holding the shared trace archives",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    from marquee import playback

    archive = args.traces / f"{TUNING_SET}.tar.xz"
    if not archive.exists():
        sys.exit(f"tuning set not found: {archive} (pass --traces DIR)")
    video = playback.load_video("envivio")
    start = time.perf_counter()
    traces = playback.read_traces(archive, name=TUNING_SET)
    print(f"read {len(traces)} tuning traces in {time.perf_counter() - start:.0f} s", flush=True)
    rows = []
    with threadpool_limits(1):
        baseline = playback.simulate(traces, video, playback.RobustMPC()).summary()["qoe_per_chunk"]
        print(f"robustmpc {baseline:.4f}", flush=True)
        keys = list(GRID)
        for values in itertools.product(*(GRID[k] for k in keys)):
            params = dict(zip(keys, values, strict=True))
            qoe = playback.simulate(traces, video, playback.StochasticMPC(**params)).summary()["qoe_per_chunk"]
            rows.append({"params": {**params, "prior_ratios": list(params["prior_ratios"])}, "qoe_per_chunk": qoe})
            print(f"{params} {qoe:.4f}", flush=True)
    best = max(rows, key=lambda r: r["qoe_per_chunk"])
    print(f"winner: {best['params']} {best['qoe_per_chunk']:.4f} (robustMPC {baseline:.4f})")
    if not args.no_write:
        out = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "tuning_set": TUNING_SET,
            "traces": len(traces),
            "video": "envivio",
            "robustmpc_qoe_per_chunk": baseline,
            "candidates": rows,
            "winner": best,
        }
        path = ROOT / "bench" / "results" / "playback_tune.json"
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
