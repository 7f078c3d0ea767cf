"""Off-policy evaluation: estimate a policy's value from logs another policy collected.

Every estimator takes a :class:`~marquee.data.LoggedFeedback` and the evaluated policy's action
distribution, and returns an :class:`Estimate` with a bootstrap interval (and an analytic one
where it exists). Reward-model estimators (DM, DR and its variants) use cross-fitted
:class:`RewardModel` predictions.
"""

from marquee.ope.base import Estimate, Estimator, EstimatorConfig
from marquee.ope.comparison import Comparison, compare
from marquee.ope.dm import DirectMethod
from marquee.ope.dr import DoublyRobust, SelfNormalizedDR
from marquee.ope.evaluation import default_estimators, evaluate
from marquee.ope.feature_reward_model import FeatureRewardModel, FeatureRewardModelConfig
from marquee.ope.ipw import IPS
from marquee.ope.reward_model import RewardModel, RewardModelConfig
from marquee.ope.shrinkage import DRShrinkage, DRShrinkageConfig
from marquee.ope.snips import SNIPS
from marquee.ope.switch import SwitchDR, SwitchDRConfig

__all__ = [
    "IPS",
    "SNIPS",
    "DRShrinkage",
    "Comparison",
    "DRShrinkageConfig",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "Estimator",
    "EstimatorConfig",
    "FeatureRewardModel",
    "FeatureRewardModelConfig",
    "RewardModel",
    "RewardModelConfig",
    "SelfNormalizedDR",
    "SwitchDR",
    "SwitchDRConfig",
    "compare",
    "default_estimators",
    "evaluate",
]
