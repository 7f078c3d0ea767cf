"""Personalised search in the simulated world: members type short, ambiguous prefixes of the title they then play.

**Searches** (:func:`world_searches`): a member of a :class:`~marquee.sim.World` wants a title drawn from their
true taste, ``softmax_i(b_i + β s_ui)`` (:meth:`World.affinity`), and types a short prefix of its display title:
its first 2, 3 or 4 characters, or its first word (each equally likely). The title they want is the one they
play, so a search's label is known exactly.

**Study** (:func:`search_study`): the world's members are split in two disjoint halves; searches by the first
train the blend (:class:`~marquee.search.personalize.Personalized`), searches by the second test it. The ranker
is one fitted on the real log the world was calibrated on, serving each world member by their persona (the
real member they copy), as :func:`~marquee.sim.delivery.persona_rows` does. The metric is the played title's
reciprocal rank among the query's candidates (0 when it is not one), its mean (MRR) and hit@1/hit@k, for text
order, the non-personalised blend (text and popularity, weights learned the same way) and the personal blend;
the personal-minus-non-personalised difference has a paired bootstrap interval over test searches, the relative
lift a bootstrap interval from the same resamples.

:func:`log_searches` makes the same kind of search log from a real log instead: each member's last play, typed
as a prefix, for fitting a blend where no search log exists (the CLI does this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marquee._validate import ints, positive, require
from marquee.data.catalog import Catalog
from marquee.data.interactions import Interactions
from marquee.errors import ConfigError
from marquee.metrics.intervals import Interval, PairedComparison, bootstrap_mean, paired_comparison
from marquee.random import SeedLike, as_generator
from marquee.search import SearchIndex
from marquee.search._titles import split_title
from marquee.search.personalize import BlendConfig, Personalized, SearchLog, SearchRanks
from marquee.sim.world import World

__all__ = ["PREFIX_KINDS", "SearchStudy", "SearchStudyConfig", "Searches", "log_searches", "search_study", "world_searches"]

#: How members type: the first N characters of the display title, or its first word.
PREFIX_KINDS = ("prefix-2", "prefix-3", "prefix-4", "first-word")
_AFFINITY_BLOCK = 2048


@dataclass(frozen=True, eq=False)
class Searches:
    """Simulated searches: member ``member_idx[i]`` typed ``texts[i]`` wanting (and then playing) ``targets[i]``.

    Attributes:
        texts: the query texts.
        member_idx: (n,) int64 member positions (in the world, or in the log's member index).
        targets: (n,) int64 catalog positions of the titles played.
        kinds: (n,) the kind of each query (one of :data:`PREFIX_KINDS`).
    """

    texts: tuple[str, ...]
    member_idx: np.ndarray
    targets: np.ndarray
    kinds: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def to_log(self, member_ids: np.ndarray, catalog: Catalog) -> SearchLog:
        """A :class:`SearchLog` with the members as ``member_ids[member_idx]`` (e.g. the world's persona ids)."""
        return SearchLog(self.texts, np.asarray(member_ids)[self.member_idx], catalog.index.ids[self.targets])


def _display_titles(catalog: Catalog) -> list[str]:
    return [split_title(n)[0] if n else "" for n in catalog.table.column("name").to_pylist()]


def _type(display: str, kind: str) -> str:
    if kind == "first-word":
        return display.split()[0]
    return display[: int(kind.split("-")[1])]


def _texts(titles: list[str], targets: np.ndarray, kinds: tuple[str, ...], rng: np.random.Generator) -> tuple[list[str], list[str]]:
    texts, out_kinds = [], []
    for t in targets.tolist():
        kind = kinds[int(rng.integers(len(kinds)))]
        texts.append(_type(titles[t], kind))
        out_kinds.append(kind)
    return texts, out_kinds


def _check_kinds(kinds: tuple[str, ...]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in PREFIX_KINDS]
    if not kinds or bad:
        raise ConfigError(f"kinds must be a non-empty tuple of {PREFIX_KINDS}, got {kinds!r}")
    return kinds


def world_searches(
    world: World, members: np.ndarray, catalog: Catalog | None = None, *, kinds: tuple[str, ...] = PREFIX_KINDS, seed: SeedLike = 0
) -> Searches:
    """One search per entry of ``members`` (world member positions), the wanted title drawn from their taste.

    Args:
        catalog: the titles' names (default the world's catalog); same title ids as the world's.
        kinds: how members type (a subset of :data:`PREFIX_KINDS`).

    Raises:
        ConfigError: an unknown kind, a catalog with other titles than the world's, or one with no names.
    """
    world._check_fitted()
    kinds = _check_kinds(kinds)
    catalog = _named_catalog(world, catalog)
    rng = as_generator(seed)
    titles = _display_titles(catalog)
    named = np.array([bool(t.strip()) for t in titles])
    m = np.asarray(members, np.int64)
    targets = np.empty(m.size, np.int64)
    for start in range(0, m.size, _AFFINITY_BLOCK):
        block = m[start : start + _AFFINITY_BLOCK]
        logits = np.where(named, world.affinity(block), -np.inf)
        gumbel = rng.gumbel(size=logits.shape)
        targets[start : start + block.size] = np.argmax(logits + gumbel, axis=1)  # a draw from the softmax
    texts, out_kinds = _texts(titles, targets, kinds, rng)
    return Searches(tuple(texts), m, targets, np.array(out_kinds, dtype=object))


def log_searches(data: Interactions, *, kinds: tuple[str, ...] = PREFIX_KINDS, seed: SeedLike = 0) -> tuple[Interactions, Searches]:
    """``(the log without each member's last play, one search per member for that last play)``.

    Members with a single play, and last plays of titles without a name, give no search.

    Raises:
        ConfigError: an unknown kind, or a log without a named catalog.
    """
    kinds = _check_kinds(kinds)
    if data.catalog is None:
        raise ConfigError("log_searches types the titles' names: pass a log with its catalog (Dataset.interactions has one)")
    rng = as_generator(seed)
    titles = _display_titles(data.catalog)
    indptr = data.member_indptr  # canonical order: a member's rows in time order
    rows = (indptr[1:] - 1)[np.diff(indptr) >= 2]
    title_pos = data.catalog.index.lookup(data.titles.ids[data.title_idx[rows]])
    ok = title_pos >= 0
    ok[ok] = np.array([bool(titles[t].strip()) for t in title_pos[ok].tolist()], bool)
    rows, title_pos = rows[ok], title_pos[ok]
    keep = np.ones(len(data), bool)
    keep[rows] = False
    texts, out_kinds = _texts(titles, title_pos, kinds, rng)
    searches = Searches(tuple(texts), data.member_idx[rows].astype(np.int64), title_pos, np.array(out_kinds, dtype=object))
    return data.select(keep), searches


def _named_catalog(world: World, catalog: Catalog | None) -> Catalog:
    catalog = world.catalog_ if catalog is None else catalog
    if not isinstance(catalog, Catalog) or not np.array_equal(catalog.index.ids, world.titles_.ids):
        raise ConfigError("catalog must hold exactly the world's titles (same ids); pass the catalog the world was fitted on")
    if catalog.table.column("name").null_count == len(catalog):
        raise ConfigError("the world's catalog has no title names to search; pass catalog= with the same ids and names")
    return catalog


@dataclass(frozen=True)
class SearchStudyConfig:
    """Args:
    train_searches: searches by the training half of the members (the blend is fitted on them).
    test_searches: searches by the other half (the metrics).
    kinds: how members type (see :data:`PREFIX_KINDS`).
    k: the cut-off of hit@k.
    blend: the blend's configuration (candidates re-ranked, L2 penalty).
    n_bootstrap: bootstrap resamples of the intervals.
    level: their confidence level.
    """

    train_searches: int = 4000
    test_searches: int = 4000
    kinds: tuple[str, ...] = PREFIX_KINDS
    k: int = 10
    blend: BlendConfig = field(default_factory=BlendConfig)
    n_bootstrap: int = 1000
    level: float = 0.95

    def __post_init__(self) -> None:
        ints(self, "train_searches", "test_searches", "k", "n_bootstrap")
        object.__setattr__(self, "kinds", _check_kinds(self.kinds))
        require(isinstance(self.blend, BlendConfig), "SearchStudyConfig", "blend", "a BlendConfig", self.blend)
        positive(self, "level")
        require(self.level < 1, "SearchStudyConfig", "level", "in (0, 1)", self.level)


@dataclass(frozen=True, eq=False)
class SearchStudy:
    """What personalisation did to the played title's rank on held-out members' searches.

    Attributes:
        mrr, hit_at_1, hit_at_k: per arm: ``"text"`` (text order), ``"base"`` (the non-personalised blend:
            text and popularity), ``"personal"``, and ``"oracle"`` (the candidates by the member's true taste,
            :meth:`World.affinity`: what knowing the member perfectly would give).
        difference: personal minus base reciprocal rank, paired over test searches.
        lift: ``MRR_personal / MRR_base - 1`` with a bootstrap interval (the same resamples).
        difference_text, lift_text: the same against text order.
        mrr_by_kind: per query kind and arm, the MRR point estimate.
        weights, base_weights: the learned blend weights by feature.
        ranks: the test searches' ranks per arm.
        searches: the test searches.
        n_train: training searches whose played title was a candidate (the rest teach nothing).
    """

    config: SearchStudyConfig
    mrr: dict[str, Interval]
    hit_at_1: dict[str, Interval]
    hit_at_k: dict[str, Interval]
    difference: PairedComparison
    lift: Interval
    difference_text: PairedComparison
    lift_text: Interval
    mrr_by_kind: dict[str, dict[str, float]]
    weights: dict[str, float]
    base_weights: dict[str, float]
    ranks: SearchRanks
    searches: Searches
    n_train: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-search arrays)."""
        d = self.difference.difference
        return {
            "n_train": self.n_train,
            "n_test": len(self.searches),
            "k": self.config.k,
            "mrr": {a: iv.to_dict() for a, iv in self.mrr.items()},
            "hit@1": {a: iv.to_dict() for a, iv in self.hit_at_1.items()},
            f"hit@{self.config.k}": {a: iv.to_dict() for a, iv in self.hit_at_k.items()},
            "difference_mrr": {**d.to_dict(), "p_value_t": self.difference.p_value_t},
            "lift": self.lift.to_dict(),
            "difference_mrr_vs_text": {**self.difference_text.difference.to_dict(), "p_value_t": self.difference_text.p_value_t},
            "lift_vs_text": self.lift_text.to_dict(),
            "mrr_by_kind": self.mrr_by_kind,
            "weights": self.weights,
            "base_weights": self.base_weights,
            "candidate_recall": float(np.mean(self.ranks.text > 0)),
        }


def _rr(rank: np.ndarray) -> np.ndarray:
    return np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0)


def search_study(
    world: World,
    ranker: Any,
    index: SearchIndex | None = None,
    config: SearchStudyConfig | None = None,
    *,
    seed: SeedLike = 0,
) -> SearchStudy:
    """Fit the blend on one half of the world's members' searches, measure it on the other half's.

    Args:
        world: a fitted :class:`World`.
        ranker: a ranker fitted on the real log the world was calibrated on (it must know every persona).
        index: a search index over the world's titles (default: built over the world's catalog).
        config: sizes, query kinds, the blend and the intervals.
        seed: the members' split, the searches and the bootstrap.

    Raises:
        ConfigError: the ranker does not know every persona, or the index is over other titles.
    """
    world._check_fitted()
    config = config or SearchStudyConfig()
    rng = as_generator(seed)
    if index is None:
        index = SearchIndex().build(_named_catalog(world, None))
    catalog = index.catalog_
    _named_catalog(world, catalog)
    if np.any(ranker.members_.lookup(world.persona_ids_) < 0):
        raise ConfigError("the ranker does not know every persona: fit it on the log the world was fitted on")
    order = rng.permutation(world.n_members)
    half = world.n_members // 2
    if half < 1:
        raise ConfigError(f"the world needs at least 2 members to split into training and test halves, has {world.n_members}")
    train_m = rng.choice(order[:half], config.train_searches)
    test_m = rng.choice(order[half:], config.test_searches)
    train = world_searches(world, train_m, catalog, kinds=config.kinds, seed=rng)
    test = world_searches(world, test_m, catalog, kinds=config.kinds, seed=rng)
    search = Personalized(index, ranker, config.blend).fit(train.to_log(world.persona_ids_, catalog))
    ranks = search.ranks(test.to_log(world.persona_ids_, catalog))
    oracle = _oracle_ranks(world, index, test, config.blend.candidates)
    boot = int(rng.integers(2**31))
    kw = {"n_bootstrap": config.n_bootstrap, "level": config.level, "seed": boot}
    arms = {"text": ranks.text, "base": ranks.base, "personal": ranks.personal, "oracle": oracle}
    rr = {a: _rr(r) for a, r in arms.items()}
    mrr = {a: bootstrap_mean(v, **kw) for a, v in rr.items()}
    hit1 = {a: bootstrap_mean((r == 1).astype(np.float64), **kw) for a, r in arms.items()}
    hitk = {a: bootstrap_mean(((r > 0) & (r <= config.k)).astype(np.float64), **kw) for a, r in arms.items()}
    idx = as_generator(boot).integers(0, len(test), size=(config.n_bootstrap, len(test)))  # the resamples above

    def lift_of(a: np.ndarray, b: np.ndarray) -> Interval:
        ratio = a[idx].mean(axis=1) / np.maximum(b[idx].mean(axis=1), 1e-12) - 1.0
        lo, hi = np.quantile(ratio, [(1 - config.level) / 2, (1 + config.level) / 2])
        return Interval(float(a.mean() / max(b.mean(), 1e-12) - 1.0), float(lo), float(hi), config.level)

    diff = paired_comparison(rr["personal"], rr["base"], metric="mrr", **kw)
    diff_text = paired_comparison(rr["personal"], rr["text"], metric="mrr", **kw)
    by_kind = {
        kind: {a: float(v[test.kinds == kind].mean()) for a, v in rr.items()} | {"n": int(np.sum(test.kinds == kind))}
        for kind in config.kinds
        if np.any(test.kinds == kind)
    }
    return SearchStudy(
        config=config, mrr=mrr, hit_at_1=hit1, hit_at_k=hitk, difference=diff, lift=lift_of(rr["personal"], rr["base"]),
        difference_text=diff_text, lift_text=lift_of(rr["personal"], rr["text"]), mrr_by_kind=by_kind,
        weights=search.weights_, base_weights=search.base_weights, ranks=ranks, searches=test, n_train=search.n_searches_,
    )  # fmt: skip


def _oracle_ranks(world: World, index: SearchIndex, searches: Searches, n: int) -> np.ndarray:
    """(n,) 1-based rank of each played title among its query's candidates ordered by the member's true taste."""
    out = np.zeros(len(searches), np.int64)
    for q, (text, target) in enumerate(zip(searches.texts, searches.targets.tolist(), strict=True)):
        positions = index.candidates(text, n).positions
        hit = np.flatnonzero(positions == target)
        if hit.size:
            a = world.affinity(searches.member_idx[q : q + 1])[0, positions]
            t = int(hit[0])
            out[q] = int(np.sum(a > a[t]) + np.sum(a[:t] == a[t])) + 1
    return out
