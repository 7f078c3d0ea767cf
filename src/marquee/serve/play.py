"""Play a title: one simulated adaptive-bitrate (ABR) session on the member's device, for the title page's Play button.

The service's device names (:data:`SERVICE_DEVICES`, as requests carry them) map onto playback's device classes
(:data:`marquee.playback.DEVICES`): a ``mobile`` member plays on a ``phone`` (its ladder cap, VMAF phone model and
ExoPlayer thresholds), over one trace of the phone's usual network. Only the shipped trace sets are used
(:data:`marquee.playback.SHIPPED_TRACES`; the shared ones are not always present): each class plays over the first
of its ``networks`` that is shipped, else ``fcc_pensieve88`` -- Norway HSDPA 3G for phones and tablets, FCC
broadband for laptops and TVs.

A play is a pure function of (title, member, device, session) and the player's seed: the trace is picked by a hash
of them, the scheme is deterministic, so pressing Play twice shows the same numbers. This module is the
service-side adapter over :mod:`marquee.playback`; it knows no HTTP::

    player = Player()
    player.play("tt0111161", "mobile", member_id=42).to_dict()
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from marquee.data.artwork import id_seed
from marquee.errors import ConfigError
from marquee.playback import (
    DEVICES,
    SCHEMES,
    SHIPPED_TRACES,
    SHIPPED_VIDEOS,
    TraceSet,
    load_traces,
    load_video,
    simulate,
)

__all__ = ["DEFAULT_SCHEME", "SERVICE_DEVICES", "PlayResult", "Player", "network_for"]

#: Service device (as requests name it) -> playback device class.
SERVICE_DEVICES: dict[str, str] = {
    "tv": "tv",
    "mobile": "phone",
    "web": "laptop",
    "tablet": "tablet",
    "console": "tv",
    "other": "laptop",
}

#: The scheme a play uses unless told otherwise: Marquee's own (:class:`~marquee.playback.StochasticMPC`), the best
#: online scheme of bench/playback.py. A play of the 48-chunk Envivio ladder must fit the 50 ms a button press allows
#: at the 90th percentile; bench/play_latency.py measures each scheme's (BENCHMARKS.md, "play-latency").
DEFAULT_SCHEME = "marquee"

_FALLBACK_NETWORK = "fcc_pensieve88"

#: How each quality model's scores read on the page.
_QUALITY_UNITS = {"vmaf": "VMAF", "vmaf_phone": "VMAF (phone model)", "vmaf_tablet": "VMAF (tablet model)"}


def network_for(device_class: str) -> str:
    """The shipped trace set a playback device class plays over: the first of its ``networks`` that is shipped,
    else ``fcc_pensieve88``.

    Raises:
        ConfigError: ``device_class`` is not a key of :data:`marquee.playback.DEVICES`.
    """
    if device_class not in DEVICES:
        raise ConfigError(f"unknown playback device class {device_class!r}; known: {', '.join(DEVICES)}")
    return next((n for n in DEVICES[device_class].networks if n in SHIPPED_TRACES), _FALLBACK_NETWORK)


@dataclass(frozen=True)
class PlayResult:
    """How one simulated session of a title played.

    Attributes:
        title_id: the title played.
        device: the service device (a key of :data:`SERVICE_DEVICES`).
        device_class: the playback device class it plays as (``phone``, ``tablet``, ``laptop``, ``tv``).
        network: the trace set the trace came from.
        trace: the network trace the session played over.
        scheme: the ABR scheme that chose the rungs.
        startup_delay_s: seconds from pressing Play to the first frame.
        mean_bitrate_kbps: mean nominal bitrate over the chunks.
        mean_quality: mean per-chunk picture quality as the device shows it (its quality model).
        quality_unit: what ``mean_quality`` is measured in, e.g. ``"VMAF (phone model)"``.
        rebuffer_s: seconds stalled after start-up.
        rebuffer_ratio: ``rebuffer_s / (rebuffer_s + duration_s)``.
        switches: rung changes between consecutive chunks.
        chunks: chunks played.
        duration_s: seconds of video played (``chunks`` times the chunk length).
    """

    title_id: int | str
    device: str
    device_class: str
    network: str
    trace: str
    scheme: str
    startup_delay_s: float
    mean_bitrate_kbps: float
    mean_quality: float
    quality_unit: str
    rebuffer_s: float
    rebuffer_ratio: float
    switches: int
    chunks: int
    duration_s: float

    def to_dict(self) -> dict[str, int | str | float]:
        """JSON-ready fields; times to the millisecond, bitrate to 0.1 kbps, quality to 0.01, the ratio to 1e-4."""
        out = asdict(self)
        for name, digits in (
            ("startup_delay_s", 3),
            ("mean_bitrate_kbps", 1),
            ("mean_quality", 2),
            ("rebuffer_s", 3),
            ("rebuffer_ratio", 4),
            ("duration_s", 3),
        ):
            out[name] = round(float(out[name]), digits)
        return out


def _id_entropy(value: int | str | None, name: str) -> list[int]:
    """An id as non-negative integers for a :class:`numpy.random.SeedSequence`: a tag (absent, int, text) and its
    :func:`~marquee.data.artwork.id_seed`, so ``5``, ``"5"`` and no id hash apart."""
    if value is None:
        return [0, 0]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{name} must be an int or a str, got {type(value).__name__} {value!r}")
    return [1 if isinstance(value, int) else 2, id_seed(value) % (1 << 256)]


class Player:
    """Plays titles: one simulated session per :meth:`play`, on the member's device, over a trace of its network.

    The video ladder, the trace sets and each device class's network are loaded once, here; :meth:`play` only
    picks a trace and simulates. A play builds its own scheme, so one player serves concurrent requests.

    Args:
        scheme: a key of :data:`marquee.playback.SCHEMES` that plays online (not an offline optimum); default
            :data:`DEFAULT_SCHEME`.
        video: a shipped video (:data:`marquee.playback.SHIPPED_VIDEOS`) with per-chunk quality (``envivio``).
        seed: mixed into every play's trace pick; another seed gives another, equally deterministic, draw.

    Raises:
        ConfigError: an unknown or offline scheme, an unknown video or one without quality, or a seed not an int.
    """

    def __init__(self, *, scheme: str = DEFAULT_SCHEME, video: str = "envivio", seed: int = 0) -> None:
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown scheme {scheme!r}; known: {', '.join(sorted(SCHEMES))}")
        if SCHEMES[scheme].needs_future:
            online = sorted(n for n, cls in SCHEMES.items() if not cls.needs_future)
            raise ConfigError(
                f"scheme {scheme!r} plans with the whole trace known and cannot play live; "
                f"use one of {', '.join(online)}"
            )
        if video not in SHIPPED_VIDEOS:
            raise ConfigError(f"unknown video {video!r}; shipped: {', '.join(SHIPPED_VIDEOS)}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seed must be an int >= 0, got {seed!r}")
        self.scheme = scheme
        self.seed = seed
        self._scheme_cls = SCHEMES[scheme]
        self._video = load_video(video)
        if self._video.quality is None:
            raise ConfigError(
                f"video {video!r} has no per-chunk quality, so a play could not report picture quality; "
                "use video='envivio' (VMAF per chunk and rung)"
            )
        classes = dict.fromkeys(SERVICE_DEVICES.values())
        networks = {c: network_for(c) for c in classes}
        sets = {name: load_traces(name) for name in dict.fromkeys(networks.values())}
        self._networks: dict[str, TraceSet] = {c: sets[n] for c, n in networks.items()}
        self._device_codes = {d: i for i, d in enumerate(SERVICE_DEVICES)}
        # One play now, so that the first member to press Play does not wait for the scheme's compiled planner to
        # load: bench/play_latency.py's "build s" column is this constructor, that play included.
        self.play(0, None)

    def play(
        self, title_id: int | str, device: str | None, *, member_id: int | str | None = None, session: int = 0
    ) -> PlayResult:
        """Simulate one session of ``title_id`` on ``device`` (``None``: ``"tv"``).

        The trace is the one a hash of (seed, title, member, device, session) picks from the device class's
        network; the same arguments always give the same result.

        Raises:
            ConfigError: ``device`` is not a key of :data:`SERVICE_DEVICES`, an id is not an int or str, or
                ``session`` is not an int >= 0.
        """
        device = "tv" if device is None else device
        if device not in SERVICE_DEVICES:
            raise ConfigError(f"unknown device {device!r}; use one of {', '.join(SERVICE_DEVICES)} (or None for 'tv')")
        if isinstance(session, bool) or not isinstance(session, int) or session < 0:
            raise ConfigError(f"session must be an int >= 0, got {session!r}")
        entropy = [
            self.seed,
            *_id_entropy(title_id, "title_id"),
            *_id_entropy(member_id, "member_id"),
            self._device_codes[device],
            session,
        ]
        device_class = SERVICE_DEVICES[device]
        network = self._networks[device_class]
        pick = int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] % len(network))
        trace = network[pick]
        played = simulate(trace, self._video, self._scheme_cls(), device=device_class)
        chunks = played.rung.shape[1]
        return PlayResult(
            title_id=title_id,
            device=device,
            device_class=device_class,
            network=network.name,
            trace=trace.name,
            scheme=played.scheme,
            startup_delay_s=float(played.startup_s[0]),
            mean_bitrate_kbps=float(played.avg_bitrate_mbps[0] * 1000.0),
            mean_quality=float(played.quality_mean[0]),
            quality_unit=_QUALITY_UNITS.get(DEVICES[device_class].quality_model, DEVICES[device_class].quality_model),
            rebuffer_s=float(played.rebuffer_s[0]),
            rebuffer_ratio=float(played.rebuffer_ratio[0]),
            switches=int(played.switches[0]),
            chunks=int(chunks),
            duration_s=float(chunks * played.video.chunk_seconds),
        )
