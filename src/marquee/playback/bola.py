"""BOLA-BASIC, Spiteri, Urgaonkar and Sitaraman, "BOLA: Near-Optimal Bitrate Adaptation for Online Videos",
INFOCOM 2016 (as Sabre implements it, MMSys 2018)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register

__all__ = ["BOLA", "BOLAConfig"]


@dataclass(frozen=True)
class BOLAConfig:
    """BOLA-BASIC hyperparameters (Sabre's defaults).

    Attributes:
        gamma_p: ``gamma * p``, the weight on rebuffering avoidance (Sabre's ``--gamma-p`` 5).
        buffer_target_s: the buffer BOLA plans for (Sabre's ``--max-buffer`` 25 s); it sets ``V``.
    """

    gamma_p: float = 5.0
    buffer_target_s: float = 25.0

    def __post_init__(self) -> None:
        for field_name in ("gamma_p", "buffer_target_s"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"BOLAConfig.{field_name} must be a number > 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@register
class BOLA(Scheme):
    """BOLA-BASIC: utility ``v_m = ln(bitrate_m / bitrate_0)``, ``V = (buffer_target - chunk_seconds) /
    (v_top + gamma_p)``, and the rung maximising ``(V * (v_m + gamma_p) - buffer_s) / bitrate_m`` (the lowest
    on ties).

    BOLA-BASIC's own pause (waiting while the buffer is above ``V * (v_m + gamma_p)``) is not modelled: the
    simulator sleeps only at its buffer cap.
    """

    Config: ClassVar[type] = BOLAConfig
    name: ClassVar[str] = "bola"

    def __init__(self, gamma_p: float = 5.0, buffer_target_s: float = 25.0) -> None:
        self.config = BOLAConfig(gamma_p=gamma_p, buffer_target_s=buffer_target_s)

    @classmethod
    def from_config(cls, config: BOLAConfig) -> BOLA:
        """Build from a config."""
        return cls(**config.to_dict())

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        video = obs.video
        rates = video.bitrates_kbps
        utility = np.log(rates / rates[0])
        gp = self.config.gamma_p
        if self.config.buffer_target_s <= video.chunk_seconds:
            raise ConfigError(
                f"BOLA buffer_target_s={self.config.buffer_target_s} must exceed the chunk length {video.chunk_seconds} s"
            )
        v = (self.config.buffer_target_s - video.chunk_seconds) / (utility[-1] + gp)
        score = (v * (utility[None, :] + gp) - obs.buffer_s[:, None]) / rates[None, :]
        return np.argmax(score, axis=1).astype(np.int64)
