"""Title search benchmark: quality by query kind, index build time and per-query latency, beside rapidfuzz.

Two catalogs: MovieLens-100K's 1,682 titles, and ``--titles`` (100,000) synthetic titles drawn from the
vocabulary of the MovieLens titles (:func:`marquee.search.synthetic.synthetic_catalog`, seed 1).

1. **Quality** on a generated query set (:func:`marquee.search.evaluate.generate_queries`, seed 0,
   ``--per-kind`` queries per kind): hit@1, hit@10 and MRR with 95% bootstrap intervals, per kind.
   The four ``typo1-*`` kinds together are the issue's "one edit in one word" target.
2. **Reference**: rapidfuzz's WRatio over every title (``rapidfuzz.process.extract``, default processor,
   display titles) on the same queries (``--reference-queries`` per kind on the large catalog: a scan
   is slow).
3. **Build time** of the index (median of ``--repeats``) and **latency** of ``search(q, k=10)``, one
   process, one query at a time, p50/p99 over all the quality queries (after 200 warm-up queries), with the
   text-stage cache off (``SearchConfig(cache_queries=0)``): every query is computed, none answered from a
   cache.

Writes bench/results/search.json and the `search` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section

TYPO1 = ("typo1-insert", "typo1-delete", "typo1-substitute", "typo1-transpose")


def _log(msg: str) -> None:
    print(f"[search] {msg}", file=sys.stderr, flush=True)


def _rapidfuzz_ranks(catalog, queries, k: int = 10) -> np.ndarray:
    from rapidfuzz import fuzz, process, utils

    from marquee.search._titles import split_title
    from marquee.search.query import normalize

    names = [split_title(n)[0] if n else "" for n in catalog.table.column("name").to_pylist()]
    keys = np.array([normalize(n) for n in names], dtype=object)
    out = np.zeros(len(queries), np.int64)
    for i, (text, target) in enumerate(zip(queries.texts, queries.targets.tolist(), strict=True)):
        hits = process.extract(text, names, scorer=fuzz.WRatio, processor=utils.default_process, limit=k)
        same = [r for r, (_, _, p) in enumerate(hits, 1) if keys[p] == keys[target]]
        out[i] = same[0] if same else 0
    return out


def _quality(ev) -> dict:
    return {row["kind"]: row for row in ev.table()}


def _typo1(r: np.ndarray, kinds: np.ndarray, n_bootstrap: int) -> dict:
    from marquee.search.evaluate import score_ranks

    mask = np.isin(kinds, TYPO1)
    ev = score_ranks(r[mask], np.array(["typo1"] * int(mask.sum()), dtype=object), n_bootstrap=n_bootstrap)
    return ev.table()[0]


def run_catalog(name: str, catalog, args) -> dict:
    from marquee.search import SearchIndex
    from marquee.search.evaluate import QuerySet, generate_queries, ranks, score_ranks

    builds = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        index = SearchIndex(cache_queries=0).build(catalog)
        builds.append(time.perf_counter() - t0)
    _log(f"{name}: {len(catalog)} titles, build {statistics.median(builds):.2f} s")
    queries = generate_queries(catalog, per_kind=args.per_kind, seed=0)
    for text in queries.texts[:200]:
        index.search(text, 10)
    lat = np.empty(len(queries))
    for i, text in enumerate(queries.texts):
        t0 = time.perf_counter()
        index.search(text, 10)
        lat[i] = time.perf_counter() - t0
    r = ranks(index, queries)
    ev = score_ranks(r, queries.kinds, n_bootstrap=args.bootstrap)
    _log(f"{name}: {len(queries)} queries, p50 {np.median(lat) * 1e3:.2f} ms, p99 {np.quantile(lat, 0.99) * 1e3:.2f} ms, "
         f"hit@10 {ev.hit_at_k['all']}")  # fmt: skip
    n_ref = args.per_kind if len(catalog) < 10_000 else args.reference_queries
    keep = np.concatenate([np.flatnonzero(queries.kinds == k)[:n_ref] for k in dict.fromkeys(queries.kinds.tolist())])
    ref_queries = QuerySet(tuple(queries.texts[i] for i in keep), queries.targets[keep], queries.kinds[keep])
    t0 = time.perf_counter()
    ref = _rapidfuzz_ranks(catalog, ref_queries)
    ref_seconds = (time.perf_counter() - t0) / len(ref_queries)
    ref_ev = score_ranks(ref, ref_queries.kinds, n_bootstrap=args.bootstrap)
    ours_same = score_ranks(r[keep], ref_queries.kinds, n_bootstrap=args.bootstrap)
    _log(f"{name}: rapidfuzz WRatio {ref_seconds * 1e3:.1f} ms/query, hit@10 {ref_ev.hit_at_k['all']}")
    return {
        "titles": len(catalog),
        "build_seconds": {"median": statistics.median(builds), "all": builds},
        "latency_ms": {"p50": float(np.median(lat) * 1e3), "p99": float(np.quantile(lat, 0.99) * 1e3),
                       "max": float(lat.max() * 1e3), "queries": len(lat)},
        "quality": _quality(ev),
        "typo1": _typo1(r, queries.kinds, args.bootstrap),
        "reference": {
            "method": "rapidfuzz.process.extract(scorer=fuzz.WRatio, processor=utils.default_process) over display titles",
            "queries": len(ref_queries), "ms_per_query": ref_seconds * 1e3,
            "quality": _quality(ref_ev), "typo1": _typo1(ref, ref_queries.kinds, args.bootstrap),
            "marquee_on_same_queries": {"typo1": _typo1(r[keep], ref_queries.kinds, args.bootstrap),
                                        "all": ours_same.table()[-1]},
        },
    }


def _fmt(d: dict) -> str:
    return f"{d['estimate']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def table(res: dict) -> str:
    lines = []
    for name, r in res["catalogs"].items():
        ref = r["reference"]
        lines += [
            (f"**{name}** ({r['titles']:,} titles): index build {r['build_seconds']['median']:.2f} s (median), "
            f"search p50 {r['latency_ms']['p50']:.2f} ms, p99 {r['latency_ms']['p99']:.2f} ms over {r['latency_ms']['queries']:,} queries "
            f"(one process, k=10, text-stage cache off). One edit in one word (the four `typo1-*` kinds): hit@10 **{_fmt(r['typo1']['hit@10'])}**; "
            f"rapidfuzz WRatio full scan on {ref['queries']:,} of the same queries: {_fmt(ref['typo1']['hit@10'])} "
            f"(Marquee on those: {_fmt(ref['marquee_on_same_queries']['typo1']['hit@10'])}), {ref['ms_per_query']:.1f} ms/query."),
            "",
            "| kind | n | hit@1 | hit@10 | MRR | WRatio hit@10 |",
            "|---|---|---|---|---|---|",
        ]
        for kind, row in r["quality"].items():
            rq = ref["quality"].get(kind)
            lines.append(f"| {kind} | {row['n']} | {_fmt(row['hit@1'])} | {_fmt(row['hit@10'])} | {_fmt(row['mrr'])} | "
                         f"{_fmt(rq['hit@10']) if rq else '-'} |")  # fmt: skip
        lines.append("")
    m = res["machine"]
    busy = float(m["load_average"]) > 0.5 * int(m["cores"]) if m["load_average"] != "n/a" else False
    shared = ": other work shared the machine, so latencies and build times are pessimistic" if busy else ""
    lines.append(f"{m['cpu']}, {m['cores']} cores (load average {m['load_average']} at the start{shared}), Python {m['python']}, tantivy-py ({m.get('tantivy', '?')}), "
                 f"rapidfuzz {m['rapidfuzz']}; {res['date']}. Typo budget 0/1/2 from 5/9 letters, so a deletion that leaves a "
                 "word of 4 (or 8) letters is past its budget by design; `typo1-short` puts a typo in a word of 3-4 letters, "
                 "which the rules never forgive (the other words must find the title).")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--titles", type=int, default=100_000, help="titles in the synthetic catalog")
    parser.add_argument("--per-kind", type=int, default=300, help="queries per kind")
    parser.add_argument("--reference-queries", type=int, default=60, help="rapidfuzz queries per kind on the large catalog")
    parser.add_argument("--repeats", type=int, default=3, help="index builds timed")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    os.environ.setdefault("MARQUEE_HOME", str(Path.home() / ".cache" / "marquee"))

    from marquee.data.movielens import fetch_movielens_100k
    from marquee.search.synthetic import synthetic_catalog

    started = time.perf_counter()
    ml = fetch_movielens_100k().catalog
    big = synthetic_catalog(ml, args.titles, seed=1)
    res = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "machine": machine("tantivy", "rapidfuzz"),
        "catalogs": {
            "MovieLens-100K": run_catalog("MovieLens-100K", ml, args),
            f"synthetic {args.titles // 1000}k": run_catalog(f"synthetic {args.titles // 1000}k", big, args),
        },
    }
    res["total_seconds"] = time.perf_counter() - started
    text = table(res)
    print(text)
    if not args.no_write:
        path = ROOT / "bench" / "results" / "search.json"
        path.write_text(json.dumps(res, indent=1) + "\n")
        write_section("search", "Title search (bench/search.py)", text)


if __name__ == "__main__":
    main()
