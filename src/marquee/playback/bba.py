"""Buffer-based ABR (BBA), Huang et al., "A Buffer-Based Approach to Rate Adaptation", SIGCOMM 2014."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register

__all__ = ["BBA", "BBAConfig"]


@dataclass(frozen=True)
class BBAConfig:
    """BBA hyperparameters (Pensieve's ``bb.py``: reservoir 5 s, cushion 10 s)."""

    reservoir_s: float = 5.0
    cushion_s: float = 10.0

    def __post_init__(self) -> None:
        for field_name in ("reservoir_s", "cushion_s"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ConfigError(f"BBAConfig.{field_name} must be a number >= 0, got {value!r}")
        if self.cushion_s <= 0:
            raise ConfigError(f"BBAConfig.cushion_s must be > 0, got {self.cushion_s!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@register
class BBA(Scheme):
    """Map the buffer level to a rung: rung 0 below the reservoir, the top rung at reservoir + cushion and
    above, and in between ``floor((rungs - 1) * (buffer - reservoir) / cushion)`` (a linear map on rung
    index, as Pensieve's ``bb.py``).
    """

    Config: ClassVar[type] = BBAConfig
    name: ClassVar[str] = "bba"

    def __init__(self, reservoir_s: float = 5.0, cushion_s: float = 10.0) -> None:
        self.config = BBAConfig(reservoir_s=reservoir_s, cushion_s=cushion_s)

    @classmethod
    def from_config(cls, config: BBAConfig) -> BBA:
        """Build from a config."""
        return cls(**config.to_dict())

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        top = obs.video.n_rungs - 1
        res, cush = self.config.reservoir_s, self.config.cushion_s
        buf = obs.buffer_s
        mid = np.floor(top * (buf - res) / cush)
        rung = np.where(buf < res, 0, np.where(buf >= res + cush, top, mid))
        return np.clip(rung, 0, top).astype(np.int64)
