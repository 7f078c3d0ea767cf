"""One way to turn a seed into a random generator."""

from __future__ import annotations

import numpy as np

__all__ = ["SeedLike", "as_generator"]

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    Args:
        seed: an int (a fresh PCG64 generator seeded with it), an existing generator (returned
            as is, so callers can share one stream), or ``None`` (OS entropy; avoid in tests).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, int | np.integer) or isinstance(seed, bool)):
        raise TypeError(f"seed must be an int, a numpy Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(seed)
