"""Device classes: what a phone, a tablet, a laptop, a TV and a 4K TV can play, how their players buffer, how
their screens turn a chunk into perceived quality, and the networks they usually sit on.

A :class:`Device` changes a run in three ways (:func:`marquee.playback.simulate` with ``device=``):

1. **The ladder it is offered** (:meth:`Device.ladder`): rungs above ``max_bitrate_kbps`` are dropped, as a
   manifest filtered for the device would drop them.
2. **The quality it shows** (:meth:`Device.perceived`): the ladder's per-chunk VMAF (scored with the default,
   living-room 1080p-TV model) is mapped through the device's quality model. A device-aware scheme optimises
   this; the reports score every scheme by it.
3. **Its player** (:meth:`Device.session_config`): buffer capacity and the start and resume thresholds.

Where the defaults come from:

- ``phone`` -- quality: Netflix's VMAF phone model, which is the default v0.6.1 model followed by the
  published score transform ``q' = 1.70674692 + 1.72643844 q - 0.00705305 q^2``, never below ``q`` and clipped
  to [0, 100] (libvmaf ``model/vmaf_v0.6.1.json``, ``score_transform``; here applied to the clipped per-chunk
  score). Player: ExoPlayer's ``DefaultLoadControl`` (Android's reference player): 50 s maximum buffer, 2.5 s
  to start, 5 s to resume after a rebuffer. Networks: cellular (Norway HSDPA 3G, Belgium LTE). Price of data:
  chosen by ``bench/playback_tune.py`` (:data:`PHONE_DATA_COST_PER_MB`).
- ``tablet`` -- no published VMAF tablet model exists; a tablet screen sits between a phone and a laptop in
  angular size, so its quality is the midpoint of the phone and default models (an assumption, stated as such).
  Player: ExoPlayer as on phones. Networks: cellular and home broadband.
- ``laptop`` -- quality: the default VMAF model (1080p display at three screen heights; a laptop seen from
  arm's length subtends about that angle). Player: dash.js's defaults, ``bufferTimeAtTopQuality`` 30 s as the
  buffer, start and resume at one chunk (dash.js starts as soon as it can play). Networks: broadband
  (FCC, Oboe, Puffer).
- ``tv`` -- quality: the default VMAF model (it was trained for exactly this: a 1080p HDTV at 3H). Player:
  Pensieve's conventions (60 s buffer, start at the first chunk), 2 s to resume (Shaka Player's
  ``rebufferingGoal``). Networks: broadband.
- ``tv4k`` -- quality: the default model too; the 4K VMAF model needs scores computed on 4K content, which no
  shipped ladder has, so a 1080p ladder on a 4K TV is scored as on an HDTV (reported, not hidden: the
  ``quality_model`` field says ``vmaf``). Can play every rung (the 4K ladder tops out at 35 Mbps).
  Player as ``tv``. Networks: fast broadband (FCC HD, Puffer).

Every device but ``tv4k`` decodes up to 1080p; without resolution in the manifests, that is a bitrate cap of
8 Mbps (above the 1080p rungs of every shipped ladder: Envivio's top is 4.3 Mbps, Big Buck Bunny's 6 Mbps;
the 4K ladder's 16 and 35 Mbps rungs are dropped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from marquee.errors import ConfigError
from marquee.playback.video import Video

__all__ = ["DEVICES", "QUALITY_MODELS", "Device", "device", "perceived_quality"]

#: libvmaf ``vmaf_v0.6.1`` phone ``score_transform`` coefficients (p0, p1, p2).
_PHONE_TRANSFORM = (1.70674692, 1.72643844, -0.00705305)


def _phone(q: np.ndarray) -> np.ndarray:
    p0, p1, p2 = _PHONE_TRANSFORM
    return np.clip(np.maximum(p0 + p1 * q + p2 * q * q, q), 0.0, 100.0)


def _tablet(q: np.ndarray) -> np.ndarray:
    return 0.5 * (q + _phone(q))


#: Quality models by name: each maps default-model VMAF to what the device shows.
QUALITY_MODELS = {"vmaf": lambda q: np.asarray(q, dtype=np.float64), "vmaf_phone": _phone, "vmaf_tablet": _tablet}


def perceived_quality(vmaf: np.ndarray, model: str) -> np.ndarray:
    """Default-model VMAF mapped through a quality model of :data:`QUALITY_MODELS`."""
    if model not in QUALITY_MODELS:
        raise ConfigError(f"unknown quality model {model!r}; known: {', '.join(sorted(QUALITY_MODELS))}")
    return QUALITY_MODELS[model](np.asarray(vmaf, dtype=np.float64))


@dataclass(frozen=True)
class Device:
    """A device class: its ladder cap, quality model, player thresholds and usual networks.

    Attributes:
        name: ``phone``, ``tablet``, ``laptop``, ``tv``, ``tv4k`` or a user's own.
        description: one line for reports.
        max_bitrate_kbps: rungs above this are not offered (``None``: every rung).
        quality_model: a key of :data:`QUALITY_MODELS`.
        buffer_cap_s: the player's maximum buffer.
        start_threshold_s: buffered seconds before playback starts (0: as soon as the first chunk arrives).
        resume_threshold_s: buffered seconds before playback resumes after a rebuffer (0: at the next chunk).
        networks: trace sets this class usually plays over, most typical first (names of the shared sets in
            ``../shared/data/delivery/abr/traces`` or of :data:`marquee.playback.SHIPPED_TRACES`).
        data_cost_per_mb: what a megabyte costs the member on this device's usual network (metered cellular
            data), in QoE units (the top quality is worth the ladder's top bitrate in Mbps per chunk); a
            device-aware scheme trades quality against it. 0: data is free.
    """

    name: str
    description: str
    max_bitrate_kbps: float | None
    quality_model: str
    buffer_cap_s: float
    start_threshold_s: float
    resume_threshold_s: float
    networks: tuple[str, ...]
    data_cost_per_mb: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Device.name must be a non-empty string, got {self.name!r}")
        if self.quality_model not in QUALITY_MODELS:
            raise ConfigError(
                f"device {self.name!r}: unknown quality_model {self.quality_model!r}; "
                f"known: {', '.join(sorted(QUALITY_MODELS))}"
            )
        if self.max_bitrate_kbps is not None and not (
            isinstance(self.max_bitrate_kbps, int | float)
            and math.isfinite(self.max_bitrate_kbps)
            and self.max_bitrate_kbps > 0
        ):
            raise ConfigError(
                f"device {self.name!r}: max_bitrate_kbps must be > 0 or None, got {self.max_bitrate_kbps!r}"
            )
        for field in ("buffer_cap_s", "start_threshold_s", "resume_threshold_s", "data_cost_per_mb"):
            v = getattr(self, field)
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ConfigError(f"device {self.name!r}: {field} must be a finite number >= 0, got {v!r}")
        if self.buffer_cap_s <= 0:
            raise ConfigError(f"device {self.name!r}: buffer_cap_s must be > 0, got {self.buffer_cap_s!r}")
        if max(self.start_threshold_s, self.resume_threshold_s) > self.buffer_cap_s:
            raise ConfigError(f"device {self.name!r}: start/resume thresholds must not exceed buffer_cap_s")

    def ladder(self, video: Video) -> Video:
        """``video`` as offered to this device: rungs above the cap dropped (the lowest always stays), quality
        mapped through the device's model (``None`` stays ``None``)."""
        keep = np.ones(video.n_rungs, dtype=bool)
        if self.max_bitrate_kbps is not None:
            keep = np.asarray(video.bitrates_kbps) <= self.max_bitrate_kbps
            keep[0] = True
        quality = None if video.quality is None else perceived_quality(video.quality[:, keep], self.quality_model)
        return Video(
            f"{video.name}@{self.name}",
            np.asarray(video.bitrates_kbps)[keep],
            video.chunk_seconds,
            video.chunk_bytes[:, keep],
            quality,
        )

    def session_config(self, config: Any) -> Any:
        """``config`` (a :class:`marquee.playback.SessionConfig`) with this device's player buffer and thresholds."""
        return replace(
            config,
            buffer_cap_s=float(self.buffer_cap_s),
            start_threshold_s=float(self.start_threshold_s),
            resume_threshold_s=float(self.resume_threshold_s),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "name": self.name,
            "description": self.description,
            "max_bitrate_kbps": self.max_bitrate_kbps,
            "quality_model": self.quality_model,
            "buffer_cap_s": self.buffer_cap_s,
            "start_threshold_s": self.start_threshold_s,
            "resume_threshold_s": self.resume_threshold_s,
            "networks": list(self.networks),
            "data_cost_per_mb": self.data_cost_per_mb,
        }


#: The phone's price of data: the largest price at which the device-aware Marquee scheme kept device-blind
#: robustMPC's phone quality and rebuffering on the tuning sessions of the phone's networks, the cellular (HSDPA)
#: ones (bench/playback_tune.py, bench/results/).
PHONE_DATA_COST_PER_MB = 1.5

_CELLULAR = ("hsdpa_pensieve80", "sabre_lte_belgium40", "sabre_hsdpa86", "hsdpa_short144")
_BROADBAND = ("fcc_pensieve88", "puffer211017_500", "puffer220218_500", "oboe428")

#: The built-in device classes (see the module docstring for where each value comes from).
DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "phone",
            "phone on a cellular network, ExoPlayer defaults",
            8000.0,
            "vmaf_phone",
            50.0,
            2.5,
            5.0,
            _CELLULAR,
            data_cost_per_mb=PHONE_DATA_COST_PER_MB,
        ),
        Device(
            "tablet",
            "tablet on cellular or home Wi-Fi, ExoPlayer defaults",
            8000.0,
            "vmaf_tablet",
            50.0,
            2.5,
            5.0,
            _CELLULAR[:2] + _BROADBAND[:1],
        ),
        Device("laptop", "laptop browser on broadband, dash.js defaults", 8000.0, "vmaf", 30.0, 0.0, 0.0, _BROADBAND),
        Device("tv", "1080p TV on broadband", 8000.0, "vmaf", 60.0, 0.0, 2.0, _BROADBAND),
        Device(
            "tv4k",
            "4K TV on fast broadband",
            None,
            "vmaf",
            60.0,
            0.0,
            2.0,
            ("sabre_fcc_hd1000", "puffer211017_500", "fcc_pensieve88"),
        ),
    )
}


def device(name: str | Device) -> Device:
    """A built-in device by name (a :class:`Device` passes through); an unknown name raises naming the known ones."""
    if isinstance(name, Device):
        return name
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[name]
