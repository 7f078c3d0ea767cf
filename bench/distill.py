"""Teacher vs distilled student: quality under the ranking protocol and per-request latency.

SASRec (the teacher) is fitted on train+validation of the leave-one-out split, the student is
distilled from it on the same data, both are evaluated on test (95% bootstrap intervals), and
``recommend_index`` is timed at batch 1 and batch 32 (median of repeated calls, warm). Writes
bench/results/distill.json and the table between the ``distill`` markers of BENCHMARKS.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from _common import write_section

ROOT = Path(__file__).resolve().parent.parent


def _latency_ms(model, members: np.ndarray, batch: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    for _ in range(5):
        model.recommend_index(members[:batch], 10)
    times = []
    for _ in range(repeats):
        rows = rng.choice(members, size=batch, replace=False)
        start = time.perf_counter()
        model.recommend_index(rows, 10)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def _one_ms(model, members: np.ndarray, repeats: int) -> float:
    """Median wall time of the single-member serving call (``recommend_one``), warm."""
    rng = np.random.default_rng(0)
    for u in members[:5].tolist():
        model.recommend_one(u, 10)
    times = []
    for u in rng.choice(members, size=repeats).tolist():
        start = time.perf_counter()
        model.recommend_one(u, 10)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def main() -> None:
    import copy

    import onnxruntime
    import torch

    from marquee.data import leave_one_out
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.evaluate import evaluate
    from marquee.rank import SASRec
    from marquee.rank.distill import Distilled
    from marquee.rank.quantize import quantize

    # As served: one thread per model call (the server is pinned to a core; requests are the parallel unit).
    torch.set_num_threads(1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    split = leave_one_out(fetch_movielens_100k().interactions)
    fit, holdout = split.stage("test")
    teacher = SASRec().fit(fit)
    student = Distilled().fit(fit, teacher=teacher)
    served = copy.copy(teacher).for_serving(threads=1)  # same weights, ONNX Runtime graph
    int8 = quantize(served).for_serving(threads=1)
    members = holdout.member_idx
    rows = []
    models = (
        ("SASRec (teacher), eager torch", teacher, teacher.fit_seconds_),
        ("SASRec (teacher), ONNX Runtime fp32", served, teacher.fit_seconds_),
        ("SASRec int8, ONNX Runtime", int8, None),
        ("Distilled student", student, student.fit_seconds_),
    )
    evaluations = {}
    for name, model, fit_s in models:
        ev = evaluations[name] = evaluate(model, holdout)
        rows.append({
            "model": name,
            "fit_seconds": fit_s,
            "ndcg@10": ev.interval("ndcg@10").to_dict(),
            "hr@10": ev.interval("hr@10").to_dict(),
            "serving_call_ms": _one_ms(model, members, 500),
            "batch1_ms": _latency_ms(model, members, 1, 300),
            "batch32_ms": _latency_ms(model, members, 32, 100),
        })
    t, ort, q, s = rows
    ref = evaluations[t["model"]]
    diff = evaluations[s["model"]].compare(ref, "ndcg@10")
    qdiff = evaluations[q["model"]].compare(ref, "ndcg@10")
    lines = [
        f"Split `{split.fingerprint()}`; torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, one thread. "
        "Latency: median wall time of one call (score every title, exclude seen, top 10), warm, members drawn at random: "
        "`recommend_one` (the service's single-member call) and `recommend_index` at batch 1 and 32.",
        "",
        "| model | NDCG@10 | HR@10 | fit s | one member, serving call ms | batch 1 ms | batch 32 ms | batch 32 ms per member |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n, h = r["ndcg@10"], r["hr@10"]
        fit_s = "-" if r["fit_seconds"] is None else f"{r['fit_seconds']:.1f}"
        lines.append(
            f"| {r['model']} | {n['estimate']:.4f} [{n['low']:.4f}, {n['high']:.4f}] | {h['estimate']:.4f} [{h['low']:.4f}, {h['high']:.4f}] "
            f"| {fit_s} | {r['serving_call_ms']:.3f} | {r['batch1_ms']:.3f} | {r['batch32_ms']:.3f} | {r['batch32_ms'] / 32:.4f} |"
        )
    lines += [
        "",
        f"- Student / teacher: NDCG@10 {s['ndcg@10']['estimate'] / t['ndcg@10']['estimate']:.1%} "
        f"(paired difference {diff.difference.estimate:+.4f} [{diff.difference.low:+.4f}, {diff.difference.high:+.4f}]); "
        f"latency {t['batch1_ms'] / s['batch1_ms']:.0f}x lower than eager torch and {ort['batch1_ms'] / s['batch1_ms']:.0f}x lower "
        f"than the ONNX Runtime teacher at batch 1 ({ort['batch32_ms'] / s['batch32_ms']:.0f}x at batch 32); as served, one member per call: "
        f"{ort['serving_call_ms'] / s['serving_call_ms']:.0f}x lower than the ONNX Runtime teacher, {t['serving_call_ms'] / s['serving_call_ms']:.0f}x than eager torch.",
        f"- ONNX Runtime vs eager torch, same weights: {t['batch1_ms'] / ort['batch1_ms']:.1f}x at batch 1, "
        f"{t['batch32_ms'] / ort['batch32_ms']:.1f}x at batch 32; NDCG@10 identical up to float tolerance "
        f"({ort['ndcg@10']['estimate']:.4f} vs {t['ndcg@10']['estimate']:.4f}).",
        f"- Int8 vs fp32 graph: NDCG@10 {q['ndcg@10']['estimate'] / ort['ndcg@10']['estimate']:.1%} of fp32 "
        f"(paired difference to the teacher {qdiff.difference.estimate:+.4f} [{qdiff.difference.low:+.4f}, {qdiff.difference.high:+.4f}]), "
        f"latency {ort['batch1_ms'] / q['batch1_ms']:.2f}x at batch 1 and {ort['batch32_ms'] / q['batch32_ms']:.2f}x at batch 32, "
        f"graph {len(int8.graph_) / 1e6:.2f} MB vs {len(served.graph_) / 1e6:.2f} MB. This transformer is small (64 wide): "
        "activation quantization costs about what int8 matrix products save.",
    ]
    table = "\n".join(lines)
    print(table)
    (ROOT / "bench" / "results" / "distill.json").write_text(json.dumps(rows, indent=2) + "\n")
    write_section("distill", "Distillation (bench/distill.py)", table)


if __name__ == "__main__":
    main()
