"""Evaluation splits: temporal leave-one-out per member, and a global temporal split.

The protocol (so figures compare with other libraries): implicit feedback, each (member,
title) pair counted once at its first occurrence; per member, events in canonical order
(timestamp, then :func:`~marquee.data.interactions.tie_keys`); the last is the test target,
the second-to-last the validation target, the rest is training data. Members with fewer than
three distinct titles stay wholly in training and are not evaluated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from marquee.data.interactions import Interactions
from marquee.errors import ConfigError, DataError

__all__ = ["Holdout", "Split", "global_temporal", "leave_one_out"]


@dataclass(frozen=True, eq=False)
class Holdout:
    """Held-out targets: for each evaluated member, the titles it went on to watch.

    Attributes:
        member_idx: (n_eval,) int64 dense member positions, increasing.
        indptr: (n_eval + 1,) int64; member ``j``'s targets are ``title_idx[indptr[j]:indptr[j+1]]``.
        title_idx: (n_targets,) int64 dense title positions.
        n_titles: size of the title index.
    """

    member_idx: np.ndarray
    indptr: np.ndarray
    title_idx: np.ndarray
    n_titles: int

    def __len__(self) -> int:
        return int(self.member_idx.size)

    @cached_property
    def relevance(self) -> sp.csr_matrix:
        """(n_eval, n_titles) bool CSR of targets."""
        data = np.ones(self.title_idx.size, dtype=bool)
        return sp.csr_matrix((data, self.title_idx, self.indptr), shape=(len(self), self.n_titles))

    @classmethod
    def from_pairs(cls, member_idx: np.ndarray, title_idx: np.ndarray, n_titles: int) -> Holdout:
        order = np.lexsort((title_idx, member_idx))
        m, t = np.asarray(member_idx)[order], np.asarray(title_idx)[order]
        members, counts = np.unique(m, return_counts=True)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(members.astype(np.int64), indptr, t.astype(np.int64), n_titles)

    def digest(self) -> bytes:
        h = hashlib.sha256()
        for a in (self.member_idx, self.indptr, self.title_idx):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        return h.digest()


@dataclass(frozen=True, eq=False)
class Split:
    """A train/validation/test split of one log.

    Attributes:
        protocol: ``"leave_one_out"`` or ``"global_temporal"``.
        train: the training rows (tuning fits here).
        validation: targets for hyperparameter choice.
        train_validation: training plus validation rows (final fits here).
        test: targets for the reported figures.
        n_duplicates: repeated (member, title) pairs removed before splitting.
        n_unevaluated: members kept wholly in training (too few titles to hold any out).
    """

    protocol: str
    train: Interactions
    validation: Holdout
    train_validation: Interactions
    test: Holdout
    n_duplicates: int
    n_unevaluated: int

    def fingerprint(self) -> str:
        """SHA-256 (hex, 16 chars) of the exact split; equal fingerprints mean identical splits."""
        h = hashlib.sha256(self.protocol.encode())
        h.update(self.train.fingerprint().encode())
        h.update(self.train_validation.fingerprint().encode())
        h.update(self.validation.digest())
        h.update(self.test.digest())
        h.update(self.train.members.digest())
        h.update(self.train.titles.digest())
        return h.hexdigest()[:16]

    def stage(self, stage: str) -> tuple[Interactions, Holdout]:
        """The fit data and targets of ``"validation"`` or ``"test"``."""
        if stage == "validation":
            return self.train, self.validation
        if stage == "test":
            return self.train_validation, self.test
        raise ConfigError(f"stage must be 'validation' or 'test', got {stage!r}")


def first_occurrences(data: Interactions) -> np.ndarray:
    """(n,) bool: rows that are the first (canonical order) of their (member, title) pair."""
    order = np.lexsort((np.arange(len(data)), data.title_idx, data.member_idx))
    m, t = data.member_idx[order], data.title_idx[order]
    first = np.ones(len(order), bool)
    first[1:] = (m[1:] != m[:-1]) | (t[1:] != t[:-1])
    keep = np.zeros(len(data), bool)
    keep[order[first]] = True
    return keep


def leave_one_out(data: Interactions) -> Split:
    """Temporal leave-one-out per member (see the module docstring for the exact rule)."""
    keep = first_occurrences(data)
    dedup = data.select(keep)
    counts = np.diff(dedup.member_indptr)
    pos = np.arange(len(dedup)) - dedup.member_indptr[dedup.member_idx]
    n_of_row = counts[dedup.member_idx]
    evaluated = n_of_row >= 3
    is_test = evaluated & (pos == n_of_row - 1)
    is_val = evaluated & (pos == n_of_row - 2)
    if not is_test.any():
        raise DataError("no member has three or more distinct titles; leave-one-out needs at least three")
    n_titles = data.n_titles
    return Split(
        protocol="leave_one_out",
        train=dedup.select(~is_test & ~is_val),
        validation=Holdout.from_pairs(dedup.member_idx[is_val], dedup.title_idx[is_val], n_titles),
        train_validation=dedup.select(~is_test),
        test=Holdout.from_pairs(dedup.member_idx[is_test], dedup.title_idx[is_test], n_titles),
        n_duplicates=int((~keep).sum()),
        n_unevaluated=int(((counts > 0) & (counts < 3)).sum()),
    )


def global_temporal(data: Interactions, validation_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """One cut in time for everybody: the last ``test_fraction`` of events is the test window,
    the ``validation_fraction`` before it the validation window.

    Targets are the titles a member first watched inside the window; only members with training
    history are evaluated (the others are cold-start, a different question).
    """
    if not (0 < validation_fraction < 1 and 0 < test_fraction < 1 and validation_fraction + test_fraction < 1):
        raise ConfigError(
            f"validation_fraction and test_fraction must be in (0, 1) and sum below 1, "
            f"got {validation_fraction} and {test_fraction}"
        )
    keep = first_occurrences(data)
    dedup = data.select(keep)
    ts = dedup.timestamps
    order = np.lexsort((np.arange(len(ts)), ts))
    rank = np.empty(len(ts), np.int64)
    rank[order] = np.arange(len(ts))
    n = len(ts)
    t_val = int(round(n * (1 - validation_fraction - test_fraction)))
    t_test = int(round(n * (1 - test_fraction)))
    in_train, in_val, in_test = rank < t_val, (rank >= t_val) & (rank < t_test), rank >= t_test

    def targets(window: np.ndarray, history: np.ndarray) -> Holdout:
        has_history = np.bincount(dedup.member_idx[history], minlength=dedup.n_members) > 0
        sel = window & has_history[dedup.member_idx]
        return Holdout.from_pairs(dedup.member_idx[sel], dedup.title_idx[sel], dedup.n_titles)

    validation = targets(in_val, in_train)
    test = targets(in_test, in_train | in_val)
    if len(test) == 0:
        raise DataError("the test window holds no member with earlier history; lower test_fraction")
    evaluated = np.zeros(dedup.n_members, bool)
    evaluated[test.member_idx] = True
    active = np.bincount(dedup.member_idx, minlength=dedup.n_members) > 0
    return Split(
        protocol="global_temporal",
        train=dedup.select(in_train),
        validation=validation,
        train_validation=dedup.select(in_train | in_val),
        test=test,
        n_duplicates=int((~keep).sum()),
        n_unevaluated=int((active & ~evaluated).sum()),
    )
