"""Simulated worlds with known answers, for tests, benchmarks and what-if studies."""

from marquee.sim.artwork import ArtworkMembers
from marquee.sim.bandit import SyntheticBandit

__all__ = ["ArtworkMembers", "SyntheticBandit"]
