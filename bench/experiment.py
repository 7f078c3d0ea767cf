"""Experimentation benchmark: speed, error rates, power, CUPED, and agreement with GrowthBook.

1. Speed: a simulated 3-variant experiment of ~10 million exposure + event rows with 5 metrics
   (one a ratio, two CUPED-adjusted, one guardrail), analysed end to end from Parquet by
   ``marquee.experiment.analyze`` — checks, DuckDB aggregation, fixed-horizon tests, the daily
   confidence sequences, SRM, guardrails, decision — and side by side by the same analysis
   written directly in pandas + statsmodels (bench/experiment_pandas.py); both must agree.
2. A/A false-positive rates: fixed horizon (one look), sequential under daily peeking, and the
   naive t-test under daily peeking — vectorised over thousands of seeded experiments, and end
   to end through ``analyze`` on simulated tables.
3. Power of fixed / sequential tests, with and without CUPED.
4. CUPED's variance reduction against the theory 1 - ρ².
5. Parity with GrowthBook's stats engine ``gbstats`` (frequentist fixed-horizon and sequential)
   on the same sufficient statistics. gbstats 0.8 needs numpy<2 and pandas<2, so it runs in a
   throwaway venv (~/.cache/marquee/bench-venvs/gbstats, created on first use) via a subprocess.

Writes bench/results/experiment.json and the section between the ``experiment`` markers of
BENCHMARKS.md.

    python bench/experiment.py [--members 175000] [--runs 4000] [--e2e-runs 200] [--no-gbstats] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from _common import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
VARIANTS = ("control", "a", "b")
GBSTATS = "0.8.0"


def _machine() -> dict[str, str]:
    return machine("scipy", "duckdb", "pyarrow", "pandas", "statsmodels")


# -- 1. speed ---------------------------------------------------------------------------------


def _difference(readout, base: dict) -> float:
    """Largest relative difference between Marquee's figures and a baseline's: means, bounds, p-values, daily bounds."""
    worst = 0.0
    for c in readout.fixed:
        b = base["fixed"][(c.metric, c.variant)]
        for mine, theirs in ((c.control_mean, b["mean_a"]), (c.variant_mean, b["mean_b"]), (c.absolute.low, b["low"]),
                             (c.absolute.high, b["high"]), (c.relative.low, b["relative_low"]), (c.p_adjusted, b["p_adjusted"])):  # fmt: skip
            if abs(theirs) > 1e-12:
                worst = max(worst, abs(mine - theirs) / abs(theirs))
    for key, points in readout.trajectories.items():
        s = base["sequential"][key]
        days = list(s.get("day", range(len(s["relative_low"]))))
        for p in points:
            i = days.index(p.day)
            for mine, theirs in ((p.low, s["relative_low"][i]), (p.high, s["relative_high"][i])):
                worst = max(worst, abs(mine - theirs) / max(abs(theirs), 1e-12))
    return worst


def speed(directory: Path, members: int, repeats: int) -> dict:
    import pyarrow.parquet as pq

    import experiment_pandas
    from marquee.experiment import analyze, simulate
    from marquee.experiment.simulate import demo_config

    t = time.perf_counter()
    exposures, events = simulate(members, variants=VARIANTS, lift={"a": 0.02}, harm={"b": 0.10}, days=14, seed=0)
    pq.write_table(exposures, directory / "exposures.parquet")
    pq.write_table(events, directory / "events.parquet")
    plan = demo_config("bench-10m", VARIANTS)
    (directory / "experiment.json").write_text(json.dumps(plan))
    rows = exposures.num_rows + events.num_rows
    print(f"data: {members:,} members, {exposures.num_rows:,} exposures + {events.num_rows:,} events = {rows:,} rows "
          f"({time.perf_counter() - t:.1f} s to simulate and write)", flush=True)  # fmt: skip
    del exposures, events

    # Interleaved, so that the shared machine's load falls on all three alike; wall and CPU seconds.
    runs: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in ("marquee", "direct", "port")}
    impls = {
        "marquee": lambda: analyze(directory / "experiment.json"),
        "direct": lambda: experiment_pandas.analyze_direct(plan, directory),
        "port": lambda: experiment_pandas.analyze(plan, directory),
    }
    out: dict[str, object] = {}
    for r in range(repeats):
        for name, fn in impls.items():
            wall, cpu = time.perf_counter(), time.process_time()
            out[name] = fn()
            runs[name]["wall"].append(time.perf_counter() - wall)
            runs[name]["cpu"].append(time.process_time() - cpu)
            print(f"  run {r + 1} {name}: {runs[name]['wall'][-1]:.2f} s wall, {runs[name]['cpu'][-1]:.2f} s CPU", flush=True)
    readout = out["marquee"]
    summary = {name: {"wall": v["wall"], "cpu": v["cpu"], "median_wall": statistics.median(v["wall"]), "median_cpu": statistics.median(v["cpu"])}
               for name, v in runs.items()}  # fmt: skip
    for name in ("direct", "port"):
        summary[name] |= {
            "speedup_wall": summary[name]["median_wall"] / summary["marquee"]["median_wall"],
            "speedup_cpu": summary[name]["median_cpu"] / summary["marquee"]["median_cpu"],
            "max_relative_difference": _difference(readout, out[name]),
        }
        print(f"  {name}: Marquee {summary[name]['speedup_wall']:.1f}x faster (wall), {summary[name]['speedup_cpu']:.1f}x less CPU; "
              f"max relative difference {summary[name]['max_relative_difference']:.1e}", flush=True)  # fmt: skip
    return {
        "members": members, "rows": rows, "variants": len(VARIANTS), "metrics": len(plan["metrics"]), "days": readout.days,  # type: ignore[attr-defined]
        "timings": summary, "decision": readout.decision.to_dict(),  # type: ignore[attr-defined]
        "comparisons": [c.to_dict() for c in readout.fixed], "sequential": [c.to_dict() for c in readout.sequential],  # type: ignore[attr-defined]
        "srm_p": readout.srm.p_value, "sufficient": out["direct"]["sufficient"], "plan": plan,  # type: ignore[attr-defined,index]
    }  # fmt: skip


# -- 2. A/A false-positive rates --------------------------------------------------------------


def _daily(rng: np.random.Generator, runs: int, days: int, per_day: int, lift: float = 0.0, rate: float = 5.0):
    """Per arm and daily look: cumulative sums of a Gamma-Poisson engagement metric and its pre-period."""
    from marquee.experiment import AdjustedStats, MeanStats

    arms = []
    for effect in (0.0, lift):
        lam = rng.gamma(2.0, 0.5, (runs, days, per_day))
        pre = rng.poisson(rate * lam).astype(float)
        post = rng.poisson(rate * lam * (1 + effect)).astype(float)
        n = np.broadcast_to(per_day * np.arange(1, days + 1, dtype=float), (runs, days))

        def c(v):
            return np.cumsum(v.sum(axis=2), axis=1)

        plain = MeanStats(n, c(post), c(post**2))
        arms.append((plain, AdjustedStats(plain, MeanStats(n, c(pre), c(pre**2)), c(pre * post))))
    return arms


def _reject(a, b, alpha: float = 0.05) -> dict[str, np.ndarray]:
    from marquee.experiment import adjust, confidence_sequence, welch

    out = {}
    for label, (x, y) in (("plain", (a[0], b[0])), ("cuped", adjust(a[1], b[1])[:2])):
        w = welch(x, y)
        lo, hi = confidence_sequence(w.estimate, w.se, np.asarray(x.n) + np.asarray(y.n), alpha=alpha, tuning=5000)
        out[f"fixed_{label}"] = w.p_value[:, -1] < alpha
        out[f"naive_peeking_{label}"] = (w.p_value < alpha).any(axis=1)
        out[f"sequential_{label}"] = ((lo > 0) | (hi < 0)).any(axis=1)
    return out


def aa_rates(runs: int) -> dict:
    rng = np.random.default_rng(2025)
    a, b = _daily(rng, runs, 28, 50)
    rej = _reject(a, b)
    out = {k: float(v.mean()) for k, v in rej.items()}
    out |= {"runs": runs, "looks": 28, "members_per_arm": 28 * 50}
    print(f"A/A over {runs:,} experiments, 28 daily looks: " + ", ".join(f"{k} {v:.4f}" for k, v in out.items() if isinstance(v, float)), flush=True)
    return out


def aa_end_to_end(runs: int) -> dict:
    """A/A through the whole pipeline: simulate tables, aggregate with DuckDB, test the primary metric."""
    from marquee.experiment import ExperimentConfig, adjust, aggregate, read_totals, simulate, welch
    from marquee.experiment.simulate import demo_config

    config = ExperimentConfig.from_dict(demo_config("aa", sequential=True))
    metric = config.metric(config.primary)
    fixed = sequential = naive = srm = 0
    for seed in range(runs):
        exposures, events = simulate(1500, days=14, seed=10_000 + seed)
        totals = aggregate(config, exposures=exposures, events=events, threads=1)
        readout = read_totals(config, totals)
        c = readout.comparison(metric.name, "treatment", "fixed")
        fixed += c.p_value < config.alpha
        srm += readout.srm.mismatch
        sequential += any(p.p_value < config.alpha for p in readout.trajectories[(metric.name, "treatment")])
        x, y, _ = adjust(totals.statistic(metric, "control", None), totals.statistic(metric, "treatment", None))
        w = welch(x, y)
        ok = (np.asarray(x.n) >= 2) & (np.asarray(y.n) >= 2)
        naive += bool((w.p_value[ok] < config.alpha).any())
    out = {"runs": runs, "fixed": fixed / runs, "sequential_daily": sequential / runs, "naive_daily": naive / runs, "srm_flagged": srm / runs}
    print(f"A/A end to end over {runs} simulated experiments (1,500 members, 14 daily looks, CUPED primary): {out}", flush=True)
    return out


# -- 3. power ---------------------------------------------------------------------------------


def power(runs: int) -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for lift in (0.0, 0.01, 0.02, 0.03, 0.05):
        a, b = _daily(rng, runs, 14, 300, lift=lift)
        rej = _reject(a, b)
        rows.append({"lift": lift} | {k: float(v.mean()) for k, v in rej.items()})
    print("power (4,200 members per arm, 14 daily looks): " + "; ".join(
        f"+{r['lift']:.0%}: fixed {r['fixed_plain']:.2f}, fixed+CUPED {r['fixed_cuped']:.2f}, seq {r['sequential_plain']:.2f}, "
        f"seq+CUPED {r['sequential_cuped']:.2f}" for r in rows), flush=True)  # fmt: skip
    return rows


# -- 4. CUPED ---------------------------------------------------------------------------------


def cuped_reduction(runs: int) -> list[dict]:
    from marquee.experiment import AdjustedStats, MeanStats, adjust

    rng = np.random.default_rng(11)
    rows = []
    for rho in (0.3, 0.5, 0.7, 0.9):
        arms = []
        for effect in (0.0, 0.05):
            pre = rng.normal(0, 1, (runs, 500))
            post = rho * pre + np.sqrt(1 - rho**2) * rng.normal(0, 1, (runs, 500)) + effect
            arms.append(AdjustedStats(MeanStats.from_values(post), MeanStats.from_values(pre), (pre * post).sum(axis=1)))
        a, b, reported = adjust(*arms)
        plain = np.asarray(arms[1].post.mean) - np.asarray(arms[0].post.mean)
        adjusted = np.asarray(b.mean) - np.asarray(a.mean)
        rows.append({"rho": rho, "theory": rho**2, "measured": float(1 - adjusted.var() / plain.var()), "reported_mean": float(np.mean(reported))})
    print("CUPED variance reduction: " + ", ".join(f"rho {r['rho']}: {r['measured']:.3f} (theory {r['theory']:.3f})" for r in rows), flush=True)
    return rows


# -- 5. gbstats -------------------------------------------------------------------------------


def _gbstats_python() -> Path:
    venv = Path.home() / ".cache" / "marquee" / "bench-venvs" / "gbstats"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} (gbstats {GBSTATS} needs numpy<2 and pandas<2)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"gbstats=={GBSTATS}"], check=True)
    return python


def _agree(a: float, b: float, tiny: float = 1e-12) -> bool:
    """Equal to 3 significant digits: within half a unit of the third digit of the larger."""
    if abs(a) < tiny and abs(b) < tiny:
        return True
    return abs(a - b) <= 5e-4 * max(abs(a), abs(b))


def gbstats_parity(result: dict) -> dict:
    python = _gbstats_python()
    job = {"alpha": result["plan"]["alpha"], "tuning": 5000.0, "comparisons": result["sufficient"]}
    proc = subprocess.run([str(python), str(Path(__file__).with_name("gbstats_runner.py"))], input=json.dumps(job), capture_output=True, text=True, check=True)
    gb = json.loads(proc.stdout)
    mine = {(c["metric"], c["variant"]): c for c in result["comparisons"]}
    seq = {(c["metric"], c["variant"]): c for c in result["sequential"]}
    checked, failed, rows = 0, [], []
    for g in gb["results"]:
        key = (g["metric"], g["variant"])
        c, s = mine[key], seq[key]
        pairs = {
            "control mean": (c["control_mean"], g["mean_a"]), "variant mean": (c["variant_mean"], g["mean_b"]),
            "absolute lift": (c["absolute"]["estimate"], g["absolute"]["expected"]),
            "absolute low": (c["absolute"]["low"], g["absolute"]["ci"][0]), "absolute high": (c["absolute"]["high"], g["absolute"]["ci"][1]),
            "p-value": (c["p_value"], g["absolute"]["p_value"]),
            "relative lift": (c["relative"]["estimate"], g["relative"]["expected"]),
            "relative low": (c["relative"]["low"], g["relative"]["ci"][0]), "relative high": (c["relative"]["high"], g["relative"]["ci"][1]),
            "sequential low": (s["absolute"]["low"], g["sequential_absolute"]["ci"][0]),
            "sequential high": (s["absolute"]["high"], g["sequential_absolute"]["ci"][1]),
            "sequential p-value": (s["p_value"], g["sequential_absolute"]["p_value"]),
        }  # fmt: skip
        for name, (x, y) in pairs.items():
            # gbstats computes p as 2 * (1 - cdf), which is 0 below ~1e-16; compare such p-values as "both < 1e-12".
            tiny = 1e-12 if "p-value" in name else 1e-12 * max(1.0, abs(y))
            checked += 1
            if not _agree(x, y, tiny):
                failed.append(f"{key} {name}: marquee {x!r} vs gbstats {y!r}")
        rows.append({"metric": key[0], "variant": key[1], "marquee": {k: v[0] for k, v in pairs.items()}, "gbstats": {k: v[1] for k, v in pairs.items()}})
    diffs = [(abs(x - y) / max(abs(x), abs(y)), f"{r['metric']}/{r['variant']} {k}: {x:.4g} vs {y:.4g}")
             for r in rows for (k, x), y in zip(r["marquee"].items(), r["gbstats"].values(), strict=True) if max(abs(x), abs(y)) > 1e-12]  # fmt: skip
    worst, where = max(diffs)
    print(f"gbstats {gb['gbstats']}: {checked - len(failed)}/{checked} values agree to 3 significant digits (max relative difference {worst:.1e})", flush=True)
    for f in failed:
        print("  DIFFERS:", f)
    return {"gbstats": gb["gbstats"], "checked": checked, "agree": checked - len(failed), "failed": failed, "max_relative_difference": worst,
            "largest_difference_at": where, "rows": rows}  # fmt: skip


# -- report -----------------------------------------------------------------------------------


def _markdown(res: dict) -> str:
    m, s, aa, e2e = res["machine"], res["speed"], res["aa"], res.get("aa_end_to_end")
    t = s["timings"]
    lines = [
        f"Machine: {m['cores']} cores ({m['cpu']}), load average {m['load_average']} at the start (shared machine). "
        f"Versions: python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, duckdb {m['duckdb']}, pyarrow {m['pyarrow']}, "
        f"pandas {m['pandas']}, statsmodels {m['statsmodels']}.",
        "",
        f"**Speed** — {s['rows']:,} exposure + event rows ({s['members']:,} members), {s['variants']} variants, {s['metrics']} metrics "
        f"(one ratio, two with CUPED, one guardrail), {s['days']} daily looks, from Parquet to decision:",
        "",
        "| implementation | wall s (median) | CPU s (median) | Marquee is |",
        "|---|---|---|---|",
        f"| `marquee.experiment.analyze` (DuckDB, {m['cores']} threads) | **{t['marquee']['median_wall']:.2f}** (target < 20 s) | "
        f"{t['marquee']['median_cpu']:.2f} | |",
        f"| pandas + statsmodels, direct: each daily look recomputed from the rows (`analyze_direct`) | {t['direct']['median_wall']:.2f} | "
        f"{t['direct']['median_cpu']:.2f} | **{t['direct']['speedup_wall']:.1f}x** faster (target >= 5x), {t['direct']['speedup_cpu']:.1f}x less CPU |",
        f"| pandas + statsmodels, Marquee's one-pass algorithm ported to pandas (`analyze`) | {t['port']['median_wall']:.2f} | "
        f"{t['port']['median_cpu']:.2f} | {t['port']['speedup_wall']:.1f}x faster, {t['port']['speedup_cpu']:.1f}x less CPU |",
        "",
        f"{len(t['marquee']['wall'])} interleaved runs each (Marquee wall: {', '.join(f'{x:.2f}' for x in t['marquee']['wall'])}; direct: "
        f"{', '.join(f'{x:.2f}' for x in t['direct']['wall'])}; port: {', '.join(f'{x:.2f}' for x in t['port']['wall'])}). "
        "All three compute the same figures (largest relative difference over every mean, interval bound, adjusted p-value and daily "
        f"sequence bound: {max(t[k]['max_relative_difference'] for k in ('direct', 'port')):.1e}). Decision on this data: "
        f"**{s['decision']['decision']}** — {s['decision']['reason']}.",
        "",
        f"**A/A false-positive rate** at alpha 0.05 over {aa['runs']:,} seeded experiments ({aa['members_per_arm']:,} members per arm "
        f"arriving over {aa['looks']} days, skewed Gamma-Poisson metric; target fixed in [0.03, 0.07], sequential <= 0.05):",
        "",
        "| test | plain | CUPED |",
        "|---|---|---|",
        f"| fixed horizon, one look at the end | {aa['fixed_plain']:.4f} | {aa['fixed_cuped']:.4f} |",
        f"| confidence sequence, checked every day | {aa['sequential_plain']:.4f} | {aa['sequential_cuped']:.4f} |",
        f"| naive t-test, checked every day | {aa['naive_peeking_plain']:.4f} | {aa['naive_peeking_cuped']:.4f} |",
    ]
    if e2e:
        lines += ["", f"End to end through `analyze` (simulated tables -> DuckDB -> tests), {e2e['runs']} A/A experiments, CUPED primary metric, "
                  f"14 daily looks: fixed {e2e['fixed']:.3f}, sequential checked daily {e2e['sequential_daily']:.3f}, naive daily t-test "
                  f"{e2e['naive_daily']:.3f}, SRM flagged {e2e['srm_flagged']:.3f}."]  # fmt: skip
    lines += ["", f"**Power** at alpha 0.05 ({res['power_runs']:,} seeded experiments per lift, 4,200 members per arm over 14 daily looks, "
              "pre/post correlation ~0.7):", "", "| lift | fixed | fixed + CUPED | sequential (daily) | sequential + CUPED | naive daily (invalid) |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["power"]:
        lines.append(f"| +{r['lift']:.0%} | {r['fixed_plain']:.3f} | {r['fixed_cuped']:.3f} | {r['sequential_plain']:.3f} | {r['sequential_cuped']:.3f} | {r['naive_peeking_plain']:.3f} |")
    lines += ["", f"**CUPED variance reduction** of the difference in means ({res['cuped_runs']:,} seeded experiments, 500 members per arm):", "",
              "| pre/post correlation | theory rho^2 (variance left: 1 - rho^2) | measured | reported by Marquee (mean) |", "|---|---|---|---|"]  # fmt: skip
    for r in res["cuped"]:
        lines.append(f"| {r['rho']} | {r['theory']:.3f} | {r['measured']:.3f} | {r['reported_mean']:.3f} |")
    gb = res.get("gbstats")
    if gb:
        lines += ["", f"**Parity with GrowthBook's gbstats {gb['gbstats']}** (frequentist two-sided t-test and sequential test, absolute and "
                  f"relative, on the speed benchmark's {len(gb['rows'])} metric x variant comparisons; sufficient statistics from the pandas "
                  f"baseline): {gb['agree']}/{gb['checked']} values (means, lifts, interval bounds, p-values, sequence bounds) agree to 3 "
                  f"significant digits; largest relative difference {gb['max_relative_difference']:.1e} ({gb['largest_difference_at']}; "
                  "gbstats computes p-values as 2 * (1 - cdf), which keeps few digits below ~1e-10)."]  # fmt: skip
        if gb["failed"]:
            lines += ["", "Differences: " + "; ".join(gb["failed"])]
    lines += ["", f"`python bench/experiment.py` · generated {res['generated']} · whole benchmark {res['wall_seconds']:.0f} s."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=175_000, help="members in the speed benchmark (~58 rows each)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timed runs of each implementation (medians are reported)")
    parser.add_argument("--runs", type=int, default=4000, help="seeded experiments for the vectorised A/A rates")
    parser.add_argument("--power-runs", type=int, default=1000)
    parser.add_argument("--cuped-runs", type=int, default=2000)
    parser.add_argument("--e2e-runs", type=int, default=200, help="A/A experiments through the whole pipeline (0 to skip)")
    parser.add_argument("--no-gbstats", action="store_true", help="skip the GrowthBook parity check (needs PyPI once)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()

    wall = time.perf_counter()
    res: dict = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "machine": _machine()}
    print(json.dumps(res["machine"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="marquee-bench-experiment-") as tmp:
        res["speed"] = speed(Path(tmp), args.members, args.repeats)
    if not args.no_gbstats:
        res["gbstats"] = gbstats_parity(res["speed"])
    res["aa"] = aa_rates(args.runs)
    if args.e2e_runs:
        res["aa_end_to_end"] = aa_end_to_end(args.e2e_runs)
    res["power_runs"], res["power"] = args.power_runs, power(args.power_runs)
    res["cuped_runs"], res["cuped"] = args.cuped_runs, cuped_reduction(args.cuped_runs)
    res["wall_seconds"] = time.perf_counter() - wall
    table = _markdown(res)
    print(table)
    if not args.no_write:
        out = ROOT / "bench" / "results" / "experiment.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        slim = res | {"speed": {k: v for k, v in res["speed"].items() if k not in ("sufficient",)}}
        out.write_text(json.dumps(slim, indent=2, default=str) + "\n")
        write_section("experiment", "Experimentation (bench/experiment.py)", table)
        print(f"wrote {out} and BENCHMARKS.md", file=sys.stderr)


if __name__ == "__main__":
    main()
