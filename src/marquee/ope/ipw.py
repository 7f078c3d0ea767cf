"""Inverse propensity scoring (IPS)."""

from __future__ import annotations

from marquee.ope.base import Estimator, Rounds, Terms, weight_diagnostics

__all__ = ["IPS"]


class IPS(Estimator):
    """Inverse propensity scoring (Horvitz & Thompson, 1952; Precup et al., 2000).

    ``V = (1/n) sum_i w_i r_i`` with ``w_i = pi(a_i | x_i) / p_i``. Unbiased when the logged
    propensities are right and the logging policy covers every action the evaluated policy takes;
    its variance grows with the weights. When the evaluated policy is the logging policy every
    weight is 1 and the estimate is the mean reward.
    """

    name = "ips"

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        return Terms(rounds.weight * rounds.reward), weight_diagnostics(rounds.weight)
