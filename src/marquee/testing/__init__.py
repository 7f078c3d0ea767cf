"""Test helpers shipped with Marquee: synthetic fixtures and contract suites for new models."""

from marquee.testing.contracts import RecommenderContract
from marquee.testing.estimator import EstimatorContract
from marquee.testing.fixtures import block_interactions, with_text_ids
from marquee.testing.policy import PolicyContract

__all__ = ["EstimatorContract", "PolicyContract", "RecommenderContract", "block_interactions", "with_text_ids"]
