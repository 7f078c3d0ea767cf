"""Retention: who is likely to leave, how sure the model is about each member, and whom an intervention keeps.

- :mod:`~marquee.retention.table`: :class:`SurvivalTable` (durations, events, covariates; bad input refused by
  table, row and column) and the :class:`Covariates` encoding a model learns.
- :mod:`~marquee.retention.survival` and :mod:`~marquee.retention.hazard`: churn models behind one
  ``fit(table) -> self`` API: :class:`KaplanMeier`, :class:`CoxPH` (lifelines), :class:`DiscreteHazard` (an additive
  logistic hazard per billing period) and :class:`BoostedHazard` (gradient-boosted).
- :mod:`~marquee.retention.bands`: :class:`ChurnBands`, each member's probability of leaving within a horizon with
  a band (posterior draws or bootstrap).
"""

from marquee.retention.bands import ChurnBands, ChurnScores
from marquee.retention.hazard import BoostedHazard, DiscreteHazard
from marquee.retention.survival import CoxPH, KaplanMeier, SurvivalModel
from marquee.retention.table import Covariates, SurvivalTable, read_table

__all__ = [
    "BoostedHazard",
    "ChurnBands",
    "ChurnScores",
    "CoxPH",
    "Covariates",
    "DiscreteHazard",
    "KaplanMeier",
    "SurvivalModel",
    "SurvivalTable",
    "read_table",
]
