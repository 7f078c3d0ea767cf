"""Retention studies on the simulated world, checked against its truth.

- :func:`band_check`: fit a churn model with per-member bands on the world's history and count how often each
  active member's band holds their true probability of leaving within the horizon.
- :func:`intervention_study`: the whole loop a retention team runs. Half the active members enter a randomised
  trial of the interventions; an uplift model learns from it; the other half get a budgeted plan from its
  estimated effects. The plan's true value (extra members kept, from the world's true effects) is compared with
  the oracle plan that knows every true effect, and with the usual practice of offering the discount to the
  members most likely to leave (ranked by the churn model). The plan's value is also estimated from held-out
  trial members (doubly robust, with an interval), and the A/B test that would confirm it is sized.

The budget is the usual campaign's: enough to give the discount to ``budget_share`` of the targeted members.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from marquee.errors import ConfigError
from marquee.metrics.intervals import Interval
from marquee.random import SeedLike, as_generator
from marquee.retention.bands import ChurnBands
from marquee.retention.hazard import DiscreteHazard
from marquee.retention.plan import budgeted_plan, plan_value, risk_plan, size_test
from marquee.retention.qini import UpliftCurve, qini_curve
from marquee.retention.table import Covariates
from marquee.retention.uplift import UpliftConfig, UpliftModel
from marquee.sim.subscriptions import COVARIATES, INTERVENTIONS, Subscriptions

__all__ = ["BandCheck", "InterventionStudy", "band_check", "intervention_study", "uplift_features"]

#: Assignment shares of the trial: control, then each of :data:`INTERVENTIONS`.
TRIAL_SHARES = (0.4, 0.2, 0.2, 0.2)


@dataclass(frozen=True)
class BandCheck:
    """How per-member bands on the churn probability fare against the world's truth (active members).

    Attributes:
        coverage: share of members whose band holds their true probability; level: the nominal one.
        median_width: median band width; mean_abs_error: mean |estimate - truth|; members: how many.
    """

    coverage: float
    level: float
    median_width: float
    mean_abs_error: float
    members: int
    method: str

    def to_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def band_check(subs: Subscriptions, bands: ChurnBands | None = None, *, horizon: int | None = None) -> BandCheck:
    """Fit ``bands`` (default: posterior bands of a :class:`DiscreteHazard`) on the history; score active members."""
    h = horizon or subs.config.horizon
    history = subs.history()
    bands = (bands or ChurnBands(DiscreteHazard())).fit(history)
    active = np.flatnonzero(subs.active)
    scores = bands.score(history.take(active), h)
    truth = subs.churn_probability(active, horizon=h)
    return BandCheck(
        coverage=float(scores.covers(truth).mean()), level=scores.level,
        median_width=float(np.median(scores.high - scores.low)),
        mean_abs_error=float(np.abs(scores.probability - truth).mean()), members=int(active.size),
        method=scores.method,
    )  # fmt: skip


def uplift_features(
    table: pa.Table, tenure: np.ndarray, covariates: Covariates | None = None
) -> tuple[np.ndarray, Covariates]:
    """(n, p) uplift model inputs: the analyst's covariates (text one-hot) and the tenure now."""
    cov = covariates or Covariates.learn(table, COVARIATES)
    return np.column_stack([cov.encode(table), np.asarray(tenure, np.float64)]), cov


@dataclass(frozen=True, eq=False)
class InterventionStudy:
    """One run of :func:`intervention_study`.

    Attributes:
        trial_members / target_members: members in the trial and in the targeted half.
        budget: USD available for the targeted half.
        kept: true extra members kept in the targeted half by each plan (``"uplift"``, ``"oracle"``, ``"risk"``).
        spent: USD each plan spends.
        counts: members given each intervention per plan.
        estimated_kept: the uplift plan's extra members kept as estimated from held-out trial members (DR).
        effect_correlation: per intervention, correlation of estimated (before calibration) and true effects on the
            targeted half.
        calibration: per intervention, the calibration's average effect and slope (NaN when not calibrated).
        qini: Qini curve per intervention on held-out trial members.
        test_members: members per arm of an A/B test (plan vs no plan) that detects the plan's estimated lift.
        control_retention: retention rate of the trial's control arm.
    """

    trial_members: int
    target_members: int
    budget: float
    kept: dict[str, float]
    spent: dict[str, float]
    counts: dict[str, dict[str, int]]
    estimated_kept: Interval
    effect_correlation: dict[str, float]
    calibration: dict[str, tuple[float, float]]
    qini: dict[str, UpliftCurve] = field(repr=False)
    test_members: int
    control_retention: float

    @property
    def vs_oracle(self) -> float:
        return self.kept["uplift"] / self.kept["oracle"] if self.kept["oracle"] > 0 else float("nan")

    @property
    def vs_risk(self) -> float:
        return self.kept["uplift"] / self.kept["risk"] if self.kept["risk"] > 0 else float("inf")


def intervention_study(
    subs: Subscriptions,
    *,
    learner: str = "glm",
    uplift: UpliftConfig | None = None,
    calibrate: bool = False,
    budget_share: float = 0.1,
    trial_share: float = 0.5,
    holdout_share: float = 0.3,
    seed: SeedLike = 0,
) -> InterventionStudy:
    """Trial -> uplift model -> budgeted plan, judged by the world's true effects.

    Args:
        subs: the subscriptions (their history fits the churn model the risk plan ranks by).
        learner: the uplift learner (``"glm"``, ``"t"``, ``"x"``, ``"dr"``).
        uplift: the uplift model's full configuration (its ``learner`` and ``seed`` are replaced by the above).
        calibrate: recalibrate the effects on half the held-out trial members (:meth:`UpliftModel.calibrate`);
            the plan's value is then estimated on the other half. Off by default: on the simulated world's trials
            (tens of thousands of members, effects of a few points) the calibration's own noise costs more than
            it saves (bench/retention.py measures both).
        budget_share: the budget gives the discount to this share of the targeted members.
        trial_share: share of active members in the trial (the rest are targeted).
        holdout_share: share of trial members held out of the uplift fit to estimate the plan's value.
    """
    if not 0 < budget_share <= 1 or not 0 < trial_share < 1 or not 0 < holdout_share < 1:
        raise ConfigError("budget_share must be in (0, 1], trial_share and holdout_share in (0, 1)")
    rng = as_generator(seed)
    active = rng.permutation(np.flatnonzero(subs.active))
    n_trial = round(trial_share * active.size)
    trial, target = active[:n_trial], active[n_trial:]
    arm, retained = subs.experiment(trial, TRIAL_SHARES, seed=rng)
    x_trial, cov = uplift_features(subs.table(trial), subs.tenure[trial])
    held = rng.random(trial.size) < holdout_share
    config = dataclasses.replace(uplift or UpliftConfig(), learner=learner, seed=int(rng.integers(2**31)))
    model = UpliftModel(config).fit(
        x_trial[~held], arm[~held], retained[~held], np.asarray(TRIAL_SHARES)
    )
    x_target, _ = uplift_features(subs.table(target), subs.tenure[target], cov)
    h_idx = np.flatnonzero(held)
    if calibrate:
        c_idx, h_idx = h_idx[: h_idx.size // 2], h_idx[h_idx.size // 2 :]
        model.calibrate(x_trial[c_idx], arm[c_idx], retained[c_idx], np.asarray(TRIAL_SHARES))
    estimate = model.effect(x_target)
    raw = model.effect(x_target, calibrated=False)
    truth = subs.effect(target)
    cost = subs.costs(target)
    discount = INTERVENTIONS.index("discount")
    budget = budget_share * target.size * float(cost[:, discount].mean())
    history = subs.history()
    risk = DiscreteHazard().fit(history).churn_probability(history.take(target), subs.config.horizon)
    plans = {
        "uplift": budgeted_plan(estimate, cost, budget),
        "oracle": budgeted_plan(truth, cost, budget),
        "risk": risk_plan(risk, discount, cost[:, discount], budget, n_interventions=len(INTERVENTIONS)),
    }
    # The plan's value from held-out trial members: the same rule on them, under the same budget per member.
    h_cost = subs.costs(trial[h_idx])
    h_plan = budgeted_plan(model.effect(x_trial[h_idx]), h_cost, budget / target.size * h_idx.size)
    value = plan_value(h_plan.assignment, arm[h_idx], retained[h_idx], np.asarray(TRIAL_SHARES),
                       model.potential_outcomes(x_trial[h_idx]))  # fmt: skip
    qini = {}
    for k, name in enumerate(INTERVENTIONS, start=1):
        rows = h_idx[(arm[h_idx] == 0) | (arm[h_idx] == k)]
        qini[name] = qini_curve(model.effect(x_trial[rows])[:, k - 1], arm[rows] == k, retained[rows], seed=k)
    control_rate = float(retained[arm == 0].mean())
    lift = max(value.estimate, 1e-4)
    return InterventionStudy(
        trial_members=int(trial.size), target_members=int(target.size), budget=budget,
        kept={name: p.total(truth) for name, p in plans.items()},
        spent={name: p.spent for name, p in plans.items()},
        counts={name: dict(zip(INTERVENTIONS, map(int, p.counts), strict=True)) for name, p in plans.items()},
        estimated_kept=Interval(value.estimate * target.size, value.low * target.size, value.high * target.size,
                                value.level),
        effect_correlation={n: float(np.corrcoef(raw[:, k], truth[:, k])[0, 1]) for k, n in enumerate(INTERVENTIONS)},
        calibration={n: (float(c[0]), float(c[1])) for n, c in zip(INTERVENTIONS, getattr(
            model, "calibration_", np.full((len(INTERVENTIONS), 3), np.nan)), strict=True)},
        qini=qini, test_members=size_test(min(control_rate, 1 - 1e-6), min(lift, 1 - control_rate - 1e-6)),
        control_retention=control_rate,
    )  # fmt: skip
