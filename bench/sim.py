"""Simulated world benchmark: generation speed and calibration against MovieLens-100K.

Fits :class:`marquee.sim.World` on MovieLens-100K with enough members for a million plays,
times the organic log (sampling plus building the validated ``Interactions``), and compares the
simulated popularity and activity distributions with the real ones (:func:`marquee.sim.calibrate`).

Writes bench/results/sim.json and the section between the ``sim`` markers of BENCHMARKS.md.
Run: ``.venv/bin/python bench/sim.py`` (``--quick`` for a smaller world that writes nothing).
"""

from __future__ import annotations

import argparse
import json
import time

from _common import ROOT, machine, write_section

from marquee.data.movielens import fetch_movielens_100k
from marquee.sim import World, calibrate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=9500, help="members in the world (9,500 give about 1M plays)")
    parser.add_argument("--repeats", type=int, default=2, help="timed generations (the best is reported)")
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
Spearman correlation of each title's real and simulated counts {cal.popularity_spearman:.3f}."""
    write_section("sim", "Simulated world (bench/sim.py)", table)


if __name__ == "__main__":
    main()
