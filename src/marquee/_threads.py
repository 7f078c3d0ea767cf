"""One thread for small model fits: on a shared machine an oversubscribed BLAS/OpenMP pool spin-waits (fits of a
few thousand rows ran many times slower with the default pools on 2 busy cores)."""

from __future__ import annotations

from typing import Any

__all__ = ["one_thread"]


def one_thread() -> Any:
    """A context limiting BLAS and OpenMP pools to one thread.

    scikit-learn's OpenMP runtime is imported first: threadpoolctl only limits the pools already loaded, so a limit
    set before the first scikit-learn fit would miss the OpenMP pool its boosters use.
    """
    import sklearn.ensemble  # noqa: F401
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
