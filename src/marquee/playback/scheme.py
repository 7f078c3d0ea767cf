"""The ABR scheme interface: a scheme sees an :class:`Observation` of every session and picks the next rung.

The simulator (:func:`marquee.playback.simulate`) owns the session; a scheme only decides. All sessions move
chunk by chunk in lockstep, so one call decides chunk ``obs.chunk_index`` for every session at once. A user's
own scheme is a subclass with one method::

    class AlwaysLowest(Scheme):
        name = "lowest"

        def choose(self, obs: Observation) -> np.ndarray:
            return np.zeros(obs.n_sessions, dtype=np.int64)

An exception raised in ``choose`` propagates; nothing falls back silently.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.video import Video

if TYPE_CHECKING:
    from marquee.playback.device import Device
    from marquee.playback.session import SessionConfig
    from marquee.playback.traces import Trace

__all__ = ["SCHEMES", "Observation", "Scheme", "check_rungs", "register"]


@dataclass(frozen=True, eq=False)
class Observation:
    """What a scheme may see before chunk ``chunk_index`` is fetched (arrays are read-only views).

    Attributes:
        chunk_index: 0-based index of the chunk about to be fetched (the same for every session).
        n_chunks: chunks in the session; ``n_chunks - chunk_index`` remain, this one included.
        buffer_s: (n_sessions,) float64 seconds of video in the buffer now (after any sleep).
        last_rung: (n_sessions,) int64 rung of the previous chunk.
        throughput_mbps: (n_sessions, chunk_index) float64 measured throughput of every chunk so far
            (chunk bytes * 8 / download time including the round trip, as Pensieve measures it).
        download_s: (n_sessions, chunk_index) float64 download time of every chunk so far.
        video: the ladder (``video.chunk_bytes[chunk_index]`` are the next chunk's sizes); with a device, the
            ladder as offered to it, its quality as that device shows it.
        buffer_cap_s: the player's buffer capacity.
        rtt_s: the round trip every chunk's download time includes (the player knows its own RTT).
        device: the :class:`~marquee.playback.Device` the session plays on, or ``None`` when the run has none.
    """

    chunk_index: int
    n_chunks: int
    buffer_s: np.ndarray
    last_rung: np.ndarray
    throughput_mbps: np.ndarray
    download_s: np.ndarray
    video: Video
    buffer_cap_s: float = 60.0
    device: Device | None = None
    rtt_s: float = 0.0

    @property
    def n_sessions(self) -> int:
        """Number of sessions decided at once."""
        return int(self.buffer_s.shape[0])


class Scheme(ABC):
    """An adaptive-bitrate scheme. Subclasses set ``name`` (and ``Config``) and implement :meth:`choose`."""

    Config: ClassVar[type | None] = None
    name: ClassVar[str] = "custom"
    #: True for offline schemes that see the whole trace (:meth:`plan_ahead`); they bound, not play.
    needs_future: ClassVar[bool] = False

    def start(self, video: Video, n_sessions: int) -> None:
        """Reset per-run state before a run of ``n_sessions`` sessions of ``video``; nothing by default."""

    @abstractmethod
    def choose(self, obs: Observation) -> np.ndarray:
        """The rung of chunk ``obs.chunk_index`` per session: (n_sessions,) int in ``0..rungs-1``."""

    def plan_ahead(self, traces: tuple[Trace, ...], video: Video, config: SessionConfig) -> np.ndarray:
        """Offline schemes (``needs_future = True``) only: every session's rungs, chosen with the whole trace known.

        Returns (n_sessions, n_chunks) int rungs; chunk 0 must be ``config.first_rung``. :func:`simulate` calls this
        once, then replays the plan through the same simulator as every online scheme, so the figures it reports
        are what the plan achieves, not what the planner believed.
        """
        raise NotImplementedError(f"scheme {self.name!r} sets needs_future but does not implement plan_ahead()")


#: Scheme classes by name (``marquee playback evaluate --abr rb,bba,bola``); each module registers its own.
SCHEMES: dict[str, type[Scheme]] = {}


def register(cls: type[Scheme]) -> type[Scheme]:
    """Class decorator: add a scheme to :data:`SCHEMES` under its ``name`` (a clash raises)."""
    if cls.name in SCHEMES and SCHEMES[cls.name] is not cls:
        raise ConfigError(f"scheme name {cls.name!r} is taken by {SCHEMES[cls.name].__qualname__}; pick another name")
    SCHEMES[cls.name] = cls
    return cls


def check_rungs(scheme: Scheme, rungs: np.ndarray, n_sessions: int, n_rungs: int) -> np.ndarray:
    """Validate what a scheme returned; a bad answer raises, it is never clipped."""
    arr = np.asarray(rungs)
    if arr.shape != (n_sessions,):
        raise ConfigError(f"scheme {scheme.name!r} returned shape {arr.shape} from choose(); expected ({n_sessions},)")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"scheme {scheme.name!r} returned dtype {arr.dtype} from choose(); expected integer rungs")
    if arr.size and (arr.min() < 0 or arr.max() >= n_rungs):
        raise ConfigError(
            f"scheme {scheme.name!r} returned rung {int(arr.min() if arr.min() < 0 else arr.max())}; "
            f"rungs are 0..{n_rungs - 1}"
        )
    return arr.astype(np.int64, copy=False)
