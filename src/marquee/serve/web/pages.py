"""The homepage component: one member's page of rows, its artwork decisions and its logs, no HTTP.

:class:`HomePages` turns a request (member, device, hour) into a :class:`RenderedPage`:

1. the member's scores for every title from one call of the served model (the light tier's, else the
   heavy tier's, else popularity), re-ranked for the device and hour by the service's context stage when
   one is loaded; a member the model does not know gets popularity and the rule template;
2. the member's history: the service's log plus what they played from the page since it started;
3. the page policy: the member's variant of the page experiment when one runs (that one assignment is
   logged as an exposure), else the service's default; rows from :mod:`marquee.page`;
4. one artwork decision per tile, chosen by the artwork policy for this member and context in one batched
   call, all logged with their propensities in one transaction of the durable decision log (queued before
   the page is sent; committed before it is sent with ``durable=True``);
5. one impression record per tile (page, row, column, title, variant, decision, propensity), written to the
   impression log (JSON lines) by a background writer.

A click on a tile reports reward 1 for its decision through ``POST /v1/feedback``; a tile not clicked within
``click_window_s`` gets reward 0 (:meth:`HomePages.sweep`, run by the service every few seconds), so the artwork
policy learns from what was shown and passed over, not from clicks alone. Play runs a simulated playback session
(:mod:`marquee.serve.play`) and adds the title, unfinished, to the member's history: it appears in Continue Watching.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from marquee.data.ids import IdIndex
from marquee.data.interactions import Interactions
from marquee.errors import ConfigError, DataError
from marquee.experiment.exposure import Exposure
from marquee.page import (
    GreedyPolicy,
    History,
    Page,
    PageBuilder,
    PageModel,
    PagePolicy,
    Row,
    RowCandidates,
    RuleTemplate,
    ShuffledTemplate,
)
from marquee.serve.play import Player, PlayResult

if TYPE_CHECKING:
    from marquee.bandit.artwork import ArtworkDecision
    from marquee.serve.service import Service

__all__ = ["PAGE_EXPERIMENT", "HomePages", "RenderedPage", "Tile"]

log = logging.getLogger("marquee.serve.web")

#: The experiment whose variant names the page policy (``template`` or ``learned``), when the service runs one.
PAGE_EXPERIMENT = "homepage-policy"
#: How much of a title one simulated session watches is its 192 seconds over this running time: the catalog
#: carries no running times, so every title counts as a 100-minute film.
NOMINAL_RUNTIME_S = 100 * 60.0
#: Members whose plays from the page are remembered (least recently seen forgotten first).
MAX_LIVE_MEMBERS = 10_000
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Tile:
    """One title on the page with the artwork chosen for it."""

    title_id: int | str
    title: int  # position in the catalog
    name: str
    variant_id: int | str | None
    decision_id: str | None
    propensity: float | None


@dataclass(frozen=True)
class RenderedPage:
    """Everything the HTML shows: rows of tiles and the page's metadata."""

    page_id: str
    member_id: int | str | None
    known: bool
    policy: str
    experiment: str | None
    variant: str | None
    device: str
    local_hour: int
    rows: tuple[tuple[Row, tuple[Tile, ...]], ...]
    model: str
    server_ms: float


class _LineWriter:
    """Appends lines to a file from one background thread: a request only queues its lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[bytes | threading.Event | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="impression-writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        self._queue.put(data)

    def _run(self) -> None:
        with self.path.open("ab") as f:
            while True:
                items = [self._queue.get()]
                while not self._queue.empty():  # everything queued meanwhile, in one write
                    items.append(self._queue.get())
                f.write(b"".join(i for i in items if isinstance(i, bytes)))
                f.flush()
                for i in items:
                    if isinstance(i, threading.Event):
                        i.set()
                if None in items:
                    return

    def flush(self) -> None:
        """Return once everything queued before the call is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait()

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join()


class HomePages:
    """Pages for members: candidates fitted on the service's log, policies, artwork, logs.

    Args:
        service: the service (its router's models, context stage, artwork, allocator and search).
        data: the log the service serves (its catalog gives names, years, genres).
        page_model: a fitted :class:`~marquee.page.PageModel` for the learned page (``None``: its prior).
        default_policy: ``learned`` or ``template``, when no experiment decides.
        impressions: the impression log (JSON lines), appended to; ``None``: not logged.
        n_rows, columns: the page's shape.
        durable: send a page only once its artwork decisions are committed to the decision log (fsync);
            by default it is sent once they are queued to the log's writer, which writes a click's reward
            after them (see :meth:`~marquee.serve.artwork.Artwork.decide_many_async`).
        click_window_s: a tile not clicked within this many seconds of its page gets reward 0.
        explore: share of known members' pages (outside the page experiment) shown as the template's rows in a
            uniformly random order (policy ``explore``, ``page_propensity`` 1/n! within the slice): the logged
            pages that :func:`~marquee.page.slot_replay` and :meth:`~marquee.page.PageModel.fit` need.
        seed: seeds the exploration.
    """

    def __init__(
        self, service: Service, data: Interactions, *, page_model: PageModel | None = None, default_policy: str = "learned",
        impressions: str | Path | None = None, n_rows: int = 10, columns: int = 10, player: Player | None = None,
        durable: bool = False, click_window_s: float = 1800.0, explore: float = 0.0, seed: int | None = None,
    ) -> None:  # fmt: skip
        if data.catalog is None:
            raise DataError("the homepage needs the log's catalog (names, genres); open a dataset that has one")
        if not click_window_s >= 0:
            raise ConfigError(f"click_window_s must be >= 0 seconds, got {click_window_s!r}")
        if not 0 <= explore <= 1:
            raise ConfigError(f"explore is a share of pages in [0, 1], got {explore!r}")
        self.service, self.catalog, self.durable, self.click_window_s = service, data.catalog, durable, float(click_window_s)
        self.candidates = RowCandidates().fit(data)
        self.model = page_model or PageModel()
        self.policies: dict[str, PagePolicy] = {
            "learned": GreedyPolicy(n_rows=n_rows, columns=columns, model=self.model, genre_matrix=self.candidates.genre_matrix_),
            "template": RuleTemplate(n_rows=n_rows, columns=columns, genres=self.candidates.genres_),
        }
        self.explore = float(explore)
        self._rng = np.random.default_rng(seed)
        self._explorer = ShuffledTemplate(n_rows=n_rows, columns=columns, genres=self.candidates.genres_, seed=self._rng, name="explore")
        if default_policy not in self.policies:
            raise ConfigError(f"unknown page policy {default_policy!r}; choose one of {sorted(self.policies)}")
        self.default_policy = default_policy
        self.builder = PageBuilder(self.candidates, self.policies[default_policy])
        self.player = player or Player()
        t = self.catalog.table
        self.ids: list[int | str] = t.column("title_id").to_pylist()
        self.names: list[str] = self.candidates.names_
        self.years: list[int | None] = t.column("year").to_pylist()
        self.genres: list[list[str]] = [g or [] for g in t.column("genres").to_pylist()]
        self.popularity = self.candidates.popularity_.astype(np.float64)
        self.members: IdIndex = data.members
        self._plays = np.diff(data.member_indptr)
        self._live: OrderedDict[int, History] = OrderedDict()  # by member position
        self._catalog_models: dict[int, tuple[Any, bool]] = {}
        self._lock = threading.Lock()
        self._pending: deque[tuple[float, list[str]]] = deque()  # (deadline, decision ids) per page, oldest first
        self._writer = _LineWriter(Path(impressions)) if impressions is not None else None
        self.impressions_path = Path(impressions) if impressions is not None else None

    # ---- the member --------------------------------------------------------------------------
    def scorer(self) -> tuple[Any, str]:
        """The model pages are scored by, and its label: the light tier's, else the heavy tier's, else popularity."""
        tiers = self.service.router.tiers
        for name in ("light", "heavy"):
            if name in tiers:
                return tiers[name].model, f"{name} tier {tiers[name].version}"
        return None, "popularity"

    def scores(self, member_id: int | str | None, device: str | None = None, local_hour: int | None = None) -> tuple[np.ndarray, bool, str]:
        """(n_titles,) scores for the member in catalog order, whether the model knows the member, and what scored them.

        A model indexing other titles than the catalog (another dataset's) is not used: popularity answers."""
        model, label = self.scorer()
        if model is None or member_id is None or not self._indexes_catalog(model):
            return self.popularity, False, "popularity"
        u = model.members_.position(member_id)
        if u is None:
            return self.popularity, False, "popularity"
        scores = np.asarray(model.score_one(u), np.float64)
        context = self.service.context
        if context is not None and device is not None and local_hour is not None:
            ids, adjusted, applied = context[2].rerank(np.asarray(model.titles_.ids), scores, device, local_hour)
            if applied:
                out = np.empty_like(scores)
                out[self.catalog.index.positions(ids)] = adjusted
                return out, True, f"{label} + context stage {context[1].ref}"
        return scores, True, label

    def _indexes_catalog(self, model: Any) -> bool:
        """Whether ``model`` indexes the catalog's titles: compared once per model (a swap brings a new one), not per page."""
        known = self._catalog_models.get(id(model))
        if known is None or known[0] is not model:
            known = self._catalog_models[id(model)] = (model, model.titles_ == self.catalog.index)
        return known[1]

    def _position(self, member_id: int | str | None) -> int | None:
        return self.members.position(member_id) if member_id is not None else None

    def history(self, member_id: int | str | None) -> History:
        """The member's history in the log, with their plays from the page since."""
        u = self._position(member_id)
        if u is None:
            return History()
        with self._lock:
            live = self._live.get(u)
        return live if live is not None else self.candidates.history(u)

    def title_position(self, title_id: int | str) -> int | None:
        return self.catalog.index.position(title_id)

    # ---- the page ----------------------------------------------------------------------------
    def _policy(self, member_id: int | str | None, known: bool) -> tuple[str, str | None, str | None]:
        """(policy, experiment, variant): the page experiment's variant when it runs and names a policy.

        Only that assignment is logged as an exposure (the page is about to show it); the member's
        other experiments are not exposed by opening the homepage."""
        allocator = self.service.allocator
        if not known or member_id is None:
            return "template", None, None
        if allocator is not None and any(e.name == PAGE_EXPERIMENT for layer in allocator.layers for e in layer.experiments):
            (found,) = allocator.assign([member_id])
            for a in found.assignments:
                if a.experiment == PAGE_EXPERIMENT and a.variant in self.policies:
                    if self.service.exposures is not None:
                        self.service.exposures.write([Exposure(member_id, a.experiment, a.variant, time.time())])
                    return a.variant, PAGE_EXPERIMENT, a.variant
        return self.default_policy, None, None

    async def page(self, member_id: int | str | None, device: str, local_hour: int) -> RenderedPage:
        """The member's page, its artwork decisions logged and its impressions queued to the impression log."""
        start = time.perf_counter()
        scores, known, label = self.scores(member_id, device, local_hour)
        policy, experiment, variant = self._policy(member_id, known)
        arrange = self.policies[policy]
        if known and experiment is None and self.explore > 0 and self._rng.random() < self.explore:
            policy, arrange = "explore", self._explorer
        home = self.builder.page(scores, self.history(member_id), arrange)
        rows = await self._tiles(member_id, home, device, local_hour)
        page_id = uuid.uuid4().hex
        self._log_impressions(page_id, member_id, policy, experiment, variant, device, local_hour, home, rows)
        return RenderedPage(page_id, member_id, known, policy, experiment, variant, device, local_hour, rows, label,
                            (time.perf_counter() - start) * 1000.0)  # fmt: skip

    async def more_like_this(self, member_id: int | str | None, title: int, device: str, local_hour: int, k: int = 10) -> tuple[Tile, ...]:
        """The title's co-watched neighbours, in the member's order, with their artwork (logged: a row of impressions)."""
        scores = self.scores(member_id, device, local_hour)[0]
        near = self.candidates.neighbours_[title]
        near = near[near >= 0]
        near = near[np.argsort(-scores[near], kind="stable")][:k]
        row = Row("more_like_this", f"more_like_this:{title}", "More like this", near, title)
        home = Page((row,), "more_like_this", columns=k)
        rows = await self._tiles(member_id, home, device, local_hour)
        self._log_impressions(uuid.uuid4().hex, member_id, "more_like_this", None, None, device, local_hour, home, rows)
        return rows[0][1]

    def poster(self, title: int, variant: str | None) -> Tile:
        """The title page's poster: the variant its tile showed (``variant``, when it is one of the title's),
        else the generic poster. Not a decision: the member chose this title already."""
        art = self.service.artwork
        shown: int | str | None = None
        if art is not None and variant is not None:
            shown = next((v for v in art.variant_ids(self.ids[title]) if str(v) == variant), None)
        return Tile(self.ids[title], title, self.names[title], shown, None, None)

    async def _tiles(self, member_id: int | str | None, home: Page, device: str, local_hour: int) -> tuple[tuple[Row, tuple[Tile, ...]], ...]:
        art = self.service.artwork
        titles = [int(t) for row in home.rows for t in row.items.tolist()]
        decisions: list[ArtworkDecision | None] = [None] * len(titles)
        if art is not None and titles:
            who = member_id if member_id is not None else "guest"
            decisions = await art.decide_many_async(who, [self.ids[t] for t in titles], device, local_hour, wait=self.durable)
            made = [d.decision_id for d in decisions if d is not None]
            if made:
                with self._lock:
                    self._pending.append((time.monotonic() + self.click_window_s, made))
        out, i = [], 0
        for row in home.rows:
            tiles = []
            for t in row.items.tolist():
                d = decisions[i]
                i += 1
                tiles.append(Tile(self.ids[t], int(t), self.names[t], d.variant_ids[d.action] if d else None,
                                  d.decision_id if d else None, d.propensity if d else None))  # fmt: skip
            out.append((row, tuple(tiles)))
        return tuple(out)

    def _log_impressions(self, page_id: str, member_id: int | str | None, policy: str, experiment: str | None, variant: str | None,
                         device: str, local_hour: int, home: Page, rows: tuple[tuple[Row, tuple[Tile, ...]], ...]) -> None:  # fmt: skip
        if self._writer is None:
            return
        ts = time.time()
        lines = [
            _encode({
                "ts": ts, "page_id": page_id, "member_id": member_id, "policy": policy, "experiment": experiment, "variant": variant,
                "page_propensity": home.propensity, "device": device, "local_hour": local_hour, "row": r, "column": c, "row_kind": row.kind,
                "row_key": row.key, "title_id": tile.title_id, "artwork_variant": tile.variant_id, "decision_id": tile.decision_id,
                "artwork_propensity": tile.propensity,
            })
            for r, (row, tiles) in enumerate(rows) for c, tile in enumerate(tiles)
        ]  # fmt: skip
        self._writer.write(b"\n".join(lines) + b"\n")

    def sweep(self, now: float | None = None) -> int:
        """Give reward 0 to the decisions of pages older than the click window that have no reward
        (one transaction); returns how many pages it closed."""
        now = time.monotonic() if now is None else now
        due: list[str] = []
        pages = 0
        with self._lock:
            while self._pending and self._pending[0][0] <= now:
                due.extend(self._pending.popleft()[1])
                pages += 1
        if due and self.service.artwork is not None:
            self.service.artwork.expire(due, 0.0)
        return pages

    def flush(self) -> None:
        """Return once the impressions of every page sent so far are written."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write the queued impressions (at shutdown)."""
        if self._writer is not None:
            self._writer.close()

    # ---- play --------------------------------------------------------------------------------
    def play(self, member_id: int | str | None, title: int, device: str) -> PlayResult:
        """A simulated playback session; a member of the log then has the title in their history, unfinished."""
        result = self.player.play(self.ids[title], device, member_id=member_id)
        u = self._position(member_id)
        if u is not None:
            completion = min(1.0, result.duration_s / NOMINAL_RUNTIME_S)
            with self._lock:  # one read-modify-write: two plays at once both land
                base = self._live.get(u)
                self._live[u] = (base if base is not None else self.candidates.history(u)).with_play(title, completion)
                self._live.move_to_end(u)
                while len(self._live) > MAX_LIVE_MEMBERS:
                    self._live.popitem(last=False)
        log.info("play", extra={"member_id": member_id, "title_id": self.ids[title], **result.to_dict()})
        return result

    def profiles(self, n: int = 11) -> list[tuple[int | str, int]]:
        """Members for the picker: the most active few and some of the rest, with their history lengths."""
        counts = self._plays
        order = np.argsort(-counts, kind="stable")
        pick = np.unique(np.r_[order[: n // 2], order[:: max(1, len(order) // (n - n // 2))][: n - n // 2]])[:n]
        ids = self.members.ids
        return [(ids[i].item() if hasattr(ids[i], "item") else ids[i], int(counts[i])) for i in pick]
