"""Every bandit policy honours the contract (marquee.testing.PolicyContract)."""

from marquee.bandit import BernoulliTS, EpsilonGreedy, LinearTS, LinUCB, OffPolicyLearner
from marquee.testing import PolicyContract


class TestEpsilonGreedy(PolicyContract):
    def make(self):
        return EpsilonGreedy(n_actions=5, epsilon=0.1)


class TestLinUCB(PolicyContract):
    def make(self):
        return LinUCB(n_actions=5, alpha=0.5)


class TestLinearTS(PolicyContract):
    def make(self):
        return LinearTS(n_actions=5, scale=0.3)


class TestLinearTSMonteCarlo(PolicyContract):
    def make(self):
        return LinearTS(n_actions=5, scale=0.3, propensity="monte_carlo", n_samples=5_000)


class TestBernoulliTS(PolicyContract):
    contextual = False
    # Context-free: it can only find the best action on average.
    min_gain = 0.05

    def make(self):
        return BernoulliTS(n_actions=5)


class TestOffPolicyLearnerDR(PolicyContract):
    online = False
    chooses_before_fit = False

    def make(self):
        return OffPolicyLearner(n_actions=5, method="dr")


class TestOffPolicyLearnerIPW(PolicyContract):
    online = False
    chooses_before_fit = False

    def make(self):
        return OffPolicyLearner(n_actions=5, method="ipw")
