"""Retention: who is likely to leave, how sure the model is about each member, and whom an intervention keeps.

- :mod:`~marquee.retention.table`: :class:`SurvivalTable` (durations, events, covariates; bad input refused by
  table, row and column) and the :class:`Covariates` encoding a model learns.
- :mod:`~marquee.retention.survival` and :mod:`~marquee.retention.hazard`: churn models behind one
  ``fit(table) -> self`` API: :class:`KaplanMeier`, :class:`CoxPH` (lifelines), :class:`DiscreteHazard` (an additive
  logistic hazard per billing period) and :class:`BoostedHazard` (gradient-boosted).
- :mod:`~marquee.retention.bands`: :class:`ChurnBands`, each member's probability of leaving within a horizon with
  a band (posterior draws or bootstrap).
- :mod:`~marquee.retention.uplift`: :class:`UpliftModel` (T-, X-, DR-learners) on a randomised trial of
  interventions; :mod:`~marquee.retention.qini`: :func:`qini_curve` with bands.
- :mod:`~marquee.retention.plan`: :func:`budgeted_plan` (who gets which intervention under a budget),
  :func:`risk_plan` (the usual practice), :func:`plan_value` (doubly robust, with an interval), :func:`size_test`.
"""

from marquee.retention.bands import ChurnBands, ChurnScores
from marquee.retention.hazard import BoostedHazard, DiscreteHazard
from marquee.retention.plan import Plan, budgeted_plan, plan_value, risk_plan, size_test
from marquee.retention.qini import UpliftCurve, qini_curve
from marquee.retention.survival import CoxPH, KaplanMeier, SurvivalModel
from marquee.retention.table import Covariates, SurvivalTable, read_table
from marquee.retention.uplift import UpliftConfig, UpliftModel

__all__ = [
    "BoostedHazard",
    "ChurnBands",
    "ChurnScores",
    "Covariates",
    "CoxPH",
    "DiscreteHazard",
    "KaplanMeier",
    "Plan",
    "SurvivalModel",
    "SurvivalTable",
    "UpliftConfig",
    "UpliftCurve",
    "UpliftModel",
    "budgeted_plan",
    "plan_value",
    "qini_curve",
    "read_table",
    "risk_plan",
    "size_test",
]
