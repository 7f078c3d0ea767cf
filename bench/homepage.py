"""The homepage: page policies in the simulated world, page generation time, server time and page weight.

1. **Policies** (:func:`marquee.sim.page.run_page_study`): a 3,000-member world calibrated on MovieLens-100K;
   the page model is fitted on one logged page per member (the template's rows in a random order), then the
   template, the learned page with the model's prior and the learned page with the fitted model are valued on
   fresh sessions by the world's truth (expected plays per page, paired differences, 95% intervals); and
   replay on the logged pages (:func:`marquee.page.slot_replay`) beside the truth.
2. **Page generation** (library, no HTTP): ``PageBuilder.page`` for every member of the served log, scores from
   the served model (``score_one``), per policy; median and p99 in one run, side by side.
3. **Server time**: the real server (``marquee serve``, artwork on: every tile's decision durably logged)
   pinned to CPU 0; this process on CPU 1 asks for ``/home/{id}`` of random members over one keep-alive
   connection, one request at a time (client-side latency: server time plus loopback), then with 4
   connections (throughput). The light tier is the distilled student that bench/serving.py registers in
   ``--home`` (as in ``make run``); without that home, popularity only.
4. **Page weight**: a home page's HTML, CSS, JS and every poster it shows, as sent (no compression).

Writes bench/results/homepage.json and the ``homepage`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section
from search_endpoint import BENCH_HOME, stop
from search_endpoint import start_server as start_marquee

BIN = Path(sys.executable).parent
SERVER_CPU, LOAD_CPU = 0, 1


#: Worlds the model's prior does not describe: the learned page must still beat the template there.
SENSITIVITY = {
    "no intents (λ = 0)": {"intent": 0.0},
    "strong intents (λ = 3)": {"intent": 3.0},
    "weak position bias (η = 0.3, 0.3)": {"eta_row": 0.3, "eta_col": 0.3},
}


def policies(members: int, seed: int, model_out: Path, *, sensitivity: bool) -> dict:
    from marquee.cli._common import load_dataset
    from marquee.sim.page import run_page_study

    ds = load_dataset("movielens-100k", None)
    t0 = time.perf_counter()
    run = run_page_study(ds.interactions, members=members, seed=seed, progress=lambda m: print(f"  {m}", flush=True))
    run.model.save(model_out)
    out = {"members": members, "seconds": round(time.perf_counter() - t0, 1), "impressions": run.impressions,
           "play_rate": run.play_rate, "params": asdict(run.model.params_), "summary": run.study.summary(), "replay": list(run.replay),
           "fitted_vs_prior": run.study.compare("learned", "learned (prior)"), "sensitivity": []}  # fmt: skip
    for name, truth in SENSITIVITY.items() if sensitivity else ():
        print(f"  world: {name}", flush=True)
        alt = run_page_study(ds.interactions, members=members, seed=seed, truth=truth)
        rows = {r["policy"]: r for r in alt.study.summary()}
        out["sensitivity"].append({"world": name, "truth": truth, "params": asdict(alt.model.params_), "learned": rows["learned"],
                                   "prior": rows["learned (prior)"], "template": rows["template"]})  # fmt: skip
    return out


def generation(home: Path | None, dataset: str, light: str, model_path: Path) -> dict:
    """Per-member page generation, library only: the served model's scores -> rows -> policy."""
    from marquee.cli._common import load_dataset
    from marquee.page import GreedyPolicy, PageBuilder, PageModel, RowCandidates, RuleTemplate

    ds = load_dataset(dataset, home)
    scorer, label = None, "popularity"
    if light:
        from marquee.serve.registry import ModelRegistry

        _, scorer = ModelRegistry((home or BENCH_HOME) / "registry").load(light)
        scorer.for_serving(threads=1)
        label = light
    t0 = time.perf_counter()
    cand = RowCandidates().fit(ds.interactions)
    fit_s = time.perf_counter() - t0
    pols = {"template": RuleTemplate(genres=cand.genres_),
            "learned": GreedyPolicy(model=PageModel.load(model_path), genre_matrix=cand.genre_matrix_)}  # fmt: skip
    builder = PageBuilder(cand, pols["template"])
    members = np.arange(len(ds.interactions.members))
    out: dict = {"model": label, "members": int(members.size), "candidates_fit_s": round(fit_s, 2)}
    times: dict[str, list[float]] = {name: [] for name in pols}
    stages: dict[str, list[float]] = {"scores": [], "rows": []}
    for m in members.tolist():  # the policies alternate per member: side by side under the same load
        t = time.perf_counter()
        scores = np.asarray(scorer.score_one(m), np.float64) if scorer is not None else cand.popularity_.astype(float)
        t1 = time.perf_counter()
        history = cand.history(m)
        cand.rows(scores, history)
        t2 = time.perf_counter()
        stages["scores"].append((t1 - t) * 1000)
        stages["rows"].append((t2 - t1) * 1000)
        for name, pol in pols.items():
            t = time.perf_counter()
            s = np.asarray(scorer.score_one(m), np.float64) if scorer is not None else cand.popularity_.astype(float)
            builder.page(s, cand.history(m), pol)
            times[name].append((time.perf_counter() - t) * 1000)
    for name, v in {**times, **{f"stage: {k}": v for k, v in stages.items()}}.items():
        out[name] = {"p50_ms": float(np.median(v)), "p99_ms": float(np.percentile(v, 99))}
    return out


def start_server(home: Path | None, dataset: str, light: str, page_model: Path, tmp: Path, *, durable: bool) -> tuple[subprocess.Popen, str]:
    return start_marquee(home, dataset, light, tmp / "server.log", "--page-model", str(page_model), "--artwork-log", str(tmp / "art.sqlite"),
                         "--impressions", str(tmp / "impressions.jsonl"), "--durable-pages" if durable else "--queued-pages")  # fmt: skip


async def drive(url: str, paths: list[str], connections: int, seconds: float) -> dict:
    lat: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds
    it = iter(range(10**9))

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=httpx.Limits(max_connections=1)) as c:
            while time.perf_counter() < stop_at:
                path = paths[next(it) % len(paths)]
                t = time.perf_counter()
                r = await c.get(path)
                lat.append((time.perf_counter() - t) * 1000)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    wall = time.perf_counter() - t0
    a = np.array(lat)
    return {"connections": connections, "requests": int(a.size), "rps": round(a.size / wall, 1), "statuses": statuses,
            "p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}  # fmt: skip


def weight(url: str, member: int | str) -> dict:
    with httpx.Client(base_url=url, timeout=10) as c:
        html = c.get(f"/home/{member}?device=tv").content
        css = c.get("/static/home.css").content
        js = c.get("/static/home.js").content
        srcs = sorted(set(re.findall(rb'<img src="(/art/[^"]+)"', html)))
        posters = [len(c.get(s.decode()).content) for s in srcs]
    total = len(html) + len(css) + len(js) + sum(posters)
    return {"html_bytes": len(html), "css_bytes": len(css), "js_bytes": len(js), "posters": len(posters), "poster_bytes": sum(posters),
            "poster_median_bytes": float(np.median(posters)) if posters else 0.0, "total_bytes": total}  # fmt: skip


def report(res: dict) -> str:
    p = res["policies"]
    lines = [
        f"Run {res['generated']} on {res['machine']['cpu']} ({res['machine']['cores']} cores); "
        f"{p['members']:,}-member world calibrated on MovieLens-100K; {p['impressions']:,} logged pages ({p['play_rate']:.1%} with a play) "
        "fit the page model; the policies' pages for the same fresh sessions are valued by the world's truth.",
        "",
        "| page policy | expected plays per page [95% CI] | vs template [95% CI] | lift [95% CI] | rows | genres covered |",
        "|---|---|---|---|---|---|",
    ]
    for r in p["summary"]:
        lines.append(f"| {r['policy']} | {r['plays_per_page']:.4f} [{r['low']:.4f}, {r['high']:.4f}] | {r['diff']:+.4f} [{r['diff_low']:+.4f}, "
                     f"{r['diff_high']:+.4f}] | {r['lift']:+.1%} [{r['lift_low']:+.1%}, {r['lift_high']:+.1%}] | {r['rows']:.1f} | {r['distinct_genres']:.1f} |")  # fmt: skip
    fp = p["fitted_vs_prior"]
    lines += ["", f"Fitted model against its prior, paired: {fp[0]:+.4f} [{fp[1]:+.4f}, {fp[2]:+.4f}] plays per page. Most of the gain "
              "is the learned page's structure (greedy placement under position bias and the member's mixture of intents), "
              "not the fitted numbers."]  # fmt: skip
    if p["sensitivity"]:
        lines += ["", "The world's truth has the page model's form; in worlds whose parameters the prior does not match "
                  "(each with its own logged pages and fitted model), learned vs template:", "",
                  "| world | template | learned | lift [95% CI] | learned (prior) lift | fitted intent, eta_row, eta_col |", "|---|---|---|---|---|---|"]  # fmt: skip
        for r in p["sensitivity"]:
            le, pr, fit = r["learned"], r["prior"], r["params"]
            lines.append(f"| {r['world']} | {r['template']['plays_per_page']:.4f} | {le['plays_per_page']:.4f} | {le['lift']:+.1%} "
                         f"[{le['lift_low']:+.1%}, {le['lift_high']:+.1%}] | {pr['lift']:+.1%} | {fit['intent']:.2f}, {fit['eta_row']:.2f}, "
                         f"{fit['eta_col']:.2f} |")  # fmt: skip
    par = p["params"]
    lines += ["", "Fitted page model: " + ", ".join(f"{k} {v:.3f}" for k, v in par.items())
              + " (the world's truth: intent 1.5, resume 1.0, eta_row 1.0, eta_col 0.7; the model's intents are estimated from history, the world's are not).", ""]  # fmt: skip
    lines += ["Replay on the logged pages (`marquee.page.slot_replay`: the pseudo-inverse estimator, unbiased when plays add up over "
              "rows) of two orders of each logged page's rows, beside their true value on the same sessions:", "",
              "| target | replay [95% CI] | truth [95% CI] | rows at their target slot |", "|---|---|---|---|"]  # fmt: skip
    for r in p["replay"]:
        lines.append(f"| {r['target']} | {r['replay']:.3f} [{r['replay_low']:.3f}, {r['replay_high']:.3f}] | {r['truth']:.3f} "
                     f"[{r['truth_low']:.3f}, {r['truth_high']:.3f}] | {r['matched']:.1%} |")  # fmt: skip
    lines += ["", "In the world rows compete for one play (a logit over the whole page), so plays do not add up over rows: where a "
              "target puts the strongest rows together at the top, replay counts each row's plays as if its neighbours were the "
              "logged random ones, and over-states the target. The world's truth is the figure that judges the policies.", ""]  # fmt: skip
    g = res["generation"]
    lines += [f"Page generation per member, library only ({g['members']:,} members of {res['dataset']}, scores from {g['model']}; "
              f"candidate rows fitted in {g['candidates_fit_s']} s):", "", "| step | p50 ms | p99 ms |", "|---|---|---|"]  # fmt: skip
    for k in ("stage: scores", "stage: rows", "template", "learned"):
        lines.append(f"| {k if k.startswith('stage') else 'whole page, ' + k} | {g[k]['p50_ms']:.2f} | {g[k]['p99_ms']:.2f} |")
    s = res["server"]
    lines += ["", f"`GET /home/{{id}}` on the real server pinned to one core (light tier {res['light'] or 'none'}, one artwork decision "
              "per tile in one transaction of the SQLite decision log, impressions appended, search on), random members and devices, "
              "client-side latency. *queued* (the default): the page is sent once its decisions are queued to the log's writer; "
              "*durable* (`--durable-pages`): once they are committed (WAL, `synchronous=FULL`: an fsync per page).", "",
              "| pages | connections | requests | req/s | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for run in s:
        lines.append(f"| {run['pages']} | {run['connections']} | {run['requests']:,} | {run['rps']} | {run['p50_ms']:.1f} | {run['p90_ms']:.1f} | "
                     f"{run['p99_ms']:.1f} | {run['max_ms']:.1f} |")
    w = res["weight"]
    lines += ["", f"Page weight (TV page, as sent, uncompressed): {w['total_bytes'] / 1000:.1f} kB = HTML {w['html_bytes'] / 1000:.1f} kB + CSS "
              f"{w['css_bytes'] / 1000:.1f} kB + JS {w['js_bytes'] / 1000:.1f} kB + {w['posters']} posters {w['poster_bytes'] / 1000:.1f} kB "
              f"(median {w['poster_median_bytes']:.0f} B); every request goes to the serving host."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=3000, help="Members of the simulated world.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=20.0, help="Seconds of load per connection setting.")
    ap.add_argument("--home", type=Path, default=BENCH_HOME, help="Where bench/serving.py registered the student.")
    ap.add_argument("--light", default="sasrec-student@production")
    ap.add_argument("--no-sensitivity", action="store_true", help="Skip the worlds the prior does not describe (3 more studies).")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("this check pins the server and the load to separate CPUs and needs two")
    use_home = (args.home / "registry").exists()
    home, dataset, light = (args.home, "ml-100k-fit", args.light) if use_home else (None, "movielens-100k", "")
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        model_path = tmp / "page-model.json"
        print("policies in the simulated world", flush=True)
        pol = policies(args.members, args.seed, model_path, sensitivity=not args.no_sensitivity)
        print("page generation", flush=True)
        gen = generation(home, dataset, light, model_path)
        os.sched_setaffinity(0, {LOAD_CPU})
        from marquee.cli._common import load_dataset

        members = load_dataset(dataset, home).interactions.members.ids.tolist()
        rng = random.Random(args.seed)
        paths = [f"/home/{rng.choice(members)}?device={rng.choice(['tv', 'mobile', 'web', 'tablet'])}&hour={rng.randrange(24)}" for _ in range(5000)]
        server = []
        for durable, conns in ((False, (1, 4)), (True, (1,))):
            print(f"server ({'durable' if durable else 'queued'} pages)", flush=True)
            proc, url = start_server(home, dataset, light, model_path, tmp, durable=durable)
            try:
                asyncio.run(drive(url, paths[:300], 1, 3.0))  # warm-up
                server += [{"pages": "durable" if durable else "queued", **asyncio.run(drive(url, paths, n, args.seconds))} for n in conns]
                if not durable:
                    w = weight(url, members[0])
            finally:
                stop(proc)
    res = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine("httpx", "uvicorn"), "dataset": dataset,
           "light": light, "policies": pol, "generation": gen, "server": server, "weight": w}  # fmt: skip
    table = report(res)
    print(table)
    if not args.no_write:
        (ROOT / "bench" / "results" / "homepage.json").write_text(json.dumps(res, indent=2) + "\n")
        write_section("homepage", "Homepage (bench/homepage.py)", table)


if __name__ == "__main__":
    main()
