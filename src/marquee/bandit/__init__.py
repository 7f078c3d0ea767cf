"""Bandit policies: choose an action with its propensity, learn online, warm-start or learn offline from logs.

Every choice comes with the probability the policy gave it, so the logs a policy writes through a
:class:`DecisionSink` are ready for off-policy evaluation (:mod:`marquee.ope`).
"""

from marquee.bandit.artwork import (
    CANDIDATE_POLICIES,
    ArtworkDecision,
    CandidateEpsilonGreedy,
    CandidateLinearTS,
    CandidateLinUCB,
    CandidatePolicy,
)
from marquee.bandit.base import Decisions, Policy
from marquee.bandit.decisions import Decider, Decision, DecisionSink, InMemoryDecisionLog
from marquee.bandit.durable import SQLiteDecisionLog
from marquee.bandit.epsilon_greedy import EpsilonGreedy, EpsilonGreedyConfig
from marquee.bandit.lin_ucb import LinUCB, LinUCBConfig
from marquee.bandit.offline import OffPolicyLearner, OffPolicyLearnerConfig
from marquee.bandit.thompson import (
    BernoulliTS,
    BernoulliTSConfig,
    LinearTS,
    LinearTSConfig,
    beta_slot_distribution,
    simulate_beta_slots,
)

__all__ = [
    "CANDIDATE_POLICIES",
    "ArtworkDecision",
    "CandidateEpsilonGreedy",
    "CandidateLinUCB",
    "CandidateLinearTS",
    "CandidatePolicy",
    "SQLiteDecisionLog",
    "BernoulliTS",
    "BernoulliTSConfig",
    "Decider",
    "Decision",
    "DecisionSink",
    "Decisions",
    "EpsilonGreedy",
    "EpsilonGreedyConfig",
    "LinUCB",
    "LinUCBConfig",
    "LinearTS",
    "LinearTSConfig",
    "InMemoryDecisionLog",
    "OffPolicyLearner",
    "OffPolicyLearnerConfig",
    "Policy",
    "beta_slot_distribution",
    "simulate_beta_slots",
]
