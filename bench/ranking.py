"""Ranking benchmark: every ranker on MovieLens-100K under the protocol.

Temporal leave-one-out (ties by the SHA-256 key), tuning on validation, refit on
train+validation, full ranking on test. Each model runs in its own fresh process so its peak
memory (max RSS) is its own. Writes bench/results/ranking.json, the table between the
``ranking`` markers of BENCHMARKS.md, and configs/movielens-100k.toml: the configuration each
grid search chose, which `make run` evaluates without searching again.

    python bench/ranking.py [--models ease,sasrec] [--bootstrap 1000]
    python bench/ranking.py --tuned-only    # rewrite configs/movielens-100k.toml from bench/results/ranking.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("ndcg@10", "hr@10", "hr@20", "mrr@10", "coverage@10")


def _one_model(name: str, queue: mp.Queue) -> None:
    from marquee.data import leave_one_out
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.evaluate import build_candidates, run_protocol

    split = leave_one_out(fetch_movielens_100k().interactions)
    start = time.perf_counter()
    board = run_protocol(build_candidates([name]), split)
    total = time.perf_counter() - start
    r = board.results[0]
    queue.put(
        {
            "name": name,
            "config": dataclasses.asdict(r.config),
            "trials": [dataclasses.asdict(t) for t in r.trials],
            "fit_seconds": r.fit_seconds,
            "protocol_seconds": total,
            "rank_seconds": r.evaluation.seconds,
            "per_member": {k: v.tolist() for k, v in r.evaluation.per_member.items()},
            "topk": r.evaluation.topk.tolist(),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "split": board.split_fingerprint,
        }
    )


TUNED = ROOT / "configs" / "movielens-100k.toml"


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v)  # strings; TOML basic strings share JSON's escapes


def write_tuned(results: dict) -> Path:
    """configs/movielens-100k.toml: each model's best validation trial, with where it came from."""
    lines = [
        "# Tuned hyperparameters for MovieLens-100K, written by bench/ranking.py; do not edit by hand.",
        f"# Run of {results['generated']} on split {results['models'][0]['split']} (temporal leave-one-out):",
        "# each model's default grid (marquee.evaluate.DEFAULT_SEARCH) searched on validation NDCG@10, the best",
        "# point kept. `make run` evaluates with these (`marquee evaluate --no-tune --config` this file);",
        "# `marquee evaluate` without --no-tune searches the grids again.",
    ]
    for model in sorted(results["models"], key=lambda m: m["name"]):
        best = max(model["trials"], key=lambda t: t["value"]) if model["trials"] else {"params": {}, "value": float("nan")}
        params = {k: v for k, v in best["params"].items() if v is not None}
        dropped = sorted(set(best["params"]) - set(params))
        lines += ["", f"# validation ndcg@10 {best['value']:.4f} (best of {len(model['trials'])} trials)"]
        if dropped:
            lines.append(f"# {', '.join(dropped)}: None, the class default")
        lines += [f"[models.{model['name']}]", "params = { " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in params.items()) + " }"]
    TUNED.parent.mkdir(exist_ok=True)
    TUNED.write_text("\n".join(lines) + "\n")
    return TUNED


def _machine() -> dict[str, str]:
    return machine("scipy", "torch", "implicit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="popular,item_knn,ease,als,bpr,sasrec")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--tuned-only", action="store_true", help="only rewrite configs/movielens-100k.toml from bench/results/ranking.json")
    args = parser.parse_args()
    if args.tuned_only:
        print(f"wrote {write_tuned(json.loads((ROOT / 'bench' / 'results' / 'ranking.json').read_text()))}")
        return

    from marquee.data.movielens import fetch_movielens_100k
    from marquee.metrics import bootstrap_coverage, bootstrap_mean, paired_comparison

    fetch_movielens_100k()  # once, before the workers
    ctx = mp.get_context("spawn")
    results = []
    wall = time.perf_counter()
    for name in args.models.split(","):
        queue = ctx.Queue()
        proc = ctx.Process(target=_one_model, args=(name, queue))
        proc.start()
        res = queue.get()
        proc.join()
        results.append(res)
        print(f"{name:10s} test ndcg@10={np.mean(res['per_member']['ndcg@10']):.4f} fit={res['fit_seconds']:.2f}s "
              f"protocol={res['protocol_seconds']:.1f}s peak={res['peak_rss_mib']:.0f}MiB", flush=True)
    wall = time.perf_counter() - wall

    rows = []
    for res in results:
        pm = {k: np.asarray(v) for k, v in res["per_member"].items()}
        ivs = {m: bootstrap_mean(pm[m], n_bootstrap=args.bootstrap, seed=0) for m in METRICS if m in pm}
        ivs["coverage@10"] = bootstrap_coverage(np.asarray(res["topk"]), 1682, 10, n_bootstrap=args.bootstrap, seed=0)
        rows.append((res, ivs))
    rows.sort(key=lambda r: -r[1]["ndcg@10"].estimate)
    best, best_iv = rows[0]
    comparisons = []
    for res, _ in rows[1:]:
        for m in ("ndcg@10", "hr@10"):
            c = paired_comparison(np.asarray(best["per_member"][m]), np.asarray(res["per_member"][m]), metric=m, n_bootstrap=args.bootstrap, seed=0)
            comparisons.append((res["name"], c))

    machine = _machine()
    lines = [
        f"Split fingerprint `{best['split']}` · {len(best['per_member']['ndcg@10'])} test members · "
        f"whole benchmark {wall / 60:.1f} min on {machine['cores']} cores ({machine['cpu']}).",
        "",
        "| model | NDCG@10 | HR@10 | HR@20 | MRR@10 | coverage@10 | train s | rank s | protocol s | peak RSS MiB | chosen config |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res, ivs in rows:
        cells = " | ".join(f"{ivs[m].estimate:.4f} [{ivs[m].low:.4f}, {ivs[m].high:.4f}]" for m in METRICS)
        cfg = ", ".join(f"{k}={v}" for k, v in res["config"].items())
        lines.append(
            f"| {res['name']} | {cells} | {res['fit_seconds']:.2f} | {res['rank_seconds']:.3f} | {res['protocol_seconds']:.0f} "
            f"| {res['peak_rss_mib']:.0f} | {cfg} |"
        )
    lines += ["", f"Paired differences, {best['name']} minus each (95% paired bootstrap interval; paired t-test p):", ""]
    lines += ["| vs | metric | difference | ratio | p |", "|---|---|---|---|---|"]
    for name, c in comparisons:
        other = next(r for r, _ in rows if r["name"] == name)
        ratio = np.mean(best["per_member"][c.metric]) / max(np.mean(other["per_member"][c.metric]), 1e-12)
        lines.append(f"| {name} | {c.metric} | {c.difference.estimate:+.4f} [{c.difference.low:+.4f}, {c.difference.high:+.4f}] | {ratio:.2f}x | {c.p_value_t:.2g} |")
    lines += [
        "",
        "train s: the final refit on train+validation; rank s: scoring and ranking all test members over every "
        "title (excluding seen); protocol s: tuning grid + refit + evaluation; peak RSS: the model's own process "
        "(data loaded, protocol run).",
    ]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in machine.items() if k not in ("cpu", "cores")) + "."]
    table = "\n".join(lines)
    print(table)

    if not args.no_write:
        out = ROOT / "bench" / "results" / "ranking.json"
        record = {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "wall_seconds": wall,
            "models": [{k: v for k, v in res.items() if k not in ("per_member", "topk")} | {"metrics": {m: iv.to_dict() for m, iv in ivs.items()}} for res, ivs in rows],
        }
        out.write_text(json.dumps(record, indent=2) + "\n")
        if set(args.models.split(",")) >= {"popular", "item_knn", "ease", "als", "bpr", "sasrec"}:
            write_tuned(record)
        write_section("ranking", "Ranking (bench/ranking.py)", table)
        print(f"wrote {out} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
