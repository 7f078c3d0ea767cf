"""Simulated world benchmark: generation speed and calibration against MovieLens-100K.

Fits :class:`marquee.sim.World` on MovieLens-100K with enough members for a million plays,
times the organic log (sampling plus building the validated ``Interactions``), and compares the
simulated popularity and activity distributions with the real ones (:func:`marquee.sim.calibrate`).

Online-style evaluation in a smaller world (``--online-members``, 3,000 by default): EASE against
EASE with the context-aware re-ranking stage, by a simulated A/B test (Welch, per-member plays and
hours over 4 sessions) and by team-draft interleaving; the members each needs for 80% power at
alpha 0.05 to detect the true difference; and whether offline NDCG@10 on the simulated log
(leave-one-out) orders six rankers as their true online play rate does (Kendall's tau); and replay
(Li et al. 2011) on a uniformly logged single-title slot, against the world's true play rates.

Writes bench/results/sim.json and the section between the ``sim`` markers of BENCHMARKS.md.
Run: ``.venv/bin/python bench/sim.py`` (``--quick`` for a smaller world that writes nothing).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from _common import ROOT, machine, write_section
from scipy import stats

from marquee.data import leave_one_out
from marquee.data.movielens import fetch_movielens_100k
from marquee.evaluate import evaluate
from marquee.evaluate.replay import replay
from marquee.rank import ALS, BPR, EASE, ContextReranker, ItemKNN, MostPopular, SASRec
from marquee.sim import (
    World,
    ab_test,
    calibrate,
    context_policy,
    interleave,
    members_for_power,
    online_value,
    ranker_policy,
)


def _stage_cost(base, reranker, sessions: int = 2000) -> float:  # type: ignore[no-untyped-def]
    """Median microseconds the serving stage (ContextStage.rerank) adds to one request: re-ranking
    a tier's top 100 titles for the session's device and hour."""
    stage = reranker.stage()
    rng = np.random.default_rng(5)
    members = rng.integers(0, len(base.members_), sessions)
    cand, scores = base.recommend_index(members, stage.candidates)
    ids = base.titles_.ids[cand]
    devices = rng.choice(["tv", "mobile", "web", "tablet"], sessions)
    hours = rng.integers(0, 24, sessions)
    times = []
    for i in range(sessions):
        t = time.perf_counter()
        stage.rerank(ids[i], scores[i], str(devices[i]), int(hours[i]))
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e6)


def replay_check(world, base, reranker, events: int = 60_000, candidates: int = 10, repeats: int = 200) -> dict:  # type: ignore[no-untyped-def]
    """Replay against the truth. Each session shows one title, drawn uniformly from the member's
    top ``candidates`` of ``base`` (the logging policy), and the world says whether it is played.
    Replay estimates the play rate of two policies choosing among the same candidates: the base
    ranker's first choice, and the context stage's first choice for the session's device and hour.
    The truth is each choice's exact play probability, averaged over the sessions. Repeated over
    fresh logging draws and plays: bias, RMSE and how often the 95% interval covers the truth."""
    rng = np.random.default_rng(7)
    sessions = world.sessions(rng.integers(0, world.n_members, events), seed=8)
    cand = base.recommend_index(sessions.member_idx, candidates)[0]  # (n, candidates) title positions
    ctx_rows = reranker.recommend_index(sessions.member_idx, sessions.device, sessions.hour, reranker.config.candidates)
    # The context stage's first choice among the same candidates: the candidate it ranks highest
    # (one candidate column at a time: an (n, 100, candidates) comparison would take ~0.5 GB).
    rank = np.empty(cand.shape, np.int64)
    for j in range(candidates):
        hit = ctx_rows == cand[:, [j]]
        rank[:, j] = np.where(hit.any(axis=1), hit.argmax(axis=1), ctx_rows.shape[1])
    targets = {"base ranker's first choice": np.zeros(events, np.int64), "context stage's first choice": rank.argmin(axis=1)}
    p_all = np.stack([world.play_probabilities(sessions, cand[:, [j]])[:, 0] for j in range(candidates)], axis=1)  # (n, candidates)
    truth = {name: float(p_all[np.arange(events), t].mean()) for name, t in targets.items()}
    runs: dict[str, list[tuple[float, bool]]] = {name: [] for name in targets}
    diffs, true_diff = [], truth["context stage's first choice"] - truth["base ranker's first choice"]
    for r in range(repeats):
        g = np.random.default_rng(1000 + r)
        logged = g.integers(0, candidates, events)
        played = (g.random(events) < p_all[np.arange(events), logged]).astype(np.float64)
        est = {}
        for name, t in targets.items():
            e = replay(logged, played, t)
            est[name] = e.value.estimate
            runs[name].append((e.value.estimate, e.value.low <= truth[name] <= e.value.high))
        diffs.append(est["context stage's first choice"] - est["base ranker's first choice"])
    out = {"events": events, "candidates": candidates, "repeats": repeats, "policies": {}, "true_difference": true_diff}
    for name, rows in runs.items():
        v = np.array([x for x, _ in rows])
        out["policies"][name] = {
            "truth": truth[name], "mean_estimate": float(v.mean()), "bias": float(v.mean() - truth[name]),
            "bias_se": float(v.std(ddof=1) / np.sqrt(v.size)), "rmse": float(np.sqrt(((v - truth[name]) ** 2).mean())),
            "coverage": float(np.mean([c for _, c in rows])),
        }  # fmt: skip
    d = np.array(diffs)
    out["difference"] = {"mean_estimate": float(d.mean()), "sd": float(d.std(ddof=1)), "sign_right": float(np.mean(np.sign(d) == np.sign(true_diff)))}
    return out


def online(data, members: int) -> dict:
    """A/B vs interleaving sensitivity, and offline/online agreement over six rankers."""
    world = World(n_members=members, seed=0).fit(data.interactions)
    log = world.log(seed=1)
    seen = log.matrix()
    base, stage = EASE().fit(log), ContextReranker(EASE()).fit(log)
    start = time.perf_counter()
    ab = ab_test(
        world, ranker_policy(base), context_policy(stage), members=members, sessions_per_member=4, seen=seen, seed=2
    )
    il = interleave(
        world, ranker_policy(base), context_policy(stage), members=members, sessions_per_member=4, seen=seen, seed=3
    )
    sim_s = time.perf_counter() - start
    out = {
        "members": members,
        "events": len(log),
        "context_weight": stage.weight_,
        "stage_rerank_us": _stage_cost(base, stage),
        "ab_and_interleaving_seconds": sim_s,
        "ab": {},
    }
    for metric, c in ab.comparisons.items():
        sd = float(np.sqrt((ab.control[metric].var(ddof=1) + ab.treatment[metric].var(ddof=1)) / 2))
        out["ab"][metric] = {
            "control": c.control_mean, "treatment": c.variant_mean, "difference": c.absolute.estimate,
            "low": c.absolute.low, "high": c.absolute.high, "relative": c.relative.estimate, "p_value": c.p_value,
            "truth": ab.truth[metric], "members_for_80pct_power": members_for_power(ab.truth[metric], sd),
        }  # fmt: skip
    share = il.n_members / members
    n_il = members_for_power(il.preference.estimate, float(il.per_member.std(ddof=1)), arms=1) / share
    out["interleaving"] = {
        "preference": il.preference.estimate, "low": il.preference.low, "high": il.preference.high, "p_value": il.p_value,
        "wins_a": il.wins_a, "wins_b": il.wins_b, "members_with_a_win": il.n_members, "members_for_80pct_power": n_il,
    }  # fmt: skip
    out["ab_to_interleaving_members"] = out["ab"]["plays"]["members_for_80pct_power"] / n_il
    # Check the planned sizes by simulation: the share of repeated experiments at that size that detect B.
    # (capped at the world's size: only --quick's small world is smaller than the planned A/B)
    n_ab = min(round(out["ab"]["plays"]["members_for_80pct_power"]), members)
    n_il_int = min(max(2, round(n_il)), members)
    reps = 40
    hits_ab = sum(
        ab_test(world, ranker_policy(base), context_policy(stage), members=n_ab, sessions_per_member=4, seen=seen, seed=100 + r)
        .comparisons["plays"].absolute.low > 0
        for r in range(reps)
    )  # fmt: skip
    hits_il = sum(
        interleave(world, ranker_policy(base), context_policy(stage), members=n_il_int, sessions_per_member=4, seen=seen, seed=200 + r).winner == "B"
        for r in range(reps)
    )  # fmt: skip
    out["empirical_power"] = {
        "repeats": reps,
        "ab_members": n_ab,
        "ab_power": hits_ab / reps,
        "interleaving_members": n_il_int,
        "interleaving_power": hits_il / reps,
    }
    split = leave_one_out(log)
    fit_data, holdout = split.stage("test")
    rankers = {
        "popular": MostPopular(), "item_knn": ItemKNN(), "als": ALS(), "bpr": BPR(), "ease": EASE(),
        "sasrec_small": SASRec(hidden=32, max_len=50, epochs=5, batch_size=128),
    }  # fmt: skip
    rows = []
    for name, model in rankers.items():
        model.fit(fit_data)
        ndcg = evaluate(model, holdout).value("ndcg@10")
        value = online_value(world, ranker_policy(model), members=members, sessions=2, seen=fit_data.matrix(), seed=4)
        rows.append({"ranker": name, "ndcg@10": ndcg, "online_plays": value["plays"], "online_hours": value["hours"]})
    tau = stats.kendalltau([r["ndcg@10"] for r in rows], [r["online_plays"] for r in rows]).statistic
    out["rankers"] = rows
    out["kendall_tau"] = float(tau)
    out["replay"] = replay_check(world, base, stage)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=9500, help="members in the world (9,500 give about 1M plays)")
    parser.add_argument("--repeats", type=int, default=2, help="timed generations (the best is reported)")
    parser.add_argument("--online-members", type=int, default=3000, help="members of the world for the online figures")
    parser.add_argument("--quick", action="store_true", help="1,000 members, one repeat, no files written")
    args = parser.parse_args()
    members, repeats = (1000, 1) if args.quick else (args.members, args.repeats)
    info = machine("scipy", "pyarrow", "implicit")
    data = fetch_movielens_100k()
    start = time.perf_counter()
    world = World(n_members=members, seed=0).fit(data.interactions)
    fit_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        log = world.log(seed=1 + r)
        times.append(time.perf_counter() - start)
    best = min(times)
    cal = calibrate(data.interactions, log)
    result = {
        "machine": info,
        "members": members,
        "events": len(log),
        "fit_seconds": fit_s,
        "generation_seconds": times,
        "events_per_second": len(log) / best,
        "taste_scale": world.taste_scale_,
        "calibration": cal.to_dict(),
        "online": online(data, 1000 if args.quick else args.online_members),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(cal.to_text())
    if args.quick:
        return
    (ROOT / "bench" / "results" / "sim.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {n} | {r:.4g} | {s:.4g} |" for n, r, s in cal.rows)
    table = f"""Machine: {info["cpu"]}, {info["cores"]} cores (load {info["load_average"]}), Python {info["python"]}, numpy {info["numpy"]}.

World fitted on MovieLens-100K in {fit_s:.1f} s (ALS tastes, maximum-likelihood choice model, 4 calibration rounds);
{members:,} members. Organic log: **{len(log):,} plays in {best:.1f} s = {len(log) / best:,.0f} events/s**
(best of {repeats}; includes building the validated `Interactions` with device, local hour and completion).

| quantity | MovieLens-100K | simulated |
|---|---|---|
{rows}

KS distance of per-title play shares {cal.popularity_ks:.3f}, of plays per member {cal.activity_ks:.3f};
Spearman correlation of each title's real and simulated counts {cal.popularity_spearman:.3f}.

{online_table(result["online"])}"""
    write_section("sim", "Simulated world (bench/sim.py)", table)


def online_table(o: dict) -> str:
    ab, il = o["ab"], o["interleaving"]
    lines = [
        (
            f"**Online-style evaluation** ({o['members']:,}-member world, {o['events']:,} organic plays; EASE vs EASE + context "
            f"re-ranking stage, learned weight {o['context_weight']:g}; 4 sessions per member). As served "
            f"(`marquee serve --context`), the stage re-ranks a tier's top 100 in {o['stage_rerank_us']:.0f} µs per request "
            "(median of 2,000 sessions, one thread):"
        ),
        "",
        "| method | metric | EASE | EASE + context | difference [95% CI] | true difference | members for 80% power |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric in ("plays", "hours"):
        a = ab[metric]
        lines.append(
            f"| A/B test | {metric} per member | {a['control']:.3f} | {a['treatment']:.3f} | {a['difference']:+.3f} "
            f"[{a['low']:+.3f}, {a['high']:+.3f}] ({a['relative']:+.1%}) | {a['truth']:+.3f} | {a['members_for_80pct_power']:,.0f} |"
        )
    lines.append(
        f"| team-draft interleaving | preference for B | {il['wins_a']:,} wins | {il['wins_b']:,} wins | {il['preference']:+.3f} "
        f"[{il['low']:+.3f}, {il['high']:+.3f}] | B better | {il['members_for_80pct_power']:,.0f} |"
    )
    lines += [
        "",
        (
            f"Interleaving needs **{o['ab_to_interleaving_members']:.1f}x fewer members** than the A/B test on plays "
            "(members for 80% power at alpha 0.05, from the measured effect and spread). "
            f"Checked by simulation: {o['empirical_power']['repeats']} A/B tests of {o['empirical_power']['ab_members']:,} members "
            f"detect the gain {o['empirical_power']['ab_power']:.0%} of the time, {o['empirical_power']['repeats']} interleavings of "
            f"{o['empirical_power']['interleaving_members']:,} members {o['empirical_power']['interleaving_power']:.0%}."
        ),
        "",
        "| ranker | offline NDCG@10 (leave-one-out on the simulated log) | true online plays per session | hours per session |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['ranker']} | {r['ndcg@10']:.4f} | {r['online_plays']:.4f} | {r['online_hours']:.4f} |"
        for r in o["rankers"]
    ]
    lines += [
        "",
        f"Kendall's tau between offline NDCG@10 and true online plays over {len(o['rankers'])} rankers: **{o['kendall_tau']:.2f}**.",
    ]
    if "replay" in o:
        rp = o["replay"]
        lines += [
            "",
            (
                f"**Replay** (Li et al. 2011) against the truth: {rp['events']:,} sessions each show one title drawn uniformly from the "
                f"member's top {rp['candidates']} (EASE); replay estimates two policies choosing among the same titles; "
                f"{rp['repeats']} repeats of the logging draws and plays (sessions fixed):"
            ),
            "",
            "| policy | true play rate | mean estimate | bias (± se) | RMSE | 95% interval covers the truth |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {name} | {r['truth']:.4f} | {r['mean_estimate']:.4f} | {r['bias']:+.5f} (± {r['bias_se']:.5f}) | {r['rmse']:.4f} | {r['coverage']:.0%} |"
            for name, r in rp["policies"].items()
        ]
        d = rp["difference"]
        lines += [
            "",
            f"True difference (context minus base) {rp['true_difference']:+.4f}; replay's mean {d['mean_estimate']:+.4f} (sd {d['sd']:.4f} "
            f"over repeats), right sign in {d['sign_right']:.0%} of repeats.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
