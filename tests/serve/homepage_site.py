"""The service the homepage tests run against (HTTP and browser): MovieLens-100K, EASE in the light tier,
artwork with a SQLite decision log, experiments with an in-memory exposure sink, and the homepage."""

from pathlib import Path
from typing import Any

from marquee.experiment import Allocator, MemorySink
from marquee.rank import EASE, MostPopular
from marquee.serve.artwork import build_artwork
from marquee.serve.registry import ModelRegistry
from marquee.serve.router import Router
from marquee.serve.service import Service
from marquee.serve.web import HomePages


def homepage_service(dataset: Any, tmp: Path, experiments: dict, *, search: bool = False, durable: bool = False) -> tuple[Service, MemorySink]:
    """The service with its homepage; the decision log at ``tmp/art.sqlite``, impressions at ``tmp/impressions.jsonl``."""
    data = dataset.interactions
    router = Router(MostPopular().fit(data))
    router.set_tier("light", EASE().fit(data), "ease:1")
    exposures = MemorySink()
    service = Service(router, ModelRegistry(tmp / "registry"), artwork=build_artwork(dataset.catalog, tmp / "art.sqlite", seed=0),
                      allocator=Allocator.from_dict(experiments), exposures=exposures)  # fmt: skip
    if search:
        from marquee.serve.build import build_search

        service.search = build_search(dataset, router)
    service.pages = HomePages(service, data, impressions=tmp / "impressions.jsonl", durable=durable)
    return service, exposures
