"""Choose the Marquee ABR scheme's hyperparameters on a declared tuning set, disjoint from the scored ones.

The tuning set is Puffer 2022-02-18 (`puffer220218_500`, real session throughput traces from
Stanford's Puffer, a dataset no target is measured on; a seeded random 250 of its 500 traces). Each candidate of a small grid over
`StochasticMPCConfig` (history of own ratios, weight of the pessimistic prior, the prior's shape;
horizon 24) plays Envivio over every tuning trace with Pensieve's conventions; the candidate with
the highest mean QoE_lin per chunk wins and becomes the defaults of `StochasticMPCConfig`. The
scored sets (FCC, HSDPA and the rest) are never read here.

Second stage, the phone's price of data (`DEVICES["phone"].data_cost_per_mb`): on the same tuning
traces played on the `phone` device, the largest price of a small grid at which the device-aware
Marquee scheme (the winner's parameters) keeps mean phone quality at least device-blind robustMPC's
and rebuffers no more. The phone target is then measured on cellular sets this script never reads.

Writes bench/results/playback_tune.json: every candidate's score, the winner, robustMPC's score on
the same traces, and the phone stage's table.

    python bench/playback_tune.py [--traces DIR] [--stage all|scheme|phone] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _common import write_section
from marquee.playback.stochastic import TUNING_GRID

ROOT = Path(__file__).resolve().parent.parent
TUNING_SET = "puffer220218_500"
GRID = TUNING_GRID  # the grid StochasticMPC.fit searches by default
TUNING_TRACES = 250  # a seeded random subset of the set's 500 traces, to keep the grid to minutes
CROSSFIT_SETS = ("fcc_pensieve88", "hsdpa_pensieve80")
PHONE_PRICES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--traces",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "delivery" / "abr" / "traces",
        help="directory holding the shared trace archives",
    )
    parser.add_argument(
        "--stage",
        choices=("all", "scheme", "phone", "crossfit", "report"),
        default="all",
        help="phone: reuse the scheme stage's winner from bench/results/playback_tune.json",
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
    keep = np.sort(np.random.default_rng(0).choice(len(traces), min(TUNING_TRACES, len(traces)), replace=False))
    traces = playback.TraceSet(TUNING_SET, tuple(traces[int(i)] for i in keep))
    print(f"read {len(traces)} tuning traces in {time.perf_counter() - start:.0f} s", flush=True)
    path = ROOT / "bench" / "results" / "playback_tune.json"
    out = json.loads(path.read_text()) if args.stage in ("phone", "crossfit", "report") else {}
    with threadpool_limits(1):
        if args.stage in ("all", "scheme"):
            out.update(_scheme_stage(playback, traces, video))
        if args.stage in ("all", "phone"):
            out["phone"] = _phone_stage(playback, traces, video, out["winner"]["params"])
        if args.stage in ("all", "crossfit"):
            out["crossfit"] = _crossfit_stage(playback, video)
    out.update(
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "tuning_set": TUNING_SET,
            "traces": len(traces),
            "video": "envivio",
        }
    )
    if not args.no_write:
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
        if {"winner", "phone", "crossfit"} <= set(out):
            write_section(
                "playback-tune",
                "Playback: choosing the Marquee scheme's defaults (bench/playback_tune.py)",
                _section(out),
            )
            print("wrote BENCHMARKS.md")


def _section(out: dict) -> str:
    win = out["winner"]
    lines = [
        f"Tuning set: `{out['tuning_set']}` (Puffer, a seeded {out['traces']} of its traces), Envivio, Pensieve's "
        f"conventions. {len(out['candidates'])} candidates (history x prior weight x prior ratios, horizon 24).",
        "",
        f"- Winner (now the defaults of `StochasticMPCConfig`): `{win['params']}`, QoE_lin {win['qoe_per_chunk']:.4f} "
        f"against robustMPC's {out['robustmpc_qoe_per_chunk']:.4f} on the tuning traces "
        f"({win['qoe_per_chunk'] / out['robustmpc_qoe_per_chunk'] - 1:+.1%}).",
        f"- Phone price of data: {out['phone']['chosen']} per MB (the largest price at which the device-aware scheme "
        f"keeps robustMPC's phone quality and rebuffering on the tuning traces; robustMPC's phone quality there "
        f"{out['phone']['robustmpc']['quality_mean']:.2f}, the device-aware scheme's at price 0: "
        f"{out['phone']['prices'][0]['quality_mean']:.2f}).",
        "",
        "Cross-fitted on the target sets themselves (two random folds per set; the candidate best on one fold of both "
        "sets plays the other fold, so no trace is scored by a configuration chosen with it):",
        "",
        "| set | robustMPC | Marquee, cross-fitted | gain |",
        "|---|---|---|---|",
    ]
    for name, r in out["crossfit"]["sets"].items():
        lines.append(f"| {name} | {r['robustmpc']:.4f} | {r['marquee_crossfit']:.4f} | {r['gain']:+.1%} |")
    lines += [
        "",
        "Chosen per fold: " + "; ".join(f"fold {k}: `{v}`" for k, v in out["crossfit"]["chosen_per_fold"].items()),
    ]
    return "\n".join(lines)


def _scheme_stage(playback, traces, video) -> dict:
    rows = []
    baseline = playback.simulate(traces, video, playback.RobustMPC()).summary()["qoe_per_chunk"]
    print(f"robustmpc {baseline:.4f}", flush=True)
    keys = list(GRID)
    for values in itertools.product(*(GRID[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        qoe = playback.simulate(traces, video, playback.StochasticMPC(**params)).summary()["qoe_per_chunk"]
        rows.append({"params": {**params, "prior_ratios": list(params["prior_ratios"])}, "qoe_per_chunk": qoe})
        print(f"{params} {qoe:.4f}", flush=True)
    best = max(rows, key=lambda r: r["qoe_per_chunk"])
    print(f"winner: {best['params']} {best['qoe_per_chunk']:.4f} (robustMPC {baseline:.4f})", flush=True)
    return {"robustmpc_qoe_per_chunk": baseline, "candidates": rows, "winner": best}


def _crossfit_stage(playback, video) -> dict:
    """Two-fold cross-fitting on the target sets themselves: each set's traces are split at random into two
    folds; the candidate that scores best on one fold of both sets (mean of the two sets' means) plays the
    other fold. Every trace is scored by a configuration chosen without it."""
    sets = {name: playback.load_traces(name) for name in CROSSFIT_SETS}
    folds = {name: np.random.default_rng(1).permutation(len(t)) % 2 for name, t in sets.items()}
    keys = list(GRID)
    per: dict[str, dict[int, np.ndarray]] = {name: {} for name in sets}
    candidates = [dict(zip(keys, values, strict=True)) for values in itertools.product(*(GRID[k] for k in keys))]
    for c, params in enumerate(candidates):
        for name, t in sets.items():
            per[name][c] = playback.simulate(t, video, playback.StochasticMPC(**params)).qoe
        print(f"crossfit candidate {c + 1}/{len(candidates)} {params}", flush=True)
    chosen, result = {}, {}
    scored = {name: np.empty(len(t)) for name, t in sets.items()}
    for fold in (0, 1):
        train = 1 - fold
        score = [np.mean([per[n][c][folds[n] == train].mean() for n in sets]) for c in range(len(candidates))]
        best = int(np.argmax(score))
        chosen[fold] = {**candidates[best], "prior_ratios": list(candidates[best]["prior_ratios"])}
        for name in sets:
            scored[name][folds[name] == fold] = per[name][best][folds[name] == fold]
    for name, t in sets.items():
        base = playback.simulate(t, video, playback.RobustMPC()).qoe.mean()
        result[name] = {
            "robustmpc": float(base),
            "marquee_crossfit": float(scored[name].mean()),
            "gain": float(scored[name].mean() / base - 1),
        }
        print(
            f"{name}: cross-fitted marquee {scored[name].mean():.4f} vs robustMPC {base:.4f} "
            f"({scored[name].mean() / base - 1:+.1%})",
            flush=True,
        )
    return {"sets": result, "chosen_per_fold": chosen, "fold_seed": 1}


def _phone_stage(playback, traces, video, params: dict) -> dict:
    blind = playback.simulate(traces, video, playback.RobustMPC(), device="phone").summary()
    rows = []
    for price in PHONE_PRICES:
        aware = playback.simulate(
            traces, video, playback.StochasticMPC(**params, data_cost_per_mb=price), device="phone"
        ).summary()
        ok = aware["quality_mean"] >= blind["quality_mean"] and aware["rebuffer_s"] <= blind["rebuffer_s"]
        rows.append(
            {
                "price": price,
                "quality_mean": aware["quality_mean"],
                "rebuffer_s": aware["rebuffer_s"],
                "bytes": aware["bytes"],
                "keeps_quality": ok,
            }
        )
        print(
            f"phone price {price}: quality {aware['quality_mean']:.2f} (robustMPC {blind['quality_mean']:.2f}), "
            f"bytes {1 - aware['bytes'] / blind['bytes']:+.1%} fewer, rebuffer {aware['rebuffer_s']:.2f} s",
            flush=True,
        )
    chosen = max((r["price"] for r in rows if r["keeps_quality"]), default=0.0)
    print(f"phone price chosen: {chosen}", flush=True)
    return {
        "robustmpc": {k: blind[k] for k in ("quality_mean", "rebuffer_s", "bytes")},
        "prices": rows,
        "chosen": chosen,
    }


if __name__ == "__main__":
    main()
