"""The policy interface: an eviction policy (or admission filter) supplies state arrays and compiled hooks.

The per-request loop is written once (:mod:`marquee.cdn.replay`) and compiled per policy. It looks the object up
(a resident bit per object), and

- on a hit calls ``on_hit(state, i, o)``;
- on a miss calls ``on_miss(state, i, o)`` (ghost lists learn here), asks the admission filter
  ``admit(astate, i, o, size)``, refuses an object larger than the cache, asks the policy's own
  ``can_insert(state, i, o, size)``, then calls ``victim(state, i, o)`` until the object fits (the hook unlinks
  one object from the policy's structures and returns it, and the loop frees its bytes; ``-1`` means the incoming
  object itself loses, and it is not inserted), and finally ``on_insert(state, i, o)``, which returns whether the
  object went in.

``i`` is the request's position (Belady reads ``next_access[i]``), ``o`` its dense object index. Hooks are numba
``@njit`` functions at module level, so the loop is specialised per policy. They are called, not inlined (numba
compiles a function passed as an argument as a call), and each call takes a reference on every array it unpacks
from the state: pack a policy's state into few arrays (one int64 array where possible) to stay fast. This is
libCacheSim's ``cache_get_base`` order (find, can_insert = admission then size, evict until it fits, insert), which
is what makes the miss ratios equal libCacheSim's.

A user's own policy is a subclass with a ``Config`` dataclass, a ``name`` and a ``hooks`` method; registering it
(:func:`register`) makes it available to :func:`marquee.cdn.replay` and the CLI by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numba import njit

from marquee.cdn.requests import Requests
from marquee.errors import ConfigError

__all__ = [
    "ADMISSIONS",
    "POLICIES",
    "Admission",
    "AdmitHooks",
    "EvictionPolicy",
    "Hooks",
    "NoAdmission",
    "always_holds",
    "can_always_insert",
    "make",
    "register",
]


@njit(inline="always")
def can_always_insert(state, i, o, size):
    """The default ``can_insert``: the loop's own checks (admission, larger than the cache) are enough."""
    return True


@njit(inline="always")
def always_holds(state, i, o):
    """The default ``holds``: an object the loop holds is in the cache."""
    return True


class Hooks(NamedTuple):
    """What an eviction policy hands the replay loop: its mutable state and its compiled functions.

    ``victim`` may return ``-1``: the incoming object is itself the one to go (GDSF's insert-then-evict), so the
    loop stops evicting and does not insert it. ``on_insert`` returns whether the object went in. ``can_insert``
    refuses an object before anything is evicted (S3-FIFO refuses one larger than its small queue). ``holds``
    is asked before a hit: ``False`` means the policy has already let the object go (W-TinyLFU's segmented LRU can
    evict on a hit, or several objects in one eviction), so the loop frees it and the request is a miss.
    """

    state: tuple
    on_hit: Any
    on_miss: Any
    victim: Any
    on_insert: Any
    can_insert: Any = can_always_insert
    holds: Any = always_holds


class AdmitHooks(NamedTuple):
    """What an admission filter hands the replay loop: its state and ``admit(astate, i, o, size) -> bool``."""

    state: tuple
    admit: Any


@njit(inline="always")
def noop(state, i, o):
    """A hook that does nothing (for policies with nothing to learn on a hit or a miss)."""
    return


class _Configured:
    Config: ClassVar[type]
    name: ClassVar[str]

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        if config is None:
            names = {f.name for f in fields(self.Config)}
            unknown = set(overrides) - names
            if unknown:
                raise ConfigError(
                    f"{self.name} has no option {min(unknown)!r}; its options are {sorted(names) or 'none'}"
                )
            config = self.Config(**overrides)
        elif overrides:
            raise ConfigError(f"give {self.name} either a config or keyword options, not both")
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


class EvictionPolicy(_Configured, ABC):
    """An eviction policy: ``Config``, ``name``, and :meth:`hooks` building fresh state for one replay."""

    needs_future: ClassVar[bool] = False
    """Belady-style policies read the next-access position of each request; the driver supplies it."""

    @abstractmethod
    def hooks(self, requests: Requests, capacity: int) -> Hooks:
        """Fresh state for replaying ``requests`` through a cache of ``capacity`` bytes, and the hooks."""


class Admission(_Configured, ABC):
    """An admission filter: asked on every miss whether the object may enter the cache."""

    @abstractmethod
    def hooks(self, requests: Requests, capacity: int) -> AdmitHooks: ...


@dataclass(frozen=True)
class NoAdmissionConfig:
    pass


@njit(inline="always")
def _admit_all(astate, i, o, size):
    return True


class NoAdmission(Admission):
    """Admit every object (libCacheSim's default)."""

    Config = NoAdmissionConfig
    name = "none"

    def hooks(self, requests: Requests, capacity: int) -> AdmitHooks:
        return AdmitHooks((np.zeros(1, dtype=np.int64),), _admit_all)


POLICIES: dict[str, type[EvictionPolicy]] = {}
ADMISSIONS: dict[str, type[Admission]] = {"none": NoAdmission}


def register(cls: type) -> type:
    """Class decorator: make a policy or admission filter available by its ``name``."""
    if issubclass(cls, EvictionPolicy):
        POLICIES[cls.name] = cls
    elif issubclass(cls, Admission):
        ADMISSIONS[cls.name] = cls
    else:
        raise TypeError(f"{cls!r} is neither an EvictionPolicy nor an Admission")
    return cls


def make(spec: str) -> tuple[EvictionPolicy, Admission]:
    """``"lru"`` or ``"lru+bloom"`` -> (policy, admission), each with default options."""
    text = spec.strip().lower()
    policy_name, _, admission_name = text.partition("+")
    if policy_name not in POLICIES:
        raise ConfigError(f"unknown cache policy {policy_name!r}; known: {', '.join(sorted(POLICIES))}")
    admission_name = admission_name or "none"
    if admission_name not in ADMISSIONS:
        raise ConfigError(f"unknown admission filter {admission_name!r} in {spec!r}; known: "
                          f"{', '.join(sorted(ADMISSIONS))}")
    return POLICIES[policy_name](), ADMISSIONS[admission_name]()
