"""Evaluation you can rerun: a query set generated from a catalog, scored by hit@1, hit@10 and MRR per kind.

Query kinds, each from titles drawn with a seed (the text is the display title, ``"The Shawshank
Redemption"``, as a member would type it):

- ``exact``: the whole title.
- ``prefix-N``: its first N characters (as-you-type, cut anywhere, also inside a word).
- ``typo1-insert|delete|substitute|transpose``: one edit of that kind in one word long enough to be
  allowed one typo (at least ``TypoBudget.one_from`` characters); ``typo2-*``: two edits of that kind in
  one word long enough for two (``two_from``).
- ``typo1-short``: one substitution in a word *below* ``one_from`` characters, which the typo rules do
  not forgive by design: it measures what the rule costs (the title's other words must carry it).
- ``split``: one word of 6+ characters split in two (``"spider man"``); ``join``: two adjacent words joined.

A hit is the target title, or a title whose normalised display title is the same (the query cannot tell
them apart). Intervals: percentile bootstrap over queries (:func:`marquee.metrics.bootstrap_mean`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from marquee.data.catalog import Catalog
from marquee.errors import ConfigError
from marquee.metrics.intervals import Interval, bootstrap_mean
from marquee.random import SeedLike, as_generator
from marquee.search._titles import split_title
from marquee.search.query import TypoBudget, normalize

if TYPE_CHECKING:
    from marquee.search.index import SearchIndex

__all__ = ["KINDS", "QuerySet", "SearchEvaluation", "evaluate", "generate_queries"]

EDITS = ("insert", "delete", "substitute", "transpose")
PREFIX_LENGTHS = (3, 5, 8, 12)
KINDS = (
    "exact", *(f"prefix-{n}" for n in PREFIX_LENGTHS), *(f"typo1-{e}" for e in EDITS), *(f"typo2-{e}" for e in EDITS),
    "typo1-short", "split", "join",
)  # fmt: skip
_LETTERS = string.ascii_lowercase


@dataclass(frozen=True, eq=False)
class QuerySet:
    """Generated queries: ``texts[i]`` was typed looking for the title at catalog position ``targets[i]``.

    Attributes:
        texts: the query texts.
        targets: (n,) int64 catalog positions of the wanted titles.
        kinds: (n,) the kind of each query (one of :data:`KINDS`).
    """

    texts: tuple[str, ...]
    targets: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def only(self, *kinds: str) -> QuerySet:
        """The queries of the given kinds."""
        keep = np.isin(self.kinds, kinds)
        return QuerySet(tuple(t for t, k in zip(self.texts, keep, strict=True) if k), self.targets[keep], self.kinds[keep])


def _edit(word: str, edit: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(len(word)))
    if edit == "insert":
        return word[:i] + _LETTERS[rng.integers(26)] + word[i:]
    if edit == "delete":
        return word[:i] + word[i + 1 :]
    if edit == "substitute":
        other = _LETTERS.replace(word[i], "") if word[i] in _LETTERS else _LETTERS
        return word[:i] + other[rng.integers(len(other))] + word[i + 1 :]
    j = [k for k in range(len(word) - 1) if word[k] != word[k + 1]]  # transpose two different adjacent letters
    if not j:
        return word
    i = j[int(rng.integers(len(j)))]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _make(kind: str, words: list[str], rng: np.random.Generator, budget: TypoBudget) -> str | None:
    """A query of ``kind`` from the title's display words, or None when the title has no word for it."""
    if kind == "exact":
        return " ".join(words)
    if kind.startswith("prefix-"):
        text = " ".join(words)
        n = int(kind.split("-")[1])
        return text[:n] if len(text) > n else None
    if kind.startswith("typo"):
        n_typos, edit = int(kind[4]), kind.split("-")[1]
        low, high = (3, budget.one_from) if edit == "short" else (budget.one_from if n_typos == 1 else budget.two_from, 10**6)
        cores = [w.strip(string.punctuation) for w in words]
        ok = [i for i, c in enumerate(cores) if c.isascii() and c.isalpha() and low <= len(c) < high]
        if not ok:
            return None
        i = ok[int(rng.integers(len(ok)))]
        core = cores[i].lower()
        for _ in range(n_typos):
            core = _edit(core, "substitute" if edit == "short" else edit, rng)
        return " ".join([*words[:i], words[i].replace(cores[i], core), *words[i + 1 :]])
    if kind == "split":
        ok = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
        if not ok:
            return None
        i = ok[int(rng.integers(len(ok)))]
        cut = int(rng.integers(2, len(words[i]) - 1))
        return " ".join([*words[:i], words[i][:cut], words[i][cut:], *words[i + 1 :]])
    if kind == "join":
        if len(words) < 2:
            return None
        i = int(rng.integers(len(words) - 1))
        return " ".join([*words[:i], words[i] + words[i + 1], *words[i + 2 :]])
    raise ConfigError(f"unknown query kind {kind!r}; known: {KINDS}")


def generate_queries(
    catalog: Catalog, *, per_kind: int = 500, kinds: tuple[str, ...] = KINDS, budget: TypoBudget | None = None, seed: SeedLike = 0
) -> QuerySet:
    """Up to ``per_kind`` queries of each kind, for titles drawn without replacement (fewer if the catalog is small).

    Raises:
        ConfigError: an unknown kind or ``per_kind`` < 1.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"unknown query kind {unknown[0]!r}; known: {KINDS}")
    if not isinstance(per_kind, int) or per_kind < 1:
        raise ConfigError(f"per_kind must be an int >= 1, got {per_kind!r}")
    rng, budget = as_generator(seed), budget or TypoBudget()
    names = catalog.table.column("name").to_pylist()
    titles = [split_title(n)[0].split() if n else [] for n in names]
    texts, targets, out_kinds = [], [], []
    for kind in kinds:
        made = 0
        for p in rng.permutation(len(titles)).tolist():
            if made == per_kind:
                break
            if not titles[p]:
                continue
            text = _make(kind, titles[p], rng, budget)
            if text is None or not normalize(text):
                continue
            texts.append(text)
            targets.append(p)
            out_kinds.append(kind)
            made += 1
    return QuerySet(tuple(texts), np.array(targets, np.int64), np.array(out_kinds, dtype=object))


@dataclass(frozen=True)
class SearchEvaluation:
    """hit@1, hit@10 and MRR (ranks past ``k`` count 0) per query kind and over all queries, with intervals."""

    k: int
    n_queries: dict[str, int]
    hit_at_1: dict[str, Interval]
    hit_at_k: dict[str, Interval]
    mrr: dict[str, Interval]

    def table(self) -> list[dict[str, object]]:
        """One row per kind (``"all"`` last): kind, n, hit@1, hit@k, mrr as ``Interval.to_dict()``."""
        return [
            {"kind": kind, "n": self.n_queries[kind], "hit@1": self.hit_at_1[kind].to_dict(),
             f"hit@{self.k}": self.hit_at_k[kind].to_dict(), "mrr": self.mrr[kind].to_dict()}
            for kind in self.n_queries
        ]  # fmt: skip


def ranks(index: SearchIndex, queries: QuerySet, k: int = 10) -> np.ndarray:
    """(n,) int64 1-based rank of each query's target in ``index.search(text, k)``; 0 when absent."""
    keys = index.units_.keys
    out = np.zeros(len(queries), np.int64)
    for i, (text, target) in enumerate(zip(queries.texts, queries.targets.tolist(), strict=True)):
        hits = index.search(text, k)
        same = np.flatnonzero(keys[hits.positions] == keys[target])
        out[i] = same[0] + 1 if same.size else 0
    return out


def evaluate(
    index: SearchIndex, queries: QuerySet, *, k: int = 10, n_bootstrap: int = 1000, seed: SeedLike = 0
) -> SearchEvaluation:
    """Score ``index`` (a built :class:`~marquee.search.SearchIndex`) on ``queries``: per kind and ``"all"``."""
    return score_ranks(ranks(index, queries, k), queries.kinds, k=k, n_bootstrap=n_bootstrap, seed=seed)


def score_ranks(rank: np.ndarray, kinds: np.ndarray, *, k: int = 10, n_bootstrap: int = 1000, seed: SeedLike = 0) -> SearchEvaluation:
    """hit@1, hit@k and MRR per kind from 1-based ranks (0 = not found in the top k)."""
    found = (rank > 0) & (rank <= k)
    metrics = {
        "hit1": (rank == 1).astype(np.float64),
        "hitk": found.astype(np.float64),
        "rr": np.where(found, 1.0 / np.maximum(rank, 1), 0.0),
    }
    groups = {kind: kinds == kind for kind in dict.fromkeys(kinds.tolist())}
    groups["all"] = np.ones(rank.size, bool)
    out: dict[str, dict[str, Interval]] = {m: {} for m in metrics}
    for kind, mask in groups.items():
        for m, values in metrics.items():
            out[m][kind] = bootstrap_mean(values[mask], n_bootstrap=n_bootstrap, seed=seed)
    return SearchEvaluation(k, {kind: int(mask.sum()) for kind, mask in groups.items()}, out["hit1"], out["hitk"], out["rr"])
