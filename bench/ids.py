"""String ids: the same leaderboard as integer ids, and integer-id paths no slower than before.

Two checks on MovieLens-100K:

1. **Leaderboard.** Every ranker (tuned configurations from configs/movielens-100k.toml, no search)
   through the protocol on three spellings of the same log: integer ids; the same numbers as text
   (``"196"``); and prefixed text (``"m196"``, ``"t242"``). Text ids order shortlex, so both text
   spellings give every member and title the position its number gives. The tie rule for events in
   the same second hashes the ids as written (``"<member>:<title>"``), so ``"196"`` keeps integer
   196's ties while ``"m196"`` draws other ones: the prefixed run measures what that draw moves.
2. **Speed.** The integer-id operations a service and a training job run most (loading a dataset,
   batch id lookups, one lookup per request, a batch of recommendations), timed in fresh processes,
   today's code against ``--baseline`` (a git revision, default the commit before string ids),
   alternating; medians of the per-process medians and their ratio. The same operations on text
   ids are shown for reference.

    python bench/ids.py [--baseline REV] [--rounds 5] [--models popular,ease,...] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "5ea1ccb"  # the last commit before string ids
METRICS = ("ndcg@10", "hr@10", "mrr@10", "coverage@10")
#: Rankers whose two fits of the same data differ (implicit's lock-free Hogwild SGD; tests/rank marks them
#: deterministic = False): their rows show run-to-run noise, so the target is judged on the others.
NONDETERMINISTIC = {"bpr"}


# ---- 1. the leaderboard under three spellings of the ids ------------------------------------
def _respell(ds, spelling: str | tuple[str, str]):  # type: ignore[no-untyped-def]
    """The dataset's interactions with ids written as ``spelling``: int, text, prefixed, or (member prefix, title prefix)."""
    from marquee.testing import with_text_ids

    if spelling == "int":
        return ds.interactions
    return with_text_ids(ds, *(spelling if isinstance(spelling, tuple) else {"text": ("", ""), "prefixed": ("m", "t")}[spelling]))


def _leaderboard(spelling: str, models: list[str], queue: mp.Queue) -> None:
    from marquee.data import leave_one_out
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.evaluate import build_candidates, run_protocol

    tuned = tomllib.loads((ROOT / "configs" / "movielens-100k.toml").read_text())["models"]
    data = _respell(fetch_movielens_100k(), spelling)
    split = leave_one_out(data)
    board = run_protocol(build_candidates(models, tuned, tune=False), split)
    queue.put({
        "spelling": spelling,
        "split": board.split_fingerprint,
        "string_ids": bool(data.members.is_string),
        "models": {r.name: {m: float(np.mean(r.evaluation.per_member[m])) for m in METRICS if m in r.evaluation.per_member}
                   | {"coverage@10": float(np.unique(r.evaluation.topk[:, :10]).size / data.n_titles)} for r in board.results},
        "tests": {r.name: r.evaluation.member_idx.size for r in board.results},
    })  # fmt: skip


#: Prefix pairs whose tie draws show how much the same-second tie rule alone moves a figure.
SPELLINGS = [("", ""), ("m", "t"), ("u", "i"), ("x", "y"), ("a", "b"), ("user", "item"), ("M", "T"), ("k", "l")]


def _tie_spread(queue: mp.Queue) -> None:
    """Test NDCG@10 of popularity and EASE under :data:`SPELLINGS` (only the tie draw differs)."""
    from marquee.data import leave_one_out
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.evaluate import build_candidates, run_protocol

    tuned = tomllib.loads((ROOT / "configs" / "movielens-100k.toml").read_text())["models"]
    ds = fetch_movielens_100k()
    out = {}
    for spelling in SPELLINGS:
        board = run_protocol(build_candidates(["popular", "ease"], tuned, tune=False), leave_one_out(_respell(ds, spelling)))
        out["/".join(spelling) if any(spelling) else "as integers"] = {r.name: float(np.mean(r.evaluation.per_member["ndcg@10"])) for r in board.results}
    queue.put(out)


# ---- 2. integer-id speed, today against the baseline -----------------------------------------
TIMING = r'''
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from marquee.data import Dataset, IdIndex
from marquee.data.movielens import fetch_movielens_100k
from marquee.rank import EASE

def best_of(f, n):
    out = []
    for _ in range(n):
        s = time.perf_counter(); f(); out.append(time.perf_counter() - s)
    return sorted(out)[len(out) // 2]

ds = fetch_movielens_100k()
directory = sys.argv[2]
spelling = sys.argv[3]
data = ds.interactions
if spelling == "prefixed":
    sys.path.insert(0, sys.argv[4])
    from ids import _respell
    data = _respell(ds, "prefixed")
members_col = data.table.column("member_id").to_numpy(zero_copy_only=False)
one = members_col[:20000].tolist()
sparse = IdIndex.from_values(np.unique(members_col) if spelling == "int" else np.unique(members_col.astype(str)), "member")
if spelling == "int":
    sparse = IdIndex.from_values(np.unique(members_col) * 1000 + 7, "member")
    sparse_one = [v * 1000 + 7 for v in one]
else:
    sparse_one = one
model = EASE(l2=100.0).fit(data)
all_members = data.members.ids
import marquee
out = {
    "_from": marquee.__file__,
    "load dataset (100K rows)": best_of(lambda: Dataset.load(directory), 3) if spelling == "int" else float("nan"),
    "index 100K interactions (batch lookup)": best_of(lambda: data.members.positions(members_col), 5),
    "one lookup per request, contiguous ids (us)": best_of(lambda: [data.members.position(v) for v in one], 5) / len(one) * 1e6,
    "one lookup per request, sparse ids (us)": best_of(lambda: [sparse.position(v) for v in sparse_one], 5) / len(one) * 1e6,
    "recommend top-10 for 943 members (EASE)": best_of(lambda: model.recommend(all_members, 10), 5),
}
print(json.dumps(out))
'''


def _export(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def _time(src: Path, spelling: str) -> dict[str, float]:
    from marquee.data import dataset_dir

    out = subprocess.run(
        [sys.executable, "-c", TIMING, str(src), str(dataset_dir("movielens-100k")), spelling, str(ROOT / "bench")],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    origin = Path(result.pop("_from")).resolve()
    if not origin.is_relative_to(src.resolve()):
        raise SystemExit(f"timed {origin}, not the code under {src}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare integer-id speed against")
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per side (alternating)")
    parser.add_argument("--models", default="popular,item_knn,ease,als,bpr,sasrec")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--timing-only", action="store_true", help="only the speed check (implies --no-write)")
    args = parser.parse_args()
    args.no_write = args.no_write or args.timing_only

    from marquee.data.movielens import fetch_movielens_100k

    fetch_movielens_100k()
    started = time.perf_counter()
    models = args.models.split(",")
    ctx = mp.get_context("spawn")
    boards = {}
    for spelling in () if args.timing_only else ("int", "text", "prefixed"):
        queue = ctx.Queue()
        proc = ctx.Process(target=_leaderboard, args=(spelling, models, queue))
        proc.start()
        boards[spelling] = queue.get()
        proc.join()
        print(f"{spelling:9s} split {boards[spelling]['split']}", flush=True)
    spread = {}
    if not args.timing_only:
        queue = ctx.Queue()
        proc = ctx.Process(target=_tie_spread, args=(queue,))
        proc.start()
        spread = queue.get()
        proc.join()

    with tempfile.TemporaryDirectory() as tmp:
        old = _export(args.baseline, Path(tmp))
        new = ROOT / "src"
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "today": [], "text": []}
        for r in range(args.rounds):
            runs["baseline"].append(_time(old, "int"))
            runs["today"].append(_time(new, "int"))
            runs["text"].append(_time(new, "prefixed"))
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    med = {side: {op: statistics.median(run[op] for run in rs) for op in rs[0]} for side, rs in runs.items()}
    info = machine("pyarrow")

    if args.timing_only:
        for op in med["today"]:
            print(f"{op:48s} before {med['baseline'][op]:.6f}  today {med['today'][op]:.6f}  ratio {med['today'][op] / med['baseline'][op]:.2f}x")
        return
    lines = [
        f"MovieLens-100K, tuned configurations from configs/movielens-100k.toml (no search), temporal leave-one-out. "
        f"{info['cores']} cores ({info['cpu']}), load average {info['load_average']} at the start; whole benchmark "
        f"{(time.perf_counter() - started) / 60:.1f} min.",
        "",
        "**Leaderboard under three spellings of the same ids** (test means; split fingerprints: "
        + ", ".join(f"{s} `{b['split']}`" for s, b in boards.items()) + "):",
        "",
        "| model | metric | integer ids | as text (\"196\") | prefixed (\"m196\") | largest difference, text | largest difference, prefixed |",
        "|---|---|---|---|---|---|---|",
    ]
    worst = {"text": 0.0, "prefixed": 0.0}
    for name in boards["int"]["models"]:
        for m in METRICS:
            vals = {s: boards[s]["models"][name][m] for s in boards}
            d_text, d_pref = abs(vals["text"] - vals["int"]), abs(vals["prefixed"] - vals["int"])
            if name not in NONDETERMINISTIC:
                worst["text"], worst["prefixed"] = max(worst["text"], d_text), max(worst["prefixed"], d_pref)
            lines.append(f"| {name}{' (not deterministic)' if name in NONDETERMINISTIC else ''} | {m} | {vals['int']:.4f} | {vals['text']:.4f} | {vals['prefixed']:.4f} | {d_text:.1e} | {d_pref:.1e} |")
    lines += [
        "",
        f"- Numbers as text: largest difference over every deterministic model and metric **{worst['text']:.1e}** (target: equal to 4 decimals, "
        f"{'met' if worst['text'] < 5e-5 else 'not met'}).",
        f"- Prefixed text: largest difference **{worst['prefixed']:.1e}**. Same positions, but the documented tie rule hashes ids as "
        "written, so members with several ratings in their last second get another of them held out; this is the spread of that draw.",
        "",
        f"**What the tie draw alone moves.** Test NDCG@10 under {len(spread)} spellings whose only difference is the tie draw "
        "(member/title prefixes; `as integers` is the integer ids' draw):",
        "",
        "| model | " + " | ".join(spread) + " | min | max | sd |",
        "|---|" + "---|" * (len(spread) + 3),
    ]
    for name in ("popular", "ease"):
        vals = [v[name] for v in spread.values()]
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in vals) + f" | {min(vals):.4f} | {max(vals):.4f} | {statistics.stdev(vals):.4f} |")
    lines += [
        "",
        "The bootstrap intervals of the leaderboard resample members under one draw; they do not include this spread. "
        "Paired comparisons are unaffected in kind (every model sees the same draw), but a figure compared with "
        "another library's is only as close as their tie rules.",
        "",
        f"**Integer-id speed, today against `{args.baseline}`** (median of {args.rounds} fresh processes per side, alternating; "
        "each process reports its own median):",
        "",
        "| operation | before | today | today / before | prefixed text ids, today |",
        "|---|---|---|---|---|",
    ]
    for op in med["today"]:
        b, t, s = med["baseline"][op], med["today"][op], med["text"][op]
        unit = "" if "(us)" in op else " s"
        fmt = (lambda v: f"{v:.3f}{unit}") if "(us)" in op else (lambda v: f"{v * 1000:.2f} ms")
        lines.append(f"| {op} | {fmt(b)} | {fmt(t)} | {t / b:.2f}x | {fmt(s) if s == s else '-'} |")
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in info.items() if k not in ("cpu", "cores", "load_average")) + "."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "ids.json"
        out.write_text(json.dumps({"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
                                   "boards": boards, "tie_spread": spread, "timings": runs, "baseline": args.baseline}, indent=2) + "\n")  # fmt: skip
        write_section("ids", "String ids (bench/ids.py)", table)
        print(f"wrote {out} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
