"""Doubly robust estimation (DR) and its self-normalised form (SNDR)."""

from __future__ import annotations

from marquee.ope.base import Estimator, Rounds, Terms, weight_diagnostics

__all__ = ["DoublyRobust", "SelfNormalizedDR"]


class DoublyRobust(Estimator):
    """Doubly robust (Dudík, Langford & Li, ICML 2011).

    ``V = (1/n) sum_i [ sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)) ]``: the direct method
    corrected by importance-weighted residuals. Unbiased when the propensities are right, whatever
    the reward model; consistent when either the propensities or the reward model are. Pass
    cross-fitted predictions (the default reward model is cross-fitted) so that a row's residual
    is not shrunk by a model that saw it.
    """

    name = "dr"
    uses_reward_model = True

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        w = rounds.weight
        return Terms(rounds.direct + w * (rounds.reward - rounds.q_logged)), weight_diagnostics(w)


class SelfNormalizedDR(Estimator):
    """Self-normalised doubly robust (Kallus & Uehara, NeurIPS 2019; as in Open Bandit Pipeline).

    ``V = (1/n) sum_i sum_a pi(a|x_i) q(x_i, a) + sum_i w_i (r_i - q(x_i, a_i)) / sum_i w_i``.
    """

    name = "sndr"
    uses_reward_model = True

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        w = rounds.weight
        return Terms(rounds.direct, w * (rounds.reward - rounds.q_logged), w), weight_diagnostics(w)
