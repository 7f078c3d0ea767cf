"""The reference pipeline on the same benchmark, for bench/ope.py's speed and accuracy comparison.

Runs Open Bandit Pipeline's own protocol (``examples/obd/evaluate_off_policy_estimators.py``):
BernoulliTS with ``is_zozotown_prior=True`` and ``compute_batch_action_dist(n_sim=1e6)``, 20
bootstrap resamples, ``RegressionModel`` with logistic regression (C=100, max_iter=10000, as in
its ``conf/hyperparams.yaml``) and 3-fold cross-fitting, estimators DM, IPW and DR, for the six
settings, on one thread. A resample where a fold's slot has no click at all cannot be fitted by
obp's per-slot regression (scikit-learn refuses one class); it is skipped and counted. Writes bench/results/ope_reference.json (per-setting relative errors and
the wall time), which bench/ope.py reads.

obp is not a Marquee dependency. Run this with a Python that has ``obp==0.4.1`` (it needs
``pandas<2``, ``numpy<2`` and torch)::

    /path/to/obp-python bench/ope_reference.py [--bootstrap 20]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", type=int, default=20)
    parser.add_argument("--n-sim", type=float, default=1e6)
    args = parser.parse_args()

    import numpy as np
    import obp
    from obp.dataset import OpenBanditDataset
    from obp.ope import DirectMethod, DoublyRobust, InverseProbabilityWeighting, OffPolicyEvaluation, RegressionModel
    from obp.policy import BernoulliTS, Random
    from sklearn.linear_model import LogisticRegression

    random_state = 12345
    rows = []
    wall = time.perf_counter()
    for campaign in ("all", "men", "women"):
        for behavior, evaluation in (("random", "bts"), ("bts", "random")):
            t0 = time.perf_counter()
            obd = OpenBanditDataset(behavior_policy=behavior, campaign=campaign)
            kwargs = dict(n_actions=obd.n_actions, len_list=obd.len_list, random_state=random_state)
            if evaluation == "bts":
                kwargs.update(is_zozotown_prior=True, campaign=campaign)
                policy = BernoulliTS(**kwargs)
            else:
                policy = Random(**kwargs)
            t_dist = time.perf_counter()
            single = policy.compute_batch_action_dist(n_sim=args.n_sim) if evaluation == "bts" else policy.compute_batch_action_dist()
            dist_s = time.perf_counter() - t_dist
            truth = OpenBanditDataset.calc_on_policy_policy_value_estimate(behavior_policy=evaluation, campaign=campaign)
            errors: dict[str, list[float]] = {}
            failed = 0
            for b in range(args.bootstrap):
                feedback = obd.sample_bootstrap_bandit_feedback(random_state=b)
                model = RegressionModel(
                    n_actions=obd.n_actions, len_list=obd.len_list, action_context=obd.action_context,
                    base_model=LogisticRegression(max_iter=10000, C=100, random_state=random_state),
                )  # fmt: skip
                try:
                    q = model.fit_predict(
                        context=feedback["context"], action=feedback["action"], reward=feedback["reward"],
                        position=feedback["position"], pscore=feedback["pscore"], n_folds=3, random_state=random_state,
                    )  # fmt: skip
                except ValueError:  # a fold's slot without a single click: its per-slot model cannot fit
                    failed += 1
                    continue
                ope = OffPolicyEvaluation(bandit_feedback=feedback, ope_estimators=[DirectMethod(), InverseProbabilityWeighting(), DoublyRobust()])
                dist = np.tile(single, (feedback["n_rounds"], 1, 1))
                for name, err in ope.evaluate_performance_of_estimators(
                    ground_truth_policy_value=truth, action_dist=dist, estimated_rewards_by_reg_model=q
                ).items():
                    errors.setdefault(name, []).append(float(err))
            seconds = time.perf_counter() - t0
            rows.append({
                "campaign": campaign, "behavior": behavior, "target": evaluation, "truth": float(truth),
                "seconds": seconds, "action_dist_seconds": dist_s, "failed_resamples": failed,
                "errors": {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1))} for k, v in errors.items()},
            })  # fmt: skip
            print(f"{campaign:5s} {behavior:>6} -> {evaluation:<6} {seconds:6.1f}s (action dist {dist_s:.1f}s, {failed} failed) "
                  + "  ".join(f"{k}={np.mean(v):.3f}" for k, v in errors.items()), flush=True)  # fmt: skip
    wall = time.perf_counter() - wall
    means = {k: float(np.mean([r["errors"][k]["mean"] for r in rows])) for k in rows[0]["errors"]}
    out = ROOT / "bench" / "results" / "ope_reference.json"
    out.write_text(json.dumps({
        "reference": f"obp {obp.__version__}", "python": platform.python_version(), "cores": os.cpu_count(),
        "bootstrap": args.bootstrap, "n_sim": args.n_sim, "wall_seconds": wall, "mean_relative_error": means, "settings": rows,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wall {wall:.0f}s; mean relative error " + "  ".join(f"{k}={v:.3f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
