"""Prometheus metrics of the service (one registry per service, so tests don't collide)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ServiceMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


class ServiceMetrics:
    """Requests, latency per model, switches, fallbacks, batch sizes and the versions served."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter("marquee_requests", "Requests by endpoint and HTTP status.", ["endpoint", "status"], registry=r)
        self.latency = Histogram(
            "marquee_request_latency_seconds", "Server-side latency of recommendations by answering model.", ["model"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.switches = Counter("marquee_model_switches", "Auto-mode requests sent below the best tier for their budget.", ["to_model"], registry=r)
        self.fallbacks = Counter("marquee_fallbacks", "Requests answered by a lighter model than planned, by reason.", ["reason"], registry=r)
        self.batch_size = Histogram(
            "marquee_batch_size", "Requests per heavy-model batch.", buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r
        )
        self.batch_latency = Histogram("marquee_batch_latency_seconds", "Heavy-model batch compute time.", buckets=_LATENCY_BUCKETS, registry=r)
        self.loop_lag = Gauge("marquee_event_loop_lag_seconds", "How late the serving event loop runs timers (smoothed).", registry=r)
        self.context_reranked = Counter(
            "marquee_context_reranked", "Requests whose list the context stage re-ranked, by stage version.", ["stage"], registry=r
        )
        self.artwork_decisions = Counter("marquee_artwork_decisions", "Artwork decisions logged, by policy.", ["policy"], registry=r)
        self.artwork_feedback = Counter(
            "marquee_artwork_feedback", "Artwork feedback by policy and outcome (logged, duplicate).", ["policy", "outcome"], registry=r
        )
        # A gauge, not a counter: rewards may be negative.
        self.artwork_reward = Gauge("marquee_artwork_reward_sum", "Sum of logged artwork rewards, by policy.", ["policy"], registry=r)
        self.search_latency = Histogram(
            "marquee_search_latency_seconds", "Server-side latency of GET /v1/search, personalised or not.", ["personalized"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.shed = Counter("marquee_shed", "Recommendation requests refused (429) under overload, by priority.", ["priority"], registry=r)
        self.degraded = Counter(
            "marquee_degraded", "Recommendation requests answered below the best tier (switched or fallen back), by priority and tier.",
            ["priority", "model"], registry=r,
        )  # fmt: skip
        self.homepage_latency = Histogram(
            "marquee_homepage_seconds", "Server time to build a member's homepage (scores, rows, artwork logged), by page policy.", ["policy"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.model_info = Gauge("marquee_model_info", "1 for the model version serving each tier.", ["tier", "version"], registry=r)

    def watch_search_cache(self, read: Callable[[], tuple[int, int] | None]) -> None:
        """Export ``marquee_search_cache_total{outcome=hit|miss}`` from ``read()`` (``(hits, misses)`` of the
        search index's text-stage cache, or None while there is no search), read at each scrape: the cache
        counts its own lookups, so the hot path records nothing for it."""
        self.registry.register(_SearchCache(read))

    def child(self, metric: Counter | Histogram, *labels: str) -> Any:
        """``metric.labels(*labels)``, cached: label lookup takes a lock and hashing per call, and
        the hot path records three metrics per request."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def served(self, tier: str, version: str) -> None:
        for sample in list(self.model_info.collect()[0].samples):
            if sample.labels.get("tier") == tier:
                self.model_info.remove(tier, sample.labels["version"])
        self.model_info.labels(tier, version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SearchCache(Collector):
    def __init__(self, read: Callable[[], tuple[int, int] | None]) -> None:
        self.read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "marquee_search_cache", "Searches whose text stage came from the index's cache (hit) or was computed (miss).", labels=["outcome"]
        )
        counts = self.read()
        if counts is not None:
            family.add_metric(["hit"], counts[0])
            family.add_metric(["miss"], counts[1])
        yield family
