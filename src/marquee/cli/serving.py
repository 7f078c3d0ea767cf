"""``marquee serve`` and ``marquee models``: the service and the registry from the shell."""

from __future__ import annotations

import errno
import gc
import json
import os
import socket
from pathlib import Path

import typer
from rich.table import Table

from marquee.cli._common import (
    DATASET_OPTION,
    HOME_OPTION,
    console,
    err_console,
    errors_to_exit,
    load_dataset,
    split_fingerprint,
    status,
)  # fmt: skip
from marquee.errors import ConfigError, MarqueeError, UnknownIdError

models_app = typer.Typer(help="The model registry: versions with provenance, aliases, history, rollback.", no_args_is_help=True)

URL_OPTION = typer.Option(None, "--url", envvar="MARQUEE_URL", help="A running service to hot-swap through its admin API (else the registry is changed directly).")


class AddressInUseError(MarqueeError):
    """The address `marquee serve` was asked to listen on is taken (another server runs there)."""

    exit_code = 8


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` as uvicorn binds one (SO_REUSEADDR, IPv6 for a host with
    ':'): it holds the address while the service loads, so a busy port fails before anything else."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            raise ConfigError(f"--host {host!r} is not an address or a name this machine resolves ({exc.strerror})") from None
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUseError(
                f"{host}:{port} is already in use (another `marquee serve`?); stop it or choose another --port"
            ) from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _registry(home: Path | None):  # type: ignore[no-untyped-def]
    from marquee.serve.build import open_registry

    return open_registry(home)


def serve(
    heavy: str | None = typer.Option("sasrec@production", help="Registry reference of the heavy model (name@alias, name:version or name)."),
    light: str | None = typer.Option("sasrec-student@production", help="Registry reference of the light model."),
    dataset: str = DATASET_OPTION,
    host: str = typer.Option("127.0.0.1", envvar="MARQUEE_HOST", help="Interface to bind."),
    port: int = typer.Option(8000, envvar="MARQUEE_PORT", help="Port to bind."),
    budget_ms: float = typer.Option(50.0, envvar="MARQUEE_BUDGET_MS", help="Latency budget of requests that state none."),
    max_batch: int = typer.Option(32, envvar="MARQUEE_MAX_BATCH", help="Most requests in one heavy-model batch (0: no batching; the heavy model then runs on the event loop, blocking it while it computes)."),
    max_wait_ms: float = typer.Option(2.0, envvar="MARQUEE_MAX_WAIT_MS", help="Longest a heavy request waits for companions while the model is idle (while it computes, requests accumulate for the next batch)."),
    heavy_priority: str = typer.Option("low", envvar="MARQUEE_HEAVY_PRIORITY", help="How the heavy tier's batch thread shares a core with the event loop: low (nice 10: a share of the core even under overload), idle (Linux SCHED_IDLE: only spare CPU; under overload the heavy tier gets none and its probes time out) or normal."),
    log_level: str = typer.Option("info", envvar="MARQUEE_LOG_LEVEL", help="debug, info, warning or error."),
    experiments: Path | None = typer.Option(None, envvar="MARQUEE_EXPERIMENTS", help="Allocation config (TOML/JSON [[layers]] of experiments) behind GET /v1/assignments/{member_id}."),
    exposures: Path | None = typer.Option(None, envvar="MARQUEE_EXPOSURES", help="Directory of the exposure log (Parquet parts) [default: $MARQUEE_HOME/exposures]."),
    artwork: bool = typer.Option(True, "--artwork/--no-artwork", envvar="MARQUEE_ARTWORK", help="Serve POST /v1/artwork and /v1/feedback."),
    artwork_log: Path | None = typer.Option(None, envvar="MARQUEE_ARTWORK_LOG", help="Durable artwork decision log (SQLite) [default: $MARQUEE_HOME/artwork/decisions.sqlite]."),
    artwork_policy: str = typer.Option("epsilon_greedy", envvar="MARQUEE_ARTWORK_POLICY", help="Artwork policy: lin_ucb, linear_ts or epsilon_greedy, optionally with parameters (epsilon_greedy:epsilon=0.2)."),
    artwork_variants: Path | None = typer.Option(None, envvar="MARQUEE_ARTWORK_VARIANTS", help="Artwork variants table (Parquet/CSV: title_id, variant_id, attributes) [default: generated from the catalog]."),
    search: bool = typer.Option(True, "--search/--no-search", envvar="MARQUEE_SEARCH", help="Serve GET /v1/search: the dataset's titles, personalised by the light tier's model when one is loaded (else EASE fitted on the dataset at start; MostPopular over 20,000 titles), the blend learned from each member's last play. Adds a few seconds to the start."),
    search_cache: int | None = typer.Option(None, min=0, show_default=False, envvar="MARQUEE_SEARCH_CACHE", help="Distinct queries whose text matches (before personalisation) the search keeps, least recently used out: as-you-type traffic repeats short prefixes. Up to 4 kB each (about 50 MB when full, on MovieLens); 0: none [default: 16,384, SearchConfig.cache_queries]. Hits and misses are counted in /metrics (marquee_search_cache_total)."),
    homepage: bool = typer.Option(True, "--homepage/--no-homepage", envvar="MARQUEE_HOMEPAGE", help="Serve the homepage at / (profiles, a member's rows with chosen artwork, title pages with Play, search)."),
    page_model: Path | None = typer.Option(None, envvar="MARQUEE_PAGE_MODEL", help="Page model of the learned page (`marquee page fit`) [default: $MARQUEE_HOME/page/model.json when it exists, else the model's prior]."),
    page_policy: str = typer.Option("learned", envvar="MARQUEE_PAGE_POLICY", help="The page policy when no experiment named homepage-policy decides: learned or template."),
    durable_pages: bool = typer.Option(False, "--durable-pages/--queued-pages", envvar="MARQUEE_DURABLE_PAGES", help="Send a homepage only once its artwork decisions are committed (fsync) to the decision log; by default once they are queued to its writer, which writes a click's reward after them (a crash in the milliseconds before the commit loses that page's impressions)."),
    page_explore: float = typer.Option(0.02, min=0.0, max=1.0, envvar="MARQUEE_PAGE_EXPLORE", help="Share of known members' homepages shown as the template's rows in a random order (logged as policy 'explore' with its propensity), for replay and for fitting the page model on served logs."),
    impressions: Path | None = typer.Option(None, envvar="MARQUEE_IMPRESSIONS", help="The homepage's impression log (JSON lines, appended) [default: $MARQUEE_HOME/homepage/impressions.jsonl]."),
    precomputed: Path | None = typer.Option(None, envvar="MARQUEE_PRECOMPUTED", help="A precomputed top-k table (`marquee scale score`): the tier between the light model and popularity, answering in microseconds when the online tiers miss their deadline, fail, or shed a prefetch request."),
    context: str | None = typer.Option(None, envvar="MARQUEE_CONTEXT", help="Registry reference of a context stage (`marquee train-context`) that re-ranks every tier's titles for requests stating device and local_hour."),
    ray: bool = typer.Option(False, "--ray/--no-ray", envvar="MARQUEE_RAY", help="Run on Ray Serve (pip install 'marquee[ray]'): the heavy model as its own autoscaled deployment with Ray's batching, the router, light tier and HTTP contract in the ingress; the same answers as one process."),
    ray_address: str | None = typer.Option(None, envvar="RAY_ADDRESS", help="With --ray: an existing Ray cluster (auto, host:port, ray://host:10001); default: a local one on this machine."),
    heavy_replicas: str = typer.Option("1:2", envvar="MARQUEE_HEAVY_REPLICAS", help="With --ray: MIN:MAX replicas of the heavy deployment (Ray's autoscaler moves between them by each replica's queue), or N for a fixed count."),
    ingress_replicas: int = typer.Option(1, min=1, envvar="MARQUEE_INGRESS_REPLICAS", help="With --ray: replicas of the ingress (router, light tier, HTTP). With more than one, each follows the registry's aliases every second, so a promotion through one reaches all."),
    home: Path = HOME_OPTION,
) -> None:
    """Serve recommendations over HTTP with per-request model switching (docs at /docs).

    The popularity fallback is fitted on DATASET at start. The admin API is enabled when
    MARQUEE_ADMIN_TOKEN is set. The address is taken before anything loads: if it is in use,
    the command stops at once with exit code 8."""
    import uvicorn

    from marquee.serve.app import create_app
    from marquee.serve.build import ServiceSettings, build_service
    from marquee.serve.logs import configure_json_logging

    settings = ServiceSettings(
        dataset=dataset, home=_str(home), heavy=heavy, light=light, budget_ms=budget_ms,
        max_batch=max_batch, max_wait_ms=max_wait_ms, heavy_priority=heavy_priority, admin_token=os.environ.get("MARQUEE_ADMIN_TOKEN") or None,
        experiments=_str(experiments), exposures=_str(exposures), artwork=artwork, artwork_log=_str(artwork_log),
        artwork_policy=artwork_policy, artwork_variants=_str(artwork_variants), search=search, search_cache=search_cache, homepage=homepage,
        page_model=_str(page_model), page_policy=page_policy, durable_pages=durable_pages, page_explore=page_explore,
        impressions=_str(impressions), precomputed=_str(precomputed), context=context,
        follow_registry_s=1.0 if ray and ingress_replicas > 1 else 0.0,
    )  # fmt: skip
    if ray:
        from marquee.scale.cluster import check_reachable, import_ray

        # In this process only (read as Ray is imported; workers start without it): Ray's C++ core would
        # answer SIGTERM with a stack dump, where run_on_ray shuts down cleanly.
        before = os.environ.get("RAY_DISABLE_FAILURE_SIGNAL_HANDLER")
        os.environ["RAY_DISABLE_FAILURE_SIGNAL_HANDLER"] = "1"
        import_ray("--ray", "serve in one process: leave out --ray")
        if before is None:
            del os.environ["RAY_DISABLE_FAILURE_SIGNAL_HANDLER"]
        else:
            os.environ["RAY_DISABLE_FAILURE_SIGNAL_HANDLER"] = before
        from marquee.scale.ray_serve import RayServeOptions, run_on_ray

        options = RayServeOptions.parse(heavy_replicas, ingress_replicas=ingress_replicas, address=ray_address)
        with _bind(host, port):  # a busy port fails at once, before Ray starts
            pass
        if ray_address is not None:
            check_reachable(ray_address)  # and so does an unreachable cluster
        configure_json_logging(log_level)
        load_dataset(dataset, home)  # fetched here, once, before any replica opens it
        run_on_ray(settings, options, host=host, port=port, say=lambda m: err_console.print(m, highlight=False))
        return
    # Take the address before anything loads: a second server on a busy port fails at once,
    # before it prints "serving on".
    with _bind(host, port) as sock:
        configure_json_logging(log_level)
        # One BLAS/OpenMP thread: requests are the parallel unit, and a multi-threaded BLAS on a
        # pinned or shared core spins against the event loop.
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
        service = build_service(settings, dataset=load_dataset(dataset, home), stage=status)
        # Everything loaded so far lives as long as the process: move it out of the collector's sight.
        # A full collection over the objects of torch, ONNX Runtime and FastAPI is a pause that would land
        # on some request (it set the p99.9 of bench/serving.py); after freeze() it scans only what requests allocate.
        gc.collect()
        gc.freeze()
        port = sock.getsockname()[1]  # the one the system chose for --port 0
    # The address is released here and taken again by uvicorn a moment later (uvicorn.run binds
    # by host and port); in that moment another process could take it, and uvicorn then stops
    # with its own error. Holding it through the minutes of loading is what matters.
    url = f"http://{host}:{port}"
    err_console.print(f"serving on {url} (docs: {url}/docs" + (f"; homepage: {url}/" if service.pages is not None else "")
                      + f"); {service.describe()}", highlight=False)  # fmt: skip
    # No access log (the service logs what matters as JSON), no proxy-header rewriting (it reads no
    # client address) and no Server header: each costs CPU on every request of the hot path.
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                proxy_headers=False, server_header=False)  # fmt: skip


def _str(path: Path | None) -> str | None:
    """An absolute path: Ray's replicas need not share this process's working directory."""
    return str(path.expanduser().resolve()) if path is not None else None


@models_app.command("list")
@errors_to_exit
def list_(name: str | None = typer.Argument(None, help="Only this model."), home: Path = HOME_OPTION) -> None:
    """Registered versions with their provenance and aliases.

    data: fingerprint of the interactions it was fitted on; split: fingerprint of the evaluation
    split of that data its figures refer to (the leave-one-out split that `marquee evaluate`
    reports on and tuning chooses on; "-" for versions registered without one)."""
    reg = _registry(home)
    if name is not None:
        reg.require_model(name)  # an unknown name is an error that lists the known ones, not an empty table
    table = Table(title=f"registry {reg.root}")
    for col in ("model", "version", "aliases", "class", "data", "split", "code", "parent", "created"):
        table.add_column(col)
    for mv in reg.versions(name):
        aliases = ", ".join(a for a, v in reg.aliases(mv.name).items() if v == mv.version)
        parent = f"{mv.parent[0]}:{mv.parent[1]}" if mv.parent else ""
        table.add_row(mv.name, str(mv.version), aliases, mv.cls.split(":")[-1], mv.data_fingerprint or "-", mv.split_fingerprint or "-",
                      mv.code_version, parent, mv.created_at[:19])  # fmt: skip
    console.print(table)


@models_app.command("history")
@errors_to_exit
def history(
    name: str = typer.Argument(..., help="Model name."),
    alias: str | None = typer.Option(None, help="Only this alias."),
    home: Path = HOME_OPTION,
) -> None:
    """Every alias move: which version served when, who moved it and why."""
    reg = _registry(home)
    moves = reg.history(name, alias)  # an unknown model raises, naming the known ones
    if alias is not None and not moves:
        known = ", ".join(reg.aliases(name)) or "none (set one with `marquee models promote`)"
        raise UnknownIdError(f"model {name!r} has no alias {alias!r}; its aliases: {known}")
    table = Table(title=f"alias history of {name}")
    for col in ("at (UTC)", "alias", "from", "to", "kind", "actor", "reason"):
        table.add_column(col)
    for m in moves:
        table.add_row(m.at[:23], m.alias, str(m.from_version or "-"), str(m.to_version), m.kind, m.actor, m.reason)
    console.print(table)


def _moved(m) -> str:  # type: ignore[no-untyped-def]
    """What an alias move did, in one line."""
    if not m.changed:
        return f"{m.name}@{m.alias} already points at {m.to_version}; nothing changed (no move recorded)"
    return f"{m.name}@{m.alias}: {m.from_version or '-'} -> {m.to_version}"


def _admin_call(url: str, path: str, body: dict) -> dict:
    import httpx

    token = os.environ.get("MARQUEE_ADMIN_TOKEN")
    if not token:
        raise ConfigError("set MARQUEE_ADMIN_TOKEN to the service's admin token to use --url")
    try:
        r = httpx.post(url.rstrip("/") + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    except httpx.HTTPError as exc:
        raise ConfigError(f"could not reach {url}: {exc}") from None
    if r.status_code != 200:
        raise MarqueeError(f"the service refused ({r.status_code}): {r.text}")
    return r.json()


@models_app.command("promote")
@errors_to_exit
def promote(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version to point the alias at."),
    alias: str = typer.Option("production", help="Alias to move."),
    reason: str = typer.Option("", help="Why (recorded in the history)."),
    url: str | None = URL_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Point NAME@ALIAS at VERSION (through a running service with --url, which hot-swaps)."""
    if url:
        console.print(json.dumps(_admin_call(url, "/admin/models/promote", {"name": name, "version": version, "alias": alias, "reason": reason})))
        return
    m = _registry(home).set_alias(name, alias, version, actor=os.environ.get("USER", "cli"), reason=reason)
    console.print(_moved(m))


@models_app.command("rollback")
@errors_to_exit
def rollback(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Option("production", help="Alias to move back one step."),
    reason: str = typer.Option("rollback", help="Why (recorded in the history)."),
    url: str | None = URL_OPTION,
    home: Path = HOME_OPTION,
) -> None:
    """Move NAME@ALIAS back one step along its promotions."""
    if url:
        console.print(json.dumps(_admin_call(url, "/admin/models/rollback", {"name": name, "alias": alias, "reason": reason})))
        return
    reg = _registry(home)
    reg.require_model(name)  # an unknown name lists the known ones
    m = reg.rollback(name, alias, actor=os.environ.get("USER", "cli"), reason=reason)
    console.print(f"{name}@{alias}: {m.from_version} -> {m.to_version} (rollback)")


def distill(
    teacher: str = typer.Option("sasrec@production", help="Registry reference of the heavy teacher."),
    student: str = typer.Option("distilled", help="Student kind: 'distilled' (factor model, one matrix product per member)."),
    name: str | None = typer.Option(None, help="Registry name of the student [default: <teacher name>-student]."),
    factors: int = typer.Option(64, help="Student latent dimensions."),
    temperature: float = typer.Option(0.5, help="Distillation temperature on per-member standardised teacher scores."),
    steps: int = typer.Option(400, help="Full-batch training steps."),
    dataset: str = DATASET_OPTION,
    promote: str | None = typer.Option("production", help="Alias to point at the student ('' to leave aliases alone)."),
    home: Path = HOME_OPTION,
) -> None:
    """Distil a light student from a heavy teacher and register it with the teacher as its parent."""
    from marquee.rank.distill import Distilled

    if student != "distilled":
        raise ConfigError(f"unknown student kind {student!r}; available: distilled")
    reg = _registry(home)
    tv, teacher_model = reg.load(teacher)
    ds = load_dataset(dataset, home)
    if tv.data_fingerprint is not None and tv.data_fingerprint != ds.interactions.fingerprint():
        raise ConfigError(
            f"{tv.ref} was trained on data {tv.data_fingerprint}, but {ds.name} is {ds.interactions.fingerprint()}; "
            "distil on the teacher's own data (--dataset)"
        )
    with status(f"distilling {tv.ref} into a {factors}-factor student ({steps} steps)"):
        model = Distilled(factors=factors, temperature=temperature, steps=steps).fit(ds.interactions, teacher=teacher_model)
    # A teacher registered without a split: the student's data is the teacher's, and so is the split.
    split_fp = tv.split_fingerprint or split_fingerprint(ds.interactions)
    mv = reg.register(
        name or f"{tv.name}-student", model, data_fingerprint=ds.interactions.fingerprint(), split_fingerprint=split_fp,
        metrics={"teacher": tv.ref, "dataset": ds.name}, parent=tv.ref, description=f"{model!r} distilled from {tv.ref}",
    )  # fmt: skip
    console.print(f"{model!r} distilled in {model.fit_seconds_:.1f}s → registered {mv.ref} (parent {tv.ref})")
    if promote:
        move = reg.set_alias(mv.name, promote, mv.version, actor="marquee distill", reason=f"distilled from {tv.ref}")
        console.print(f"{mv.name}@{promote}: {move.from_version or '-'} -> {move.to_version}")


def quantize(
    model: str = typer.Argument("sasrec@production", help="Registry reference of the model to quantize (a SASRec)."),
    name: str | None = typer.Option(None, help="Registry name of the int8 variant [default: <name>-int8]."),
    promote: str | None = typer.Option("", help="Alias to point at the int8 variant ('' to leave aliases alone)."),
    home: Path = HOME_OPTION,
) -> None:
    """Make an int8 variant of a registered SASRec (ONNX Runtime dynamic quantization) and register it
    with the source as its parent. Compare it with `bench/distill.py` before serving it."""
    from marquee.rank.quantize import quantize as make_int8

    reg = _registry(home)
    source, fitted = reg.load(model)
    with status(f"exporting and quantizing {source.ref}"):
        q = make_int8(fitted)  # type: ignore[arg-type]
    mv = reg.register(
        name or f"{source.name}-int8", q, data_fingerprint=source.data_fingerprint, split_fingerprint=source.split_fingerprint,
        metrics={"source": source.ref}, parent=source.ref, description=f"int8 (ONNX Runtime dynamic quantization) of {source.ref}",
    )  # fmt: skip
    console.print(f"int8 graph {len(q.graph_) / 1e6:.2f} MB (fp32 {len(fitted.graph_) / 1e6:.2f} MB) → registered {mv.ref} (parent {source.ref})")
    if promote:
        move = reg.set_alias(mv.name, promote, mv.version, actor="marquee quantize", reason=f"int8 of {source.ref}")
        console.print(f"{mv.name}@{promote}: {move.from_version or '-'} -> {move.to_version}")
