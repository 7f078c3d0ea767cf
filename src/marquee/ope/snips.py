"""Self-normalised inverse propensity scoring (SNIPS)."""

from __future__ import annotations

from marquee.ope.base import Estimator, Rounds, Terms, weight_diagnostics

__all__ = ["SNIPS"]


class SNIPS(Estimator):
    """Self-normalised IPS (Swaminathan & Joachims, NeurIPS 2015).

    ``V = sum_i w_i r_i / sum_i w_i``. Biased (consistently) but bounded by the reward range and
    usually of lower variance than IPS; its analytic interval is the delta method's.
    """

    name = "snips"

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        w = rounds.weight
        return Terms(w * 0.0, w * rounds.reward, w), weight_diagnostics(w)
