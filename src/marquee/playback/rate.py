"""Rate-based ABR: the highest rung whose bitrate is at most the predicted throughput."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.predict import HarmonicMean
from marquee.playback.scheme import Observation, Scheme, register

__all__ = ["RateBased", "RateBasedConfig"]


@dataclass(frozen=True)
class RateBasedConfig:
    """Rate-based hyperparameters.

    Attributes:
        window: measurements in the harmonic mean (5, as Pensieve's baselines).
        safety: multiply the prediction by this before choosing (1.0: none).
    """

    window: int = 5
    safety: float = 1.0

    def __post_init__(self) -> None:
        HarmonicMean(self.window)  # validates window
        if not (isinstance(self.safety, int | float) and 0 < self.safety <= 10):
            raise ConfigError(f"RateBasedConfig.safety must be in (0, 10], got {self.safety!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@register
class RateBased(Scheme):
    """Pick ``max{r : bitrate_r <= safety * harmonic_mean(last window throughputs)}``, rung 0 if none fits.

    The throughput of a chunk is its bytes * 8 over its download time including the round trip.
    """

    Config: ClassVar[type] = RateBasedConfig
    name: ClassVar[str] = "rb"

    def __init__(self, window: int = 5, safety: float = 1.0) -> None:
        self.config = RateBasedConfig(window=window, safety=safety)
        self.predictor = HarmonicMean(window)

    @classmethod
    def from_config(cls, config: RateBasedConfig) -> RateBased:
        """Build from a config."""
        return cls(**config.to_dict())

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        predicted = self.config.safety * self.predictor.predict(obs.throughput_mbps)
        rung = np.searchsorted(obs.video.bitrates_mbps, predicted, side="right") - 1
        return np.maximum(rung, 0).astype(np.int64)
