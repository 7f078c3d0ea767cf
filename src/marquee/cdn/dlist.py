"""Doubly linked lists over dense object indices, compiled: the queues eviction policies are made of.

Objects are dense indices ``0..n_objects-1``, so lists live in ONE int64 array ``buf``: ``buf[0] = n``, then
``prev`` (``buf[1 + o]``), ``next`` (``buf[1 + n + o]``), the ends of each list (``buf[1 + 2n + 2 lst]`` head,
``+1`` tail; ``-1`` ends a list), then ``extra`` slots a policy may use for its own per-object or scalar state
(:func:`extra`). Several lists share the prev/next arrays as long as an object is on at most one at a time. Head is
the most recently inserted end, tail the oldest: policies insert at the head and evict from the tail, as
libCacheSim's queues do.

One array on purpose: the replay loop calls a policy's hooks as functions (numba does not inline a function passed
as an argument), and each call takes a reference on every array it unpacks from the state, so a state of one array
runs several times faster than one of five. No library offers intrusive lists over numpy arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "extra",
    "link_head",
    "move_to_head",
    "new_lists",
    "pop_tail",
    "prev",
    "push_head",
    "push_tail",
    "remove",
    "tail",
    "unlink",
]

NIL = -1


def new_lists(n_objects: int, n_lists: int = 1, n_extra: int = 0) -> np.ndarray:
    """``buf`` for ``n_lists`` empty lists over ``n_objects`` objects, with ``n_extra`` zeroed extra slots."""
    n = max(n_objects, 1)
    buf = np.full(1 + 2 * n + 2 * n_lists + n_extra, NIL, dtype=np.int64)
    buf[0] = n
    if n_extra:
        buf[-n_extra:] = 0
    return buf


@njit(inline="always")
def link_head(m, prv, nxt, end, o):
    """Insert ``o`` at the head of a list laid out anywhere in one int64 array ``m``: links ``m[prv + x]`` and
    ``m[nxt + x]``, ends ``m[end]`` (head) and ``m[end + 1]`` (tail). Policies with several families of lists in
    one array (LFU's queues and its list of frequencies, ARC's four lists) use these two primitives directly."""
    h = m[end]
    m[prv + o] = NIL
    m[nxt + o] = h
    if h != NIL:
        m[prv + h] = o
    else:
        m[end + 1] = o
    m[end] = o


@njit(inline="always")
def unlink(m, prv, nxt, end, o):
    """Unlink ``o`` from a list laid out as for :func:`link_head`."""
    p = m[prv + o]
    q = m[nxt + o]
    if p != NIL:
        m[nxt + p] = q
    else:
        m[end] = q
    if q != NIL:
        m[prv + q] = p
    else:
        m[end + 1] = p
    m[prv + o] = NIL
    m[nxt + o] = NIL


@njit(inline="always")
def extra(buf, n_lists):
    """Index of the first extra slot of ``buf`` built with ``n_lists`` lists."""
    return 1 + 2 * buf[0] + 2 * n_lists


@njit(inline="always")
def _ends(buf, lst):
    return 1 + 2 * buf[0] + 2 * lst


@njit(inline="always")
def push_head(buf, lst, o):
    """Insert ``o`` at the head of list ``lst``."""
    link_head(buf, 1, 1 + buf[0], _ends(buf, lst), o)


@njit(inline="always")
def push_tail(buf, lst, o):
    """Insert ``o`` at the tail of list ``lst``."""
    n = buf[0]
    e = _ends(buf, lst)
    tail = buf[e + 1]
    buf[1 + n + o] = NIL
    buf[1 + o] = tail
    if tail != NIL:
        buf[1 + n + tail] = o
    else:
        buf[e] = o
    buf[e + 1] = o


@njit(inline="always")
def remove(buf, lst, o):
    """Unlink ``o`` from list ``lst``."""
    unlink(buf, 1, 1 + buf[0], _ends(buf, lst), o)


@njit(inline="always")
def pop_tail(buf, lst):
    """Unlink and return the tail of list ``lst`` (``-1`` when it is empty)."""
    o = buf[_ends(buf, lst) + 1]
    if o != NIL:
        remove(buf, lst, o)
    return o


@njit(inline="always")
def move_to_head(buf, lst, o):
    """Move ``o``, already on list ``lst``, to its head."""
    if buf[_ends(buf, lst)] != o:
        remove(buf, lst, o)
        push_head(buf, lst, o)


@njit(inline="always")
def prev(buf, o):
    """The neighbour of ``o`` on the head side (the more recently inserted one), ``-1`` at the head."""
    return buf[1 + o]


@njit(inline="always")
def tail(buf, lst):
    """The tail (oldest) object of list ``lst``, ``-1`` when it is empty."""
    return buf[_ends(buf, lst) + 1]
