"""One-hit-wonder admission: libCacheSim's ``BloomFilterAdmissioner`` (``lru+bloom``).

Definition (libCacheSim 0.3.5, ``cache/admission/bloomfilter.c``): on a miss, an object never requested before is
remembered and **not** admitted; from its second request on it is admitted. Despite its name libCacheSim keeps an
exact table of the ids it has seen (a glib hash table, no false positives), and that table is never reset or aged,
so this filter keeps one seen bit per dense object and is exact: miss ratios equal libCacheSim's to the request.

The filter is asked on every miss, before the size check (libCacheSim's ``cache_can_insert_default`` order), so an
object larger than the cache is still remembered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import Admission, AdmitHooks, register
from marquee.cdn.requests import Requests

__all__ = ["BloomAdmission", "BloomAdmissionConfig"]


@dataclass(frozen=True)
class BloomAdmissionConfig:
    """No options: libCacheSim's ``BloomFilterAdmissioner`` takes none."""


@njit(inline="always")
def _admit(astate, i, o, size):
    (seen,) = astate
    if seen[o]:
        return True
    seen[o] = True
    return False


@register
class BloomAdmission(Admission):
    """Admit an object on its second request and after; its first request is remembered, never admitted."""

    Config = BloomAdmissionConfig
    name = "bloom"

    def hooks(self, requests: Requests, capacity: int) -> AdmitHooks:
        return AdmitHooks((np.zeros(max(requests.n_objects, 1), dtype=np.bool_),), _admit)
