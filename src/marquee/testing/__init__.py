"""Test helpers shipped with Marquee: synthetic fixtures and contract suites for new models."""

from marquee.testing.contracts import RecommenderContract
from marquee.testing.estimator import EstimatorContract
from marquee.testing.fixtures import block_interactions

__all__ = ["EstimatorContract", "RecommenderContract", "block_interactions"]
