"""Switch doubly robust estimation (switch-DR)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marquee.ope import _tuning
from marquee.ope.base import Rounds

__all__ = ["SwitchDR", "SwitchDRConfig"]


@dataclass(frozen=True)
class SwitchDRConfig(_tuning.TunedConfig):
    """Args:
    tau: weight threshold above which a round's correction is dropped (DM alone there);
        ``None`` picks it from 0 (DM), the weights' quantiles and ``inf`` by ``tuning``;
        ``math.inf`` is DR.
    """

    tau: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_knob("tau")


def _switch(weight: np.ndarray, tau: float) -> np.ndarray:
    return np.where(weight <= tau, weight, 0.0)


class SwitchDR(_tuning.TunedDR):
    """Switch doubly robust (Wang, Agarwal & Dudík, ICML 2017; in the DR form of Open Bandit Pipeline).

    ``V = (1/n) sum_i [ sum_a pi(a|x_i) q(x_i, a) + w_i 1{w_i <= tau} (r_i - q(x_i, a_i)) ]``:
    DR where the weight is moderate, the direct method where it is not. ``tau = inf`` is DR,
    ``tau = 0`` the direct method. With ``tau=None`` it is tuned on the log (SLOPE++ by default,
    :mod:`marquee.ope._tuning`); the interval then holds ``tau`` fixed.
    """

    Config = SwitchDRConfig
    name = "switch_dr"
    knob = "tau"
    modify = staticmethod(_switch)

    def candidates(self, weight: np.ndarray) -> list[float]:
        return _tuning.weight_quantiles(weight)

    def extra_diagnostics(self, rounds: Rounds, value: float) -> dict[str, float]:
        return {"switched_share": float((rounds.weight > value).mean())}
