"""Choose the Marquee ABR scheme's hyperparameters on a declared tuning set, disjoint from the target sets.

The tuning set is `pensieve_train127`, shipped with Marquee: the training half of Pensieve's split (59 FCC and
68 Norway HSDPA traces) whose test half is the target sets `fcc_pensieve88` and `hsdpa_pensieve80`. No file is in
both halves; some recordings are (src/marquee/playback/data/README.md says which and how that was measured). The
target sets are never read by the first two stages.

The training traces are long logs (median 27 minutes for FCC, 15 for HSDPA) and a session plays the first ~200 s of
its trace, so each log is cut into sessions (`TraceSet.cut`): 320 s long (about the HSDPA test traces' 302 s),
one starting every 240 s of the log; 536 sessions in all. Played uncut, only each log's first minutes were ever
scored.

First stage: each candidate of `StochasticMPC`'s tuning grid (`marquee.playback.stochastic.TUNING_GRID`: history of
own ratios, weight and shape of the pessimistic prior, discount, persistence of the draws; horizon 24) plays Envivio
over every tuning session with Pensieve's conventions; the candidate with the highest mean QoE_lin per chunk wins and
becomes the defaults of `StochasticMPCConfig` (the same rule as `StochasticMPC.fit`).

Second stage, the phone's price of data (`DEVICES["phone"].data_cost_per_mb`): phones sit on cellular networks
(the device's `networks`), so on the tuning sessions cut from the HSDPA logs, played on the `phone` device, the
largest price of a small grid at which the device-aware Marquee scheme (the winner's parameters) keeps mean phone
quality at least device-blind robustMPC's and rebuffers no more.

How the tuning sessions are built was decided after looking at the target sets, so the `constructions` stage shows
what the alternatives would have given: the grid's winner on the logs played uncut (one session per log, as before
2026-12-07), on the cut sessions (the default) and on the cut sessions that pass Pensieve's trace selection (minimum
throughput above 0.2 Mbps, mean below 6 Mbps), each winner then scored on the target sets.

Third stage, cross-fitting on the target sets themselves (FCC, HSDPA): each set split at random in two folds; the
candidate best on one fold of both sets plays the other fold. It says how much a set-specific choice would add.

Writes bench/results/playback_tune.json (stages 1-2 and constructions) and bench/results/playback_crossfit.json
(stage 3); `--stage report` writes the BENCHMARKS.md section from both. Candidates run in `--jobs` processes (the
figures do not depend on it).

    python bench/playback_tune.py [--stage all|scheme|phone|constructions|crossfit|report] [--jobs N] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from _common import write_section
from marquee.playback.stochastic import TUNING_GRID

ROOT = Path(__file__).resolve().parent.parent
GRID = TUNING_GRID  # the grid StochasticMPC.fit searches by default
TUNING_SETS = ("pensieve_train127",)  # shipped: Pensieve's training half
SESSION_S, EVERY_S = 320.0, 240.0  # the training logs cut into sessions (see the docstring)
CROSSFIT_SETS = ("fcc_pensieve88", "hsdpa_pensieve80")
PHONE_PRICES = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stage",
        choices=("all", "scheme", "phone", "constructions", "crossfit", "report"),
        default="all",
        help="phone: reuse the scheme stage's winner from bench/results/playback_tune.json",
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes playing candidates")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    from marquee import playback

    video = playback.load_video("envivio")
    start = time.perf_counter()
    logs = [playback.load_traces(name) for name in TUNING_SETS]
    sets = [t.cut(SESSION_S, every_s=EVERY_S) for t in logs]
    print(
        f"read {sum(len(t) for t in logs)} tuning traces, cut into {sum(len(t) for t in sets)} sessions, in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    path = ROOT / "bench" / "results" / "playback_tune.json"
    cross_path = ROOT / "bench" / "results" / "playback_crossfit.json"
    out = json.loads(path.read_text()) if args.stage in ("phone", "constructions", "report") else {}
    cross = json.loads(cross_path.read_text()) if args.stage == "report" else {}
    with threadpool_limits(1):
        if args.stage in ("all", "scheme"):
            out.update(_scheme_stage(playback, sets, video, args.jobs))
        if args.stage in ("all", "phone"):
            out["phone"] = _phone_stage(playback, sets, video, out["winner"]["params"])
        if args.stage in ("all", "constructions"):
            out["constructions"] = _constructions_stage(playback, logs, sets, video, args.jobs, out)
        if args.stage in ("all", "crossfit"):
            cross = _crossfit_stage(playback, video, args.jobs)
    stamp = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "video": "envivio",
             "seconds": time.perf_counter() - start}  # fmt: skip
    if args.no_write:
        return
    if args.stage == "constructions":  # its own stamp: the scheme stage's time and date stay as they were
        out["constructions_run"] = stamp
    elif args.stage in ("all", "scheme", "phone"):
        out.update(
            {
                **stamp,
                "tuning_sets": list(TUNING_SETS),
                "traces": [len(t) for t in logs],
                "sessions": [len(t) for t in sets],
                "session_s": SESSION_S,
                "every_s": EVERY_S,
            }
        )
    if args.stage in ("all", "scheme", "phone", "constructions"):
        path.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    if args.stage in ("all", "crossfit"):
        cross_path.write_text(json.dumps({**stamp, **cross}, indent=2) + "\n")
        print(f"wrote {cross_path.relative_to(ROOT)}")
    if args.stage in ("all", "report"):
        write_section(
            "playback-tune",
            "Playback: choosing the Marquee scheme's defaults (bench/playback_tune.py)",
            _section(out, cross),
        )
        print("wrote BENCHMARKS.md")


def _score(playback, sets, video, scheme) -> float:
    return float(np.mean([playback.simulate(t, video, scheme).qoe.mean() for t in sets]))


def _candidates() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(GRID[k] for k in keys))]


_WORKER: dict = {}


def _start_worker(sets, video) -> None:
    from marquee import playback

    _WORKER.update(playback=playback, sets=sets, video=video)


def _play(params: dict) -> list[np.ndarray]:
    """Per set, the per-session QoE of one candidate (in a worker process)."""
    with threadpool_limits(1):
        playback, video = _WORKER["playback"], _WORKER["video"]
        return [playback.simulate(t, video, playback.StochasticMPC(**params)).qoe for t in _WORKER["sets"]]


def _play_all(sets, video, jobs: int, label: str) -> list[list[np.ndarray]]:
    """Every candidate of the grid over ``sets``, in grid order, ``jobs`` processes at a time."""
    candidates = _candidates()
    out = []
    with ProcessPoolExecutor(max_workers=max(1, jobs), initializer=_start_worker, initargs=(sets, video)) as pool:
        for n, qoe in enumerate(pool.map(_play, candidates), start=1):
            out.append(qoe)
            score = np.mean([q.mean() for q in qoe])
            print(f"{label} {n}/{len(candidates)} {candidates[n - 1]} {score:.4f}", flush=True)
    return out


def _scheme_stage(playback, sets, video, jobs: int) -> dict:
    baseline = _score(playback, sets, video, playback.RobustMPC())
    print(f"robustmpc {baseline:.4f}", flush=True)
    rows = []
    for params, qoe in zip(_candidates(), _play_all(sets, video, jobs, "candidate"), strict=True):
        score = float(np.mean([q.mean() for q in qoe]))
        rows.append({"params": {**params, "prior_ratios": list(params["prior_ratios"])}, "qoe_per_chunk": score})
    best = max(rows, key=lambda r: r["qoe_per_chunk"])  # the first of equals, in grid order, as fit() does
    print(f"winner: {best['params']} {best['qoe_per_chunk']:.4f} (robustMPC {baseline:.4f})", flush=True)
    return {"robustmpc_qoe_per_chunk": baseline, "candidates": rows, "winner": best}


def _section(out: dict, cross: dict) -> str:
    win = out["winner"]
    phone = out["phone"]
    lines = [
        f"Tuning set: {', '.join(f'`{n}`' for n in out['tuning_sets'])} ({sum(out['traces'])} traces: the training "
        f"half of Pensieve's split, whose test half is the target sets), cut into {sum(out['sessions'])} sessions of "
        f"{out['session_s']:.0f} s, one every {out['every_s']:.0f} s of each log; Envivio, Pensieve's conventions. "
        f"{len(out['candidates'])} candidates (history x prior weight x prior ratios x discount x persistence, "
        f"horizon 24); score = mean QoE_lin per chunk. Ran {out['when']} in {out['seconds']:.0f} s.",
        "",
        f"- Winner (now the defaults of `StochasticMPCConfig`): `{win['params']}`, QoE_lin {win['qoe_per_chunk']:.4f} "
        f"against robustMPC's {out['robustmpc_qoe_per_chunk']:.4f} on the tuning sessions "
        f"({win['qoe_per_chunk'] / out['robustmpc_qoe_per_chunk'] - 1:+.1%}).",
        f"- Phone price of data: {phone['chosen']} per MB (the largest price at which the device-aware scheme "
        f"keeps robustMPC's phone quality and rebuffering on the {phone['sessions']} tuning sessions cut from the "
        f"cellular (HSDPA) logs; robustMPC's phone quality there {phone['robustmpc']['quality_mean']:.2f}, the "
        f"device-aware scheme's at price 0: {phone['prices'][0]['quality_mean']:.2f}).",
        "",
    ]
    if "constructions" in out:
        lines += [
            "How the tuning sessions are built was decided after comparing these three ways on the target sets; each "
            "row is the grid's winner on that way's sessions, scored on the target sets (gain over robustMPC)"
            + (
                f"; ran {out['constructions_run']['when']} in {out['constructions_run']['seconds']:.0f} s:"
                if "constructions_run" in out
                else ":"
            ),
            "",
            "| tuning sessions | sessions | winner | " + " | ".join(f"{n}" for n in CROSSFIT_SETS) + " |",
            "|---|---:|---|" + "---:|" * len(CROSSFIT_SETS),
        ]
        for way, r in out["constructions"].items():
            gains = " | ".join(f"{r['gain_on_targets'][n]:+.1%}" for n in CROSSFIT_SETS)
            lines.append(f"| {way} | {r['sessions']} | `{r['winner']}` | {gains} |")
        lines.append("")
    lines += [
        "Cross-fitted on the target sets themselves (two random folds per set; the candidate best on one fold of both "
        "sets plays the other fold, so no trace is scored by a configuration chosen with it):",
        "",
        "| set | robustMPC | Marquee, cross-fitted | gain |",
        "|---|---|---|---|",
    ]
    for name, r in cross["sets"].items():
        lines.append(f"| {name} | {r['robustmpc']:.4f} | {r['marquee_crossfit']:.4f} | {r['gain']:+.1%} |")
    lines += [
        "",
        "Chosen per fold: " + "; ".join(f"fold {k}: `{v}`" for k, v in cross["chosen_per_fold"].items()),
    ]
    return "\n".join(lines)


def _crossfit_stage(playback, video, jobs: int) -> dict:
    """Two-fold cross-fitting on the target sets themselves: each set's traces are split at random into two
    folds; the candidate that scores best on one fold of both sets (mean of the two sets' means) plays the
    other fold. Every trace is scored by a configuration chosen without it."""
    sets = {name: playback.load_traces(name) for name in CROSSFIT_SETS}
    folds = {name: np.random.default_rng(1).permutation(len(t)) % 2 for name, t in sets.items()}
    candidates = _candidates()
    per: dict[str, dict[int, np.ndarray]] = {name: {} for name in sets}
    for c, qoe in enumerate(_play_all(list(sets.values()), video, jobs, "crossfit candidate")):
        for name, q in zip(sets, qoe, strict=True):
            per[name][c] = q
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


def _pensieve_selected(trace) -> bool:
    """Pensieve's trace selection (Mao et al., SIGCOMM 2017, section 5.1): minimum throughput above 0.2 Mbps and
    mean below 6 Mbps."""
    return bool(trace.mbps[1:].min() > 0.2 and trace.mean_mbps < 6.0)


def _constructions_stage(playback, logs, cut, video, jobs: int, out: dict) -> dict:
    """The grid's winner on three ways of building tuning sessions from the logs (``cut``: the scheme stage's
    sessions), each scored on the target sets. The cut sessions' winner is the scheme stage's (in ``out``) when that
    stage cut the logs the same way."""
    ways = {
        "uncut": logs,
        "cut": cut,
        "cut, Pensieve's selection": [
            playback.TraceSet(t.name, tuple(x for x in t if _pensieve_selected(x))) for t in cut
        ],
    }
    targets = {name: playback.load_traces(name) for name in CROSSFIT_SETS}
    base = {name: playback.simulate(t, video, playback.RobustMPC()).qoe.mean() for name, t in targets.items()}
    rows = {}
    same_cut = out.get("session_s") == SESSION_S and out.get("every_s") == EVERY_S and "winner" in out
    for way, sets in ways.items():
        if way == "cut" and same_cut:
            params = out["winner"]["params"]
        else:
            scores = [np.mean([q.mean() for q in qoe]) for qoe in _play_all(sets, video, jobs, f"{way}:")]
            params = _candidates()[int(np.argmax(scores))]
        scheme = playback.StochasticMPC(**params)
        gains = {
            name: float(playback.simulate(t, video, scheme).qoe.mean() / base[name] - 1) for name, t in targets.items()
        }
        rows[way] = {
            "sessions": sum(len(t) for t in sets),
            "winner": {**params, "prior_ratios": list(params["prior_ratios"])},
            "gain_on_targets": gains,
        }
        print(f"{way}: {rows[way]}", flush=True)
    return rows


def _cellular(name: str) -> bool:
    """The HSDPA logs (``<vehicle>.<route>-report.<date>.log``, cut as ``...@240s``); FCC traces are ``trace_...``."""
    return not name.startswith("trace_")


def _phone_stage(playback, sets, video, params: dict) -> dict:
    traces = playback.TraceSet("tuning-cellular", tuple(t for s in sets for t in s if _cellular(t.name)))
    print(f"phone stage: {len(traces)} cellular tuning sessions", flush=True)
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
        "sessions": len(traces),
        "robustmpc": {k: blind[k] for k in ("quality_mean", "rebuffer_s", "bytes")},
        "prices": rows,
        "chosen": chosen,
    }


if __name__ == "__main__":
    main()
