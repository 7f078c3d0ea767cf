"""Viewing context in the simulated world: devices, hours of the day, and what titles suit them.

Titles get two attributes, derived deterministically from their catalog genres (MovieLens has
no runtimes): a runtime in minutes and a kids' appeal in [0, 1]. A context cell is a device and
a daypart; in each cell, a title's taste logit moves by
``shift[cell] = kids_weight[cell] · kids_i + length_weight[cell] · z(runtime_i)``, so kids' and short
titles gain on tablets, phones and in the morning, and long films gain on the TV in the evening.
"""

from __future__ import annotations

import hashlib

import numpy as np

from marquee.rank.context import DEVICES

__all__ = [
    "DAYPARTS",
    "DEVICES",
    "HOUR_PROFILES",
    "context_shift",
    "daypart_of",
    "title_attributes",
]

# DEVICES (device classes in code order; ``device`` codes index it) is the context stage's vocabulary.
#: Population shares of the devices; each member's shares are drawn around them.
DEVICE_SHARES = np.array([0.40, 0.30, 0.20, 0.10])
#: Dayparts by local hour: night 0-5, morning 6-11, afternoon 12-17, evening 18-23.
DAYPARTS: tuple[str, ...] = ("night", "morning", "afternoon", "evening")


def _profile(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, np.float64)
    return w / w.sum()


#: P(local hour | device), rows in :data:`DEVICES` order: TV peaks in the evening, phones
#: spread over commutes and lunch, tablets have a morning (kids) and an evening bump.
HOUR_PROFILES = np.stack(
    [
        _profile([2, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 5, 6, 7, 9, 12, 16, 20, 22, 16, 6]),  # tv
        _profile([3, 2, 1, 1, 1, 2, 5, 9, 10, 7, 6, 7, 10, 8, 6, 6, 8, 10, 9, 9, 10, 11, 10, 6]),  # mobile
        _profile([2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 11, 10, 10, 9, 9, 9, 10, 10, 9, 6, 3]),  # web
        _profile([2, 1, 1, 1, 1, 2, 6, 10, 11, 8, 6, 6, 7, 7, 7, 8, 10, 11, 10, 10, 9, 7, 4, 2]),  # tablet
    ]
)

# Taste shifts per (device, daypart): weight on kids' appeal, and on standardised runtime.
_DEVICE_KIDS = np.array([0.0, 0.3, 0.0, 0.8])
_DEVICE_LENGTH = np.array([0.5, -0.7, 0.0, -0.3])
_DAYPART_KIDS = np.array([-0.6, 0.7, 0.3, -0.2])
_DAYPART_LENGTH = np.array([0.0, -0.4, -0.1, 0.4])

# Runtime effects of MovieLens genres (minutes added to a 100-minute base).
_RUNTIME_EFFECT = {
    "War": 25.0, "Western": 12.0, "Drama": 10.0, "Adventure": 8.0, "Musical": 8.0, "Sci-Fi": 6.0, "Crime": 5.0,
    "Romance": 3.0, "Action": 3.0, "Comedy": -8.0, "Horror": -10.0, "Documentary": -12.0, "Children's": -18.0,
    "Animation": -22.0,
}  # fmt: skip
_KIDS_APPEAL = {"Children's": 1.0, "Animation": 0.7, "Musical": 0.2, "Fantasy": 0.2, "Comedy": 0.1}


def _unit_hash(title_id: int) -> float:
    """A deterministic number in [0, 1) from a title id (independent of any seed)."""
    return int.from_bytes(hashlib.sha256(f"runtime:{title_id}".encode()).digest()[:8], "big") / 2.0**64


def title_attributes(title_ids: np.ndarray, genres: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Runtime and kids' appeal of each title, from its genres alone.

    Runtime is ``100 + mean(genre effects) · 1.5 + jitter`` minutes, the jitter in ``[-15, 15)``
    from a hash of the title id, clipped to ``[60, 200]``; kids' appeal is the largest of the
    genres' appeals (Children's 1, Animation 0.7, ...).

    Returns:
        ``(runtime_minutes, kids)``: (n_titles,) float64 each.
    """
    runtime = np.empty(len(title_ids))
    kids = np.empty(len(title_ids))
    for j, (tid, gs) in enumerate(zip(np.asarray(title_ids).tolist(), genres, strict=True)):
        effects = [_RUNTIME_EFFECT.get(g, 0.0) for g in gs or []]
        base = 100.0 + (1.5 * float(np.mean(effects)) if effects else 0.0)
        runtime[j] = np.clip(base + 30.0 * (_unit_hash(tid) - 0.5), 60.0, 200.0)
        kids[j] = max([_KIDS_APPEAL.get(g, 0.0) for g in gs or []], default=0.0)
    return runtime, kids


def daypart_of(hour: np.ndarray) -> np.ndarray:
    """(n,) int daypart codes (index into :data:`DAYPARTS`) of local hours 0-23."""
    return np.asarray(hour, np.int64) // 6


def context_shift(runtime: np.ndarray, kids: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Taste shift of every title in every context cell.

    Cell ``c = device · 4 + daypart``.

    Returns:
        (len(DEVICES) · len(DAYPARTS), n_titles) float64 logit shifts.
    """
    z = (runtime - runtime.mean()) / max(float(runtime.std()), 1e-9)
    kw = (_DEVICE_KIDS[:, None] + _DAYPART_KIDS[None, :]).ravel()
    lw = (_DEVICE_LENGTH[:, None] + _DAYPART_LENGTH[None, :]).ravel()
    return strength * (kw[:, None] * kids[None, :] + lw[:, None] * z[None, :])
