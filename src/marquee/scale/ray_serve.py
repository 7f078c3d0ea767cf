"""The service on Ray Serve: the same router, tiers, registry and HTTP contract as ``marquee serve``,
with the heavy model as its own deployment.

- ``heavy`` (:class:`HeavyModel`): replicas that each hold the heavy model and answer batches gathered
  by Ray's ``@serve.batch``; Ray's autoscaler adds replicas as their queues grow. Each request names the
  exact version (``sasrec:3``) the ingress serves, so a promotion never mixes versions in one answer:
  a replica that has not loaded the version yet starts loading it and refuses the request at once, and
  the ingress's router answers it from the next tier within the budget.
- ``ingress`` (:class:`Ingress`): the single-process service built from the same
  :class:`~marquee.serve.build.ServiceSettings` (:func:`~marquee.serve.build.build_service`), whose
  heavy tier sends its requests to ``heavy`` through a :class:`RemoteBatcher` instead of scoring them
  in process. The router, the light tier, the precomputed table, admission control, the admin API
  and every endpoint are the single-process code, so the contract is the same by construction.

The ingress loads the heavy model too, for its member and title indexes (a request's member id to
the position the replicas score; their answer's positions to title ids); it never scores with it.
The registry's directory must be reachable from every node (on one machine it is; on a cluster, a
shared filesystem).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray import serve

from marquee.errors import ConfigError
from marquee.rank.base import Recommender
from marquee.serve.batching import BatchResult, recommend_rows
from marquee.serve.build import ServiceSettings, build_service, open_or_fetch, open_registry
from marquee.serve.registry import ModelRegistry

__all__ = ["APP_NAME", "HeavyModel", "Ingress", "RayServeOptions", "RemoteBatcher", "deploy", "run_on_ray", "start", "stop"]

log = logging.getLogger("marquee.serve")

#: The Ray Serve application's name.
APP_NAME = "marquee"
#: A replica's answer for a version it is still loading.
LOADING = "loading"
#: Versions a heavy replica keeps loaded: the one served and the one a rollback would return to.
KEEP_VERSIONS = 2
#: A version whose load failed is refused for this long before a replica tries to load it again.
RETRY_FAILED_S = 30.0


@dataclass(frozen=True)
class RayServeOptions:
    """How the service is laid out on Ray.

    Args:
        heavy_min, heavy_max: replicas of the heavy deployment (equal: a fixed count, else autoscaled).
        ingress_replicas: replicas of the ingress.
        address: an existing cluster (``auto``, ``host:port``, ``ray://host:10001``); None: a local Ray.
        heavy_cpus, ingress_cpus: logical CPUs each replica reserves.
        max_ongoing: requests a heavy replica accepts at once (its queue for batching).
    """

    heavy_min: int = 1
    heavy_max: int = 2
    ingress_replicas: int = 1
    address: str | None = None
    heavy_cpus: float = 1.0
    ingress_cpus: float = 1.0
    max_ongoing: int = 128

    def __post_init__(self) -> None:
        if not 1 <= self.heavy_min <= self.heavy_max:
            raise ConfigError(f"heavy replicas must be 1 <= MIN <= MAX; got {self.heavy_min}:{self.heavy_max}")
        if self.ingress_replicas < 1:
            raise ConfigError(f"ingress replicas must be >= 1; got {self.ingress_replicas}")

    @classmethod
    def parse(cls, heavy_replicas: str, **kwargs: Any) -> RayServeOptions:
        """``"MIN:MAX"`` or ``"N"`` replicas of the heavy deployment."""
        lo, _, hi = heavy_replicas.partition(":")
        if not lo.strip().isdigit() or (hi and not hi.strip().isdigit()):
            raise ConfigError(f"--heavy-replicas is MIN:MAX or N (e.g. 1:4); got {heavy_replicas!r}")
        return cls(heavy_min=int(lo), heavy_max=int(hi or lo), **kwargs)

    @property
    def cpus(self) -> int:
        """Logical CPUs a local Ray needs for every replica at its most."""
        return int(np.ceil(self.heavy_max * self.heavy_cpus + self.ingress_replicas * self.ingress_cpus))


# ---- the heavy deployment ------------------------------------------------------------------
class HeavyModel:
    """A replica of the heavy tier: the model's versions, loaded from the registry as they are asked
    for, answering batches of ``(version, member position, k)``.

    Args:
        registry_root: the registry's directory.
        ref: what to load at start (``name@alias`` is resolved now: a replica started after a promotion
            starts on the promoted version).
        max_batch, batch_wait_s: Ray's batching of concurrent requests.
    """

    def __init__(self, registry_root: str, ref: str, max_batch: int = 32, batch_wait_s: float = 0.002) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)  # replicas are the parallel unit
        self.registry = ModelRegistry(registry_root)
        self.models: OrderedDict[str, Recommender] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Any]] = {}
        self._failed: dict[str, float] = {}  # version -> when its load failed (not retried for RETRY_FAILED_S)
        self.recommend.set_max_batch_size(max_batch)
        self.recommend.set_batch_wait_timeout_s(batch_wait_s)
        mv = self.registry.resolve(ref)
        self._install(mv.ref, self._load(mv.ref))

    def _load(self, version: str) -> Recommender:
        _, model = self.registry.load(version)  # verified against its checksums
        model.for_serving(threads=1)
        for _ in range(3):  # first calls pay for allocations and lazy initialisation
            model.recommend_index(np.array([0]), 10)
        return model

    def _install(self, version: str, model: Recommender) -> None:
        # On the replica's event loop (at start, and in a load's done callback), as are the batches that read it.
        self.models[version] = model
        self.models.move_to_end(version)
        while len(self.models) > KEEP_VERSIONS:
            self.models.popitem(last=False)
        log.info("heavy replica loaded a version", extra={"version": version})

    def _start_loading(self, version: str) -> asyncio.Future[Any] | None:
        """The version's load, started now unless one runs; None while a failed load's back-off lasts."""
        failed = self._failed.get(version)
        if failed is not None and time.monotonic() - failed < RETRY_FAILED_S:
            return None
        loading = self._loading.get(version)
        if loading is None:
            loading = asyncio.get_running_loop().run_in_executor(None, self._load, version)
            self._loading[version] = loading

            def done(f: asyncio.Future[Any]) -> None:
                self._loading.pop(version, None)
                if not f.cancelled() and f.exception() is None:
                    self._failed.pop(version, None)
                    self._install(version, f.result())
                else:
                    self._failed[version] = time.monotonic()
                    reason = "cancelled" if f.cancelled() else str(f.exception())
                    log.warning("heavy replica could not load a version", extra={"version": version, "reason": reason})

            loading.add_done_callback(done)
        return loading

    async def warm(self, version: str) -> str:
        """Load ``version`` now (the ingress calls this when it is about to serve it)."""
        if version not in self.models:
            loading = self._start_loading(version)
            if loading is not None:
                await asyncio.shield(loading)
        return version

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def recommend(self, requests: list[tuple[str, int, int]]) -> list[Any]:
        """Each request's ``(title positions, scores, batch size)``, or :data:`LOADING` for a version
        not loaded yet (its loading starts now)."""
        out: list[Any] = [LOADING] * len(requests)
        by_version: dict[str, list[int]] = {}
        for i, (version, _, _) in enumerate(requests):
            by_version.setdefault(version, []).append(i)
        for version, rows in by_version.items():
            model = self.models.get(version)
            if model is None:
                self._start_loading(version)
                continue
            self.models.move_to_end(version)
            members = np.array([requests[i][1] for i in rows], dtype=np.int64)
            ks = [requests[i][2] for i in rows]
            # Off the replica's event loop (ONNX Runtime and torch release the GIL): the next batch gathers meanwhile.
            idx, scores = await asyncio.to_thread(recommend_rows, model, members, max(ks))
            for r, (i, k) in enumerate(zip(rows, ks, strict=True)):
                out[i] = (idx[r, :k], scores[r, :k], len(requests))
        return out


# ---- the ingress ---------------------------------------------------------------------------
class RemoteBatcher:
    """The heavy tier's batcher in the ingress: each request goes to the heavy deployment, which
    batches it with others (Ray's ``@serve.batch``) on one of its replicas.

    The router's latency estimate for the tier is the measured round trip (queue, batch wait and
    the model together), so ``max_wait_ms`` is 0 and ``max_batch`` is what the deployment holds at
    once (the requests in flight add waves to the estimate only beyond that)."""

    max_wait_ms = 0.0

    def __init__(self, handle: Any, get_model: Callable[[], tuple[Recommender, str]], on_batch: Callable[[int, float], None], *,
                 capacity: int) -> None:  # fmt: skip
        self.handle = handle
        self.get_model = get_model
        self.on_batch = on_batch
        self.max_batch = capacity
        self._in_flight = 0

    @property
    def depth(self) -> int:
        return self._in_flight

    def prepare(self, version: str) -> None:
        """Ask the replicas to load ``version`` (best effort: Ray routes each call to one replica, so
        it asks a few times; a replica still without it refuses at once and the router falls back)."""
        for _ in range(4):
            self.handle.warm.remote(version)  # not awaited: the calls run all the same

    async def submit(self, member_idx: int, k: int) -> BatchResult:
        model, version = self.get_model()
        self._in_flight += 1
        start = time.perf_counter()
        try:
            answer = await self.handle.recommend.remote((version, member_idx, k))
        finally:
            self._in_flight -= 1
        if answer == LOADING:
            raise LookupError(f"the heavy deployment is still loading {version}")
        idx, scores, size = answer
        ms = (time.perf_counter() - start) * 1000.0
        self.on_batch(size, ms)
        return BatchResult(idx, scores, model, version, size, ms)


class _IngressBase:
    """The ingress: the single-process service, its heavy tier sent to the heavy deployment."""

    def __init__(self, settings: ServiceSettings, heavy: Any = None, capacity: int = 128) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        factory = None
        if heavy is not None:
            factory = lambda get_model, on_batch: RemoteBatcher(heavy, get_model, on_batch, capacity=capacity)
        self.service = build_service(settings, heavy_batcher=factory)

    def __serve_build_asgi_app__(self) -> Any:
        from marquee.serve.app import create_app

        return create_app(self.service)


#: The ingress deployment's class (an ASGI ingress built in the replica from the settings).
Ingress = serve.ingress()(_IngressBase)


# ---- deploying -----------------------------------------------------------------------------
def check_settings(settings: ServiceSettings) -> None:
    """What would make every replica fail to start, as one error now: a dataset not stored, a model
    reference the registry does not resolve, a missing precomputed table."""
    from marquee.serve.precomputed import Precomputed

    open_or_fetch(settings.dataset, settings.home)
    registry = open_registry(settings.home)
    for ref in (settings.heavy, settings.light, settings.context):
        if ref:
            registry.resolve(ref)
    if settings.precomputed:
        Precomputed.load(settings.precomputed)


def deploy(settings: ServiceSettings, options: RayServeOptions | None = None) -> Any:
    """The Ray Serve application (``serve.run`` it): the heavy deployment (when ``settings.heavy``)
    bound into the ingress."""
    options = options or RayServeOptions()
    heavy = None
    if settings.heavy:
        root = str(open_registry(settings.home).root)
        scaling: dict[str, Any]
        if options.heavy_min == options.heavy_max:
            scaling = {"num_replicas": options.heavy_min}
        else:
            # Ray adds a replica when the requests per replica pass the target: a batch's worth.
            scaling = {"autoscaling_config": {"min_replicas": options.heavy_min, "max_replicas": options.heavy_max,
                                              "target_ongoing_requests": max(settings.max_batch, 1),
                                              "upscale_delay_s": 2.0, "downscale_delay_s": 30.0}}  # fmt: skip
        heavy = serve.deployment(HeavyModel).options(
            name="heavy", max_ongoing_requests=options.max_ongoing, ray_actor_options={"num_cpus": options.heavy_cpus}, **scaling,
        ).bind(root, settings.heavy, max(settings.max_batch, 1), settings.max_wait_ms / 1000.0)  # fmt: skip
    # The ingress takes every request at once: admission control (the router's budget, shedding) is
    # the service's, which needs to see the requests to keep its promises.
    ingress = serve.deployment(Ingress).options(
        name="ingress", num_replicas=options.ingress_replicas, max_ongoing_requests=10_000,
        ray_actor_options={"num_cpus": options.ingress_cpus},
    )  # fmt: skip
    return ingress.bind(settings, heavy, options.max_ongoing * options.heavy_max)


def start(settings: ServiceSettings, options: RayServeOptions, *, host: str = "127.0.0.1", port: int = 8000) -> bool:
    """Connect to (or start) Ray, start Serve's HTTP proxy on ``host:port`` and deploy; returns whether
    Ray was started here. Blocks until every replica is ready.

    Raises:
        ConfigError: the cluster cannot be reached; the settings name something that does not exist.
    """
    import ray

    from marquee.scale.cluster import check_reachable, connect

    if options.address is not None:
        check_reachable(options.address)  # at once, before anything loads
    check_settings(settings)
    started = connect(ray, options.address, num_cpus=max(options.cpus, os.cpu_count() or 1))
    try:
        # No access log line per request in every proxy and replica (the service logs what matters as JSON,
        # and Prometheus counts every request): each costs CPU on the hot path.
        serve.start(http_options={"host": host, "port": port}, logging_config={"enable_access_log": False, "log_level": "WARNING"})
        serve.run(deploy(settings, options), name=APP_NAME, route_prefix="/")
    except BaseException as exc:  # a replica that cannot start, or Ctrl-C while waiting: leave nothing half-deployed
        stop(started)
        if isinstance(exc, Exception):
            raise ConfigError(f"the service could not be deployed on Ray: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}") from None
        raise
    return started


def stop(started: bool) -> None:
    """Take the application down: with Serve and Ray when this process started Ray; on a cluster it
    joined, only this application (other applications on the cluster keep running)."""
    import ray

    try:
        if started:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(APP_NAME)
    except Exception:  # stopping anyway: what could not be stopped is logged
        log.warning("could not take the Ray Serve application down cleanly", exc_info=True)


def run_on_ray(settings: ServiceSettings, options: RayServeOptions, *, host: str, port: int, say: Callable[[str], None] = print) -> None:
    """``marquee serve --ray``: deploy, say where, and serve until interrupted (then shut Serve down)."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # the `finally` below takes the application down

    started = start(settings, options, host=host, port=port)
    # What a container runtime or systemd sends; after Ray's start, which installs a handler of its own.
    signal.signal(signal.SIGTERM, interrupt)
    url = f"http://{host}:{port}"
    heavy = f"heavy x{options.heavy_min}" + (f"-{options.heavy_max} (autoscaled)" if options.heavy_max > options.heavy_min else "")
    say(f"serving on {url} on Ray Serve (docs: {url}/docs); deployments: ingress x{options.ingress_replicas}"
        + (f", {heavy}" if settings.heavy else "") + f"; Ray at {options.address or 'a local instance'}")  # fmt: skip
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        stop(started)
