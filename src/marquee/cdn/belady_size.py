"""BeladySize: sample cached objects, evict the one with the largest size x distance to its next request.

libCacheSim 0.3.5's ``BeladySize`` (``cache/eviction/BeladySize.c``, default ``n-sample=128``) is defined so:

- on each eviction it draws ``n_samples`` cached objects at random (with replacement) and evicts the one with the
  largest score ``log(obj_size) + log(next_access_vtime - n_req)``, i.e. the largest size x distance to the next
  request, ``n_req`` being the 1-based number of the current request and ``next_access_vtime`` the 1-based number
  of the object's next request (libCacheSim's ``traceConv`` writes it so); the first sampled object wins a tie,
  a later one must score strictly more. Here the score is the exact int64 product ``size * (next - i)`` over
  0-based positions, the same distance; it orders objects as libCacheSim's sum of logs does except where two
  products are within a double's rounding of each other;
- an object never requested again (next access ``INT64_MAX``) does not stay: a hit whose next access is
  "never" removes the object, and a miss for such an object evicts to make room as usual but then does not insert
  it.

The replay loop always inserts an admitted object and cannot remove one on a hit, so this module keeps such
dead objects on a separate stack and evicts them before sampling any live one. That is the same cache: while a
dead object is still held, ``live + dead + size <= capacity`` implies ``live + size <= capacity`` (libCacheSim
would not evict either), and once none is held the eviction condition is libCacheSim's own; a dead object is
never requested again, so holding it changes no hit.

What is **not** reproduced is libCacheSim's random draw: it picks a hash-table bucket from the low bits of a
64-bit LCG (``next_rand``, thread-local state carried from run to run), skips empty ones and takes the head of the
bucket's chain, which depends on its hash function, table size and earlier runs in the process. Here the draw
is uniform over the live cached objects from a seeded xorshift64* generator (``seed``), so miss ratios agree
with libCacheSim's only statistically (the tests state the tolerance), and are reproducible for a given seed.

To compare with libCacheSim, give it next-access values as its ``traceConv`` writes them (1-based): with 0-based
positions an object requested again at once scores ``log(0)`` there, is never chosen, and libCacheSim loops
forever when it is the only cached object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from marquee.cdn.policy import EvictionPolicy, Hooks, noop, register
from marquee.cdn.requests import NO_NEXT_ACCESS, Requests
from marquee.errors import ConfigError

__all__ = ["BeladySize", "BeladySizeConfig"]


@dataclass(frozen=True)
class BeladySizeConfig:
    n_samples: int = 128
    """Objects sampled per eviction (libCacheSim's ``n-sample``, default 128)."""
    seed: int = 0
    """Seed of the sampling generator."""

    def __post_init__(self) -> None:
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, int) or self.n_samples < 1:
            raise ConfigError(f"beladysize n_samples must be a whole number >= 1, not {self.n_samples!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"beladysize seed must be a whole number, not {self.seed!r}")


_NEVER = NO_NEXT_ACCESS
_XS_MUL = np.uint64(0x2545F4914F6CDD1D)
_S12 = np.uint64(12)
_S25 = np.uint64(25)
_S27 = np.uint64(27)

# State: (next_access (n,) int64, object_size (n_objects,) int64, key (n_objects,) int64 an object's next access,
#         live (n_objects,) int64 the sampleable cached objects at 0..n_live-1, slot (n_objects,) int64 an object's
#         index in live, dead (n_objects,) int64 a stack of cached objects never requested again,
#         meta (3,) int64 = [n_live, n_dead, n_samples], rng (1,) uint64 xorshift64* state).


@njit(inline="always")
def _rand(rng):
    x = rng[0]
    x ^= x >> _S12
    x ^= x << _S25
    x ^= x >> _S27
    rng[0] = x
    return x * _XS_MUL


@njit(inline="always")
def _add_live(live, slot, meta, o):
    n = meta[0]
    live[n] = o
    slot[o] = n
    meta[0] = n + 1


@njit(inline="always")
def _remove_live(live, slot, meta, o):
    last = meta[0] - 1
    at = slot[o]
    moved = live[last]
    live[at] = moved
    slot[moved] = at
    meta[0] = last


@njit(inline="always")
def _on_hit(state, i, o):
    next_access, _, key, live, slot, dead, meta, _ = state
    nxt = next_access[i]
    if nxt == _NEVER:
        _remove_live(live, slot, meta, o)
        dead[meta[1]] = o
        meta[1] += 1
    else:
        key[o] = nxt


@njit(inline="always")
def _victim(state, i, o):
    _, object_size, key, live, slot, dead, meta, rng = state
    if meta[1] > 0:
        meta[1] -= 1
        return dead[meta[1]]
    n_live = np.uint64(meta[0])
    best = -1
    best_score = -1
    for _ in range(meta[2]):
        v = live[np.int64(_rand(rng) % n_live)]
        score = object_size[v] * (key[v] - i)  # size x distance, distance >= 1
        if best_score < score:
            best = v
            best_score = score
    _remove_live(live, slot, meta, best)
    return best


@njit(inline="always")
def _on_insert(state, i, o):
    next_access, _, key, live, slot, dead, meta, _ = state
    nxt = next_access[i]
    if nxt == _NEVER:
        dead[meta[1]] = o
        meta[1] += 1
    else:
        key[o] = nxt
        _add_live(live, slot, meta, o)
    return True


def _seed_state(seed: int) -> np.ndarray:
    # splitmix64 of the seed: a nonzero, well-mixed xorshift state for any seed, 0 included.
    mask = (1 << 64) - 1
    z = (seed * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    z ^= z >> 31
    return np.array([z or 1], dtype=np.uint64)


@register
class BeladySize(EvictionPolicy):
    """Sampled size-aware Belady: of ``n_samples`` random cached objects evict the largest size x reuse distance."""

    Config = BeladySizeConfig
    name = "beladysize"
    needs_future = True

    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        n_objects = max(requests.n_objects, 1)
        state = (
            requests.next_access(),
            requests.object_size if requests.n_objects else np.zeros(1, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.zeros(n_objects, dtype=np.int64),
            np.array([0, 0, self.config.n_samples], dtype=np.int64),
            _seed_state(self.config.seed),
        )
        return Hooks(state, _on_hit, noop, _victim, _on_insert)
