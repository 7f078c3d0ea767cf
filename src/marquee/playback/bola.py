"""BOLA-BASIC, Spiteri, Urgaonkar and Sitaraman, "BOLA: Near-Optimal Bitrate Adaptation for Online Videos",
INFOCOM 2016 (arXiv:1601.06748), in the seconds-based form Sabre uses (Spiteri, Sitaraman and Sparacio,
"From Theory to Practice: Improving Bitrate Adaptation in the DASH Reference Player", MMSys 2018;
github.com/UMass-LIDS/sabre, ``src/sabre.py``, class ``Bola`` with ``--abr-basic``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.scheme import Observation, Scheme, register

__all__ = ["BOLA", "BOLAConfig"]


@dataclass(frozen=True)
class BOLAConfig:
    """BOLA-BASIC hyperparameters.

    Attributes:
        gamma_p: ``gamma * p`` in seconds, the weight on rebuffering avoidance (Sabre's ``--gamma-p``, default 5).
        buffer_target_s: the buffer capacity ``Q_max`` that ``V`` is derived from; ``None`` (the default): the
            player's own buffer cap, ``Observation.buffer_cap_s`` (60 s under Pensieve's conventions, a device's
            cap when the run has one). The paper sizes ``V`` from the player's buffer capacity, and Sabre feeds the
            one ``--max-buffer`` (default 25 s) both to its player and to BOLA's ``buffer_size``; a number here
            decouples the two (``25.0`` is Sabre's default player).
    """

    gamma_p: float = 5.0
    buffer_target_s: float | None = None

    def __post_init__(self) -> None:
        for field_name in ("gamma_p", "buffer_target_s"):
            value = getattr(self, field_name)
            if field_name == "buffer_target_s" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"BOLAConfig.{field_name} must be a number > 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


@register
class BOLA(Scheme):
    """BOLA-BASIC (the paper's Algorithm 1), buffer in seconds as in Sabre.

    With chunk length ``p``, utility ``v_m = ln(bitrate_m / bitrate_0)`` (so ``v_0 = 0``) and ``Q_max`` the buffer
    capacity (:attr:`BOLAConfig.buffer_target_s`, by default the player's cap ``obs.buffer_cap_s``)::

        V = (Q_max - p) / (v_top + gamma_p)            # the paper's V = (Q_max - 1) / (v_M + gamma p), in seconds
        rung = argmax_m (V * (v_m + gamma_p) - buffer_s) / bitrate_m     # lowest rung on ties

    Rung ``m`` overtakes rung ``m-1`` at buffer ``V * (gamma_p + (b_m v_{m-1} - b_{m-1} v_m) / (b_m - b_{m-1}))``
    (Envivio under the 60 s cap: 32.1, 37.5, 40.8, 44.0, 47.1 s; Sabre's 25 s player: 12.0, 14.1, 15.3, 16.5,
    17.7 s).

    Above ``V * (v_top + gamma_p) = Q_max - p`` every score is negative and BOLA-BASIC would pause. A scheme cannot
    make this simulator wait, and need not: with ``Q_max`` the player's cap, that pause is the player's own sleep at
    its cap (Sabre's player waits while ``buffer + p > cap``, exactly BOLA's pause; Pensieve's, which this simulator
    follows, waits only while ``buffer > cap``, so the buffer may run up to one chunk higher). Above the pause level
    the top rung is chosen (its score is the least negative).

    Not modelled: BOLA-FINITE/BOLA-O's shrinking of ``Q_max`` near the start and end of the video (Sabre's default
    ``bola`` without ``--abr-basic``), whose safety relies on abandoning downloads (this simulator cannot abandon);
    Sabre's BOLA-U up-switch cap at the throughput estimate plus one rung; and BOLA-E (dash.js ``BolaRule``: placeholder
    buffer, throughput start-up, ``gamma_p``/``V`` from a 10 s minimum buffer plus 2 s per rung).
    """

    Config: ClassVar[type] = BOLAConfig
    name: ClassVar[str] = "bola"

    def __init__(self, gamma_p: float = 5.0, buffer_target_s: float | None = None) -> None:
        self.config = BOLAConfig(gamma_p=gamma_p, buffer_target_s=buffer_target_s)

    @classmethod
    def from_config(cls, config: BOLAConfig) -> BOLA:
        """Build from a config."""
        return cls(**config.to_dict())

    def v(self, obs: Observation) -> float:
        """BOLA's ``V`` (seconds per unit utility) for this observation's ladder and buffer capacity."""
        video = obs.video
        rates = video.bitrates_kbps
        target = obs.buffer_cap_s if self.config.buffer_target_s is None else self.config.buffer_target_s
        if target <= video.chunk_seconds:
            raise ConfigError(
                f"BOLA buffer capacity {target} s must exceed the chunk length {video.chunk_seconds} s"
                + (" (it is the player's buffer_cap_s)" if self.config.buffer_target_s is None else "")
            )
        return float((target - video.chunk_seconds) / (np.log(rates[-1] / rates[0]) + self.config.gamma_p))

    def choose(self, obs: Observation) -> np.ndarray:
        """(n_sessions,) int64 rung per session."""
        rates = obs.video.bitrates_kbps
        utility = np.log(rates / rates[0])
        v = self.v(obs)
        score = (v * (utility[None, :] + self.config.gamma_p) - obs.buffer_s[:, None]) / rates[None, :]
        return np.argmax(score, axis=1).astype(np.int64)
