"""Doubly linked lists over dense object indices, compiled: the queues every eviction policy is made of.

Objects are dense indices ``0..n_objects-1``, so a list is two arrays ``prev (n_objects,)`` and ``next
(n_objects,)`` (``-1`` ends a list) and its ends, a row of ``ends (n_lists, 2)``: ``[head, tail]``. One pair of
prev/next arrays can carry several lists (ARC's four, S3-FIFO's queues) as long as an object is on at most one of
them at a time. Head is the most recently inserted end, tail the oldest: policies insert at the head and evict
from the tail, as libCacheSim's queues do.

No library offers this: numba compiles loops but has no intrusive list type, and numba's typed containers are
an order of magnitude slower than plain arrays on the per-request path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["move_to_head", "new_lists", "pop_tail", "push_head", "push_tail", "remove"]

NIL = -1


def new_lists(n_objects: int, n_lists: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(prev, next, ends)`` for ``n_lists`` empty lists over ``n_objects`` objects."""
    prev = np.full(max(n_objects, 1), NIL, dtype=np.int64)
    nxt = np.full(max(n_objects, 1), NIL, dtype=np.int64)
    ends = np.full((n_lists, 2), NIL, dtype=np.int64)
    return prev, nxt, ends


@njit(inline="always")
def push_head(prev, nxt, ends, lst, o):
    """Insert ``o`` at the head of list ``lst``."""
    head = ends[lst, 0]
    prev[o] = NIL
    nxt[o] = head
    if head != NIL:
        prev[head] = o
    else:
        ends[lst, 1] = o
    ends[lst, 0] = o


@njit(inline="always")
def push_tail(prev, nxt, ends, lst, o):
    """Insert ``o`` at the tail of list ``lst``."""
    tail = ends[lst, 1]
    nxt[o] = NIL
    prev[o] = tail
    if tail != NIL:
        nxt[tail] = o
    else:
        ends[lst, 0] = o
    ends[lst, 1] = o


@njit(inline="always")
def remove(prev, nxt, ends, lst, o):
    """Unlink ``o`` from list ``lst``."""
    p = prev[o]
    q = nxt[o]
    if p != NIL:
        nxt[p] = q
    else:
        ends[lst, 0] = q
    if q != NIL:
        prev[q] = p
    else:
        ends[lst, 1] = p
    prev[o] = NIL
    nxt[o] = NIL


@njit(inline="always")
def pop_tail(prev, nxt, ends, lst):
    """Unlink and return the tail of list ``lst`` (``-1`` when it is empty)."""
    o = ends[lst, 1]
    if o != NIL:
        remove(prev, nxt, ends, lst, o)
    return o


@njit(inline="always")
def move_to_head(prev, nxt, ends, lst, o):
    """Move ``o``, already on list ``lst``, to its head."""
    if ends[lst, 0] != o:
        remove(prev, nxt, ends, lst, o)
        push_head(prev, nxt, ends, lst, o)
