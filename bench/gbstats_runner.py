"""Runs inside a throwaway venv with GrowthBook's ``gbstats`` (it needs numpy<2 and pandas<2).

Reads sufficient statistics as JSON on stdin, writes gbstats' frequentist results as JSON on
stdout. Uses gbstats' own statistic and test classes (gbstats.models.statistics,
gbstats.frequentist.tests), exactly as its engine builds them from query rows. Imports nothing
from Marquee. Driven by bench/experiment.py.
"""

import json
import sys

import gbstats
from gbstats.frequentist.tests import FrequentistConfig, SequentialConfig, SequentialTwoSidedTTest, TwoSidedTTest
from gbstats.models.statistics import RatioStatistic, RegressionAdjustedStatistic, SampleMeanStatistic


def _mean(d):
    return SampleMeanStatistic(n=int(d["n"]), sum=float(d["sum"]), sum_squares=float(d["sum_squares"]))


def _stat(kind, d):
    if kind == "mean":
        return _mean(d)
    if kind == "ratio":
        return RatioStatistic(n=int(d["n"]), m_statistic=_mean(d["m"]), d_statistic=_mean(d["d"]), m_d_sum_of_products=float(d["cross"]))
    if kind == "mean_ra":
        return RegressionAdjustedStatistic(
            n=int(d["n"]), post_statistic=_mean(d["post"]), pre_statistic=_mean(d["pre"]),
            post_pre_sum_of_products=float(d["cross"]), theta=0,
        )
    raise ValueError(kind)


def main():
    job = json.load(sys.stdin)
    out = []
    for c in job["comparisons"]:
        row = {"metric": c["metric"], "variant": c["variant"]}
        for diff in ("absolute", "relative"):
            # Statistics are rebuilt for every test: gbstats sets theta on them in place.
            a, b = _stat(c["kind"], c["a"]), _stat(c["kind"], c["b"])
            res = TwoSidedTTest(a, b, FrequentistConfig(alpha=job["alpha"], difference_type=diff)).compute_result()
            row[diff] = {"expected": res.expected, "ci": list(res.ci), "p_value": res.p_value, "error": res.error_message}
            if diff == "absolute":
                row["mean_a"], row["mean_b"] = a.unadjusted_mean, b.unadjusted_mean
            a, b = _stat(c["kind"], c["a"]), _stat(c["kind"], c["b"])
            seq = SequentialTwoSidedTTest(
                a, b, SequentialConfig(alpha=job["alpha"], difference_type=diff, sequential_tuning_parameter=job["tuning"])
            ).compute_result()
            row[f"sequential_{diff}"] = {"expected": seq.expected, "ci": list(seq.ci), "p_value": seq.p_value}
        out.append(row)
    json.dump({"gbstats": getattr(gbstats, "__version__", "unknown"), "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
