"""Personalised search on the simulated world (bench/search_personal.py).

A world of ``--members`` members calibrated on MovieLens-100K; EASE (l2 = 500, the default) fitted on the real
log serves each world member by their persona. Members search short, ambiguous prefixes (the first 2, 3 or 4
characters of a title, or its first word) of a title drawn from their true taste, which they then play.
The blend (:class:`marquee.search.Personalized`, a conditional logit over each query's 200 candidates) is fitted
on ``--train`` searches by one half of the members and measured on ``--test`` searches by the other half:
the played title's MRR (and hit@1/hit@10) in text order, in the non-personalised blend (text + popularity,
weights learned the same way), in the personal blend, and ordered by the member's true taste (the oracle).
Intervals: 95% percentile bootstrap over test searches (1,000 resamples); the difference is paired.

Writes bench/results/search_personal.json and the `search-personal` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section


def _log(msg: str) -> None:
    print(f"[search-personal] {msg}", file=sys.stderr, flush=True)


def _iv(d: dict, pct: bool = False) -> str:
    f = (lambda v: f"{100 * v:+.1f}%") if pct else (lambda v: f"{v:.3f}")
    return f"{f(d['estimate'])} [{f(d['low'])}, {f(d['high'])}]"


def report(res: dict, info: dict) -> list[str]:
    s = res["study"]
    arms = (("text", "text order"), ("base", "non-personalised blend (text + popularity)"),
            ("personal", "personal blend (text + popularity + EASE score)"), ("oracle", "oracle: the member's true taste"))
    lines = [
        (f"World of {res['members']:,} members calibrated on MovieLens-100K; EASE fitted on the real log, by persona. "
        f"Blend fitted on {s['n_train']:,} searches by one half of the members, measured on {s['n_test']:,} searches by "
        f"the other half; queries: the first 2, 3 or 4 characters or the first word of a title drawn from the member's taste. "
        f"The played title was among the 200 candidates in {100 * s['candidate_recall']:.1f}% of test searches (MRR counts 0 otherwise). "
        "95% bootstrap intervals over test searches."),
        "",
        "| ranking | MRR | hit@1 | hit@10 |",
        "|---|---|---|---|",
    ]
    for a, label in arms:
        lines.append(f"| {label} | {_iv(s['mrr'][a])} | {_iv(s['hit@1'][a])} | {_iv(s['hit@10'][a])} |")
    lines += [
        "",
        f"- personal - non-personalised MRR: {_iv(s['difference_mrr'])} (paired), relative lift {_iv(s['lift'], pct=True)}",
        f"- personal - text order MRR: {_iv(s['difference_mrr_vs_text'])} (paired), relative lift {_iv(s['lift_vs_text'], pct=True)}",
        "- MRR by query kind (text / non-personalised / personal / oracle): "
        + "; ".join(f"{k} (n={v['n']}) {v['text']:.3f} / {v['base']:.3f} / {v['personal']:.3f} / {v['oracle']:.3f}" for k, v in s["mrr_by_kind"].items()),
        "- learned weights, personal: " + ", ".join(f"{k} {v:+.2f}" for k, v in s["weights"].items())
        + "; non-personalised: " + ", ".join(f"{k} {v:+.2f}" for k, v in s["base_weights"].items()),
        (f"- world fit {res['world_seconds']:.0f} s, EASE fit {res['ranker_seconds']:.1f} s, study {res['study_seconds']:.0f} s "
        f"on {info['cpu']} ({info['cores']} cores, load {info['load_average']}), Python {info['python']}, numpy {info['numpy']}, tantivy {info['tantivy']}"),
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", default=str(ROOT / ".cache" / "test-data"), help="where MovieLens-100K is cached")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    from marquee.data.movielens import fetch_movielens_100k
    from marquee.rank import EASE
    from marquee.sim import World
    from marquee.sim.search import SearchStudyConfig, search_study

    info = machine("tantivy", "scipy")
    ds = fetch_movielens_100k(args.home)
    t = time.perf_counter()
    world = World(n_members=args.members, seed=args.seed).fit(ds.interactions)
    world_s = time.perf_counter() - t
    _log(f"world fitted in {world_s:.1f} s")
    t = time.perf_counter()
    ranker = EASE().fit(ds.interactions)
    ranker_s = time.perf_counter() - t
    t = time.perf_counter()
    study = search_study(world, ranker, config=SearchStudyConfig(train_searches=args.train, test_searches=args.test), seed=args.seed)
    study_s = time.perf_counter() - t
    _log(f"study in {study_s:.1f} s")
    res = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"), "members": args.members, "seed": args.seed,
        "world_seconds": world_s, "ranker_seconds": ranker_s, "study_seconds": study_s, "study": study.to_dict(),
    }  # fmt: skip
    (ROOT / "bench" / "results" / "search_personal.json").write_text(json.dumps({**res, "machine": info}, indent=1))
    table = "\n".join(report(res, info))
    print(table)
    if not args.no_write:
        write_section("search-personal", "Personalised search (bench/search_personal.py)", table)


if __name__ == "__main__":
    main()
