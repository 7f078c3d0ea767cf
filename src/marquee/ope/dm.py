"""The direct method (DM)."""

from __future__ import annotations

from marquee.ope.base import Estimator, Rounds, Terms

__all__ = ["DirectMethod"]


class DirectMethod(Estimator):
    """Direct method (Beygelzimer & Langford, KDD 2009): average the reward model's prediction.

    ``V = (1/n) sum_i sum_a pi(a | x_i) q(x_i, a)``. Low variance, but as biased as the reward
    model is wrong, and no interval can show that bias: the bootstrap interval reflects only which
    contexts were logged, so no analytic interval is given.
    """

    name = "dm"
    uses_reward_model = True
    has_analytic_interval = False

    def terms(self, rounds: Rounds) -> tuple[Terms, dict[str, float]]:
        return Terms(rounds.direct), {}
