"""Simulated worlds with known answers, for tests, benchmarks and what-if studies."""

from marquee.sim.artwork import ArtworkMembers
from marquee.sim.bandit import SyntheticBandit

__all__ = ["ArtworkMembers", "SyntheticBandit"]

from marquee.sim.calibration import Calibration, calibrate
from marquee.sim.world import Engagement, Responses, Sessions, World, WorldConfig

__all__ += ["Calibration", "Engagement", "Responses", "Sessions", "World", "WorldConfig", "calibrate"]

from marquee.sim.online import (
    ABTest,
    ab_test,
    context_policy,
    interleave,
    members_for_power,
    online_value,
    ranker_policy,
)

__all__ += ["ABTest", "ab_test", "context_policy", "interleave", "members_for_power", "online_value", "ranker_policy"]

from marquee.sim.playback import PlaybackOutcome, abr_ab_test, play

__all__ += ["PlaybackOutcome", "abr_ab_test", "play"]
