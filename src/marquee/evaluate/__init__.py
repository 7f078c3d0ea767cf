"""Evaluation: offline metrics under fixed protocols, tuning, leaderboards and reports."""

from marquee.evaluate.candidates import DEFAULT_SEARCH, build_candidates
from marquee.evaluate.interleaving import Interleaved, InterleavingTest, interleaving_test, team_draft
from marquee.evaluate.offline import DEFAULT_METRICS, Evaluation, evaluate, parse_metric
from marquee.evaluate.protocols import Candidate, Leaderboard, ModelResult, Trial, grid_points, run_protocol, tune
from marquee.evaluate.replay import ReplayEstimate, replay
from marquee.evaluate.report import write_html_report

__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_SEARCH",
    "Candidate",
    "Evaluation",
    "Interleaved",
    "InterleavingTest",
    "Leaderboard",
    "ModelResult",
    "ReplayEstimate",
    "Trial",
    "build_candidates",
    "evaluate",
    "grid_points",
    "interleaving_test",
    "parse_metric",
    "replay",
    "run_protocol",
    "team_draft",
    "tune",
    "write_html_report",
]
