"""The service assembled from its settings: what ``marquee serve`` starts, in one process or as the
ingress of a Ray Serve deployment (:mod:`marquee.scale.ray_serve`), which builds the same service in
its replica from the same settings.

:class:`ServiceSettings` is plain data (it travels to Ray replicas); :func:`build_service` opens the
dataset, fits the popularity fallback, loads the tiers from the registry and adds the optional parts
(experiments, artwork, search, the homepage)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marquee.errors import MarqueeError

if TYPE_CHECKING:
    from marquee.data import Dataset
    from marquee.serve.batching import BatcherFactory
    from marquee.serve.registry import ModelRegistry
    from marquee.serve.router import Router
    from marquee.serve.search import TitleSearch
    from marquee.serve.service import Service
    from marquee.serve.web import HomePages

__all__ = ["SEARCH_EASE_MAX_TITLES", "ServiceSettings", "build_service", "open_registry"]

log = logging.getLogger("marquee.serve")

#: Above this many titles the search's fallback ranker is MostPopular (EASE holds a titles x titles matrix).
SEARCH_EASE_MAX_TITLES = 20_000


@dataclass(frozen=True)
class ServiceSettings:
    """What the service serves (the options of ``marquee serve`` that are not about the address)."""

    dataset: str = "movielens-100k"
    home: str | None = None
    heavy: str | None = "sasrec@production"
    light: str | None = "sasrec-student@production"
    budget_ms: float = 50.0
    max_batch: int = 32
    max_wait_ms: float = 2.0
    heavy_priority: str = "low"
    admin_token: str | None = None
    experiments: str | None = None
    exposures: str | None = None
    artwork: bool = True
    artwork_log: str | None = None
    artwork_policy: str = "epsilon_greedy"
    artwork_variants: str | None = None
    search: bool = True
    #: Distinct queries whose text-stage candidates the search keeps; 0: none; None: ``SearchConfig``'s default.
    search_cache: int | None = None
    homepage: bool = True
    page_model: str | None = None
    page_policy: str = "learned"
    durable_pages: bool = False
    page_explore: float = 0.02
    impressions: str | None = None
    precomputed: str | None = None
    context: str | None = None
    #: Every this many seconds, tiers serving an alias (``name@production``) reload when the registry
    #: moved it (by another replica's admin API, or ``marquee models promote`` without ``--url``); 0: never.
    follow_registry_s: float = 0.0


def open_registry(home: str | os.PathLike[str] | None) -> ModelRegistry:
    from marquee import config
    from marquee.serve import ModelRegistry

    return ModelRegistry(config.home(home) / "registry")


def open_or_fetch(name: str, home: str | os.PathLike[str] | None) -> Dataset:
    """A stored dataset; the built-in MovieLens-100K through its fetcher (which recognises the real file
    by its fingerprint, and fetches it only when it is not cached)."""
    from marquee.data import open_dataset
    from marquee.data.movielens import NAME, fetch_movielens_100k

    return fetch_movielens_100k(home) if name == NAME else open_dataset(name, home)


@contextmanager
def _logged_stage(message: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    log.info(message, extra={"seconds": round(time.perf_counter() - started, 2)})


def build_service(
    settings: ServiceSettings, *, dataset: Dataset | None = None, heavy_batcher: BatcherFactory | None = None,
    stage: Callable[[str], AbstractContextManager[None]] = _logged_stage,
) -> Service:  # fmt: skip
    """The service the settings describe, every tier loaded and verified.

    Args:
        dataset: the dataset already open (else opened by name).
        heavy_batcher: how the heavy tier's requests reach its model (default: an in-process
            :class:`~marquee.serve.batching.MicroBatcher`; Ray Serve passes its deployment's).
        stage: a context manager per long stage (progress lines on the command line).
    """
    from marquee import config
    from marquee.rank import MostPopular
    from marquee.serve.router import Router
    from marquee.serve.service import Service

    home = settings.home
    ds = dataset if dataset is not None else open_or_fetch(settings.dataset, home)
    with stage(f"fitting the popularity fallback on {ds.name}"):
        router = Router(MostPopular().fit(ds.interactions), default_budget_ms=settings.budget_ms)
    allocator = sink = None
    if settings.experiments is not None:
        from marquee.experiment import Allocator, ParquetSink

        allocator = Allocator.from_dict(config.load_config_file(Path(settings.experiments)))
        sink = ParquetSink(settings.exposures or config.home(home) / "exposures", batch_rows=10_000)
    art = None
    if settings.artwork:
        from marquee.serve.artwork import build_artwork, default_log, parse_candidate

        policy = parse_candidate(settings.artwork_policy, allow_uniform=False)
        variants = Path(settings.artwork_variants) if settings.artwork_variants else None
        art = build_artwork(ds.catalog, default_log(settings.artwork_log, home), policy=policy, variants=variants)
    service = Service(router, open_registry(home), admin_token=settings.admin_token, max_batch=settings.max_batch,
                      max_wait_ms=settings.max_wait_ms, allocator=allocator, exposures=sink, artwork=art,
                      heavy_batcher=heavy_batcher, follow_registry_s=settings.follow_registry_s,
                      heavy_priority=settings.heavy_priority)  # fmt: skip
    for tier, ref in (("heavy", settings.heavy), ("light", settings.light)):
        if ref:
            with stage(f"loading {ref} into the {tier} tier"):
                service.load(tier, ref)
    if settings.precomputed is not None:
        with stage(f"loading the precomputed table {settings.precomputed}"):
            service.load_precomputed(settings.precomputed)
    if settings.context:
        with stage(f"loading the context stage {settings.context}"):
            service.load_context(settings.context)
    if settings.search:
        with stage(f"building the title search over {ds.name}"):
            service.search = build_search(ds, router, cache_queries=settings.search_cache)
    if settings.homepage:
        with stage("fitting the homepage's candidate rows"):
            service.pages = build_pages(service, ds, settings)
    return service


def build_pages(service: Service, ds: Dataset, settings: ServiceSettings) -> HomePages:
    """The homepage over the dataset's log, with the fitted page model when there is one."""
    from marquee import config
    from marquee.page import PageModel
    from marquee.serve.web import HomePages

    path = Path(settings.page_model) if settings.page_model else config.home(settings.home) / "page" / "model.json"
    model = None
    if settings.page_model is not None or path.is_file():
        model = PageModel.load(path)  # a named file that is missing or not a model stops the start, saying which
    else:
        log.warning("no page model; the learned page uses the model's prior (fit one with `marquee page fit`)", extra={"path": str(path)})
    impressions = settings.impressions or config.home(settings.home) / "homepage" / "impressions.jsonl"
    pages = HomePages(service, ds.interactions, page_model=model, default_policy=settings.page_policy, durable=settings.durable_pages,
                      explore=settings.page_explore, impressions=impressions)  # fmt: skip
    log.info("homepage ready", extra={"page_model": str(path) if model else "prior", "policy": settings.page_policy,
                                      "impressions": str(pages.impressions_path)})  # fmt: skip
    return pages


def build_search(ds: Dataset, router: Router, *, cache_queries: int | None = None) -> TitleSearch | None:
    """The service's title search over ``ds.catalog`` (None when the catalog has no names).

    The ranker is the light tier's model when one is loaded (its scores are what members see on the home
    page; a later hot swap of the tier does not change it), else EASE fitted at start on the dataset without
    each member's last play (MostPopular over :data:`SEARCH_EASE_MAX_TITLES` titles). The blend is learned
    from searches for those last plays, typed as short prefixes (:func:`marquee.sim.search.log_searches`);
    the light tier's model saw them in training, so its blend leans on the member's score more than it would
    on unseen plays. ``cache_queries``: the index's text-stage cache (None: :class:`~marquee.search.SearchConfig`'s default)."""
    from marquee.rank import EASE, MostPopular
    from marquee.search import Personalized, SearchIndex
    from marquee.serve.search import TitleSearch
    from marquee.sim.search import log_searches

    if ds.catalog.table.column("name").null_count == len(ds.catalog):
        log.warning("search off: the catalog has no title names", extra={"dataset": ds.name})
        return None
    started = time.perf_counter()
    rest, searches = log_searches(ds.interactions, seed=0)
    search_log = searches.to_log(rest.members.ids, ds.catalog)
    index = (SearchIndex() if cache_queries is None else SearchIndex(cache_queries=cache_queries)).build(ds.catalog)
    light = router.tiers.get("light")
    engine: Any = None
    if light is not None:
        try:
            engine, label = Personalized(index, light.model).fit(search_log), f"the light tier's {light.version}"
        except MarqueeError as exc:  # a model whose ids do not match the dataset's: fall back, say why
            log.warning("search: the light tier's model cannot rank the dataset's members; fitting one", extra={"reason": str(exc)})
    if engine is None:
        fallback = MostPopular() if len(ds.catalog) > SEARCH_EASE_MAX_TITLES else EASE()
        label = f"{type(fallback).__name__} fitted at start on {ds.name}"
        try:
            engine = Personalized(index, fallback.fit(rest)).fit(search_log)
        except MarqueeError as exc:  # e.g. too few plays to learn a blend from: serve without search, say why
            log.warning("search off: no blend could be learned from the dataset", extra={"dataset": ds.name, "reason": str(exc)})
            return None
    log.info("search ready", extra={"ranker": label, "titles": len(ds.catalog), "searches": engine.n_searches_,
                                    "seconds": round(time.perf_counter() - started, 2), "weights": engine.weights_})  # fmt: skip
    return TitleSearch(engine, label)
