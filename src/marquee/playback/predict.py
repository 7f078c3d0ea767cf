"""Throughput prediction, a piece of its own that schemes are handed (rate-based, later MPC)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.errors import ConfigError

__all__ = ["HarmonicMean"]


@dataclass(frozen=True)
class HarmonicMean:
    """Harmonic mean of the last ``window`` measured throughputs (Jiang et al., FESTIVE, CoNEXT 2012).

    ``prediction = k / sum(1 / x_j)`` over the last ``k = min(window, chunks so far)`` measurements, as
    Pensieve's ``mpc.py`` predicts (its window is 5).
    """

    window: int = 5

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ConfigError(f"HarmonicMean window must be an int >= 1, got {self.window!r}")

    def predict(self, throughput_mbps: np.ndarray) -> np.ndarray:
        """Predict the next chunk's throughput.

        Args:
            throughput_mbps: (n_sessions, k) float64 > 0, past measurements, oldest first, k >= 1.

        Returns:
            (n_sessions,) float64 predicted Mbps.
        """
        x = np.asarray(throughput_mbps, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ConfigError(f"HarmonicMean needs (n_sessions, k >= 1) past throughputs, got shape {x.shape}")
        recent = x[:, -self.window :]
        return recent.shape[1] / np.sum(1.0 / recent, axis=1)
