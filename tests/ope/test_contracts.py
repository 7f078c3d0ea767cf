"""Every estimator honours the contract (marquee.testing.EstimatorContract), with its stated tolerance.

The contract's log has 4,000 rounds; the tolerances are about three of each estimator's standard
errors there (IPS's is the largest: its weights reach ~60).
"""

import numpy as np

from marquee.ope import IPS, SNIPS, DirectMethod, DoublyRobust, DRShrinkage, SelfNormalizedDR, SwitchDR
from marquee.testing import EstimatorContract


class TestIPS(EstimatorContract):
    tolerance = 0.08

    def make(self):
        return IPS(n_bootstrap=400)


class TestSNIPS(EstimatorContract):
    tolerance = 0.06

    def make(self):
        return SNIPS(n_bootstrap=400)


class TestDirectMethod(EstimatorContract):
    # With the true reward model DM is exact up to the context sample; on-policy it is the mean of
    # expected rewards, not of observed ones (their gap has a standard error of ~0.0066 here).
    tolerance = 0.01
    on_policy_tolerance = 0.02

    def reward_hat(self, world, context):
        return world.expected_reward(context)

    def make(self):
        return DirectMethod(n_bootstrap=400)


class TestDoublyRobust(EstimatorContract):
    tolerance = 0.06
    on_policy_tolerance = 0.01

    def make(self):
        return DoublyRobust(n_bootstrap=400)


class TestSelfNormalizedDR(EstimatorContract):
    tolerance = 0.05
    on_policy_tolerance = 0.01

    def make(self):
        return SelfNormalizedDR(n_bootstrap=400)


class TestSwitchDR(EstimatorContract):
    tolerance = 0.06
    on_policy_tolerance = 0.01

    def make(self):
        return SwitchDR(n_bootstrap=400)


class TestSwitchDRFixedTau(EstimatorContract):
    tolerance = 0.06
    on_policy_tolerance = 0.01

    def make(self):
        return SwitchDR(tau=20.0, n_bootstrap=400)


class TestDRShrinkage(EstimatorContract):
    tolerance = 0.06
    on_policy_tolerance = 0.01

    def make(self):
        return DRShrinkage(n_bootstrap=400)


def test_contract_log_is_a_hard_case():
    """The contract's target policy is far from the logging one (else its known answer proves little)."""
    contract = TestIPS()
    world = contract.world()
    assert world.policy_value("target") - world.policy_value("logging") > 0.1
    log = contract.log()
    w = world.target_policy(log.context)[np.arange(len(log)), log.action] / log.propensity
    assert w.max() > 20
