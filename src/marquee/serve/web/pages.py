"""The homepage component: one member's page of rows, its artwork decisions and its logs, no HTTP.

:class:`HomePages` turns a request (member, device, hour) into a :class:`RenderedPage`:

1. the member's scores for every title from one call of the served model (the light tier's, else the
   heavy tier's, else popularity; an unknown member gets popularity and the rule template);
2. the member's history: the service's log plus what they played from the page since it started;
3. the page policy: the member's variant of the page experiment when one runs (logged as an exposure),
   else the service's default; rows from :mod:`marquee.page`;
4. one artwork decision per tile, chosen by the artwork policy for this member and context in one batched
   call, all logged with their propensities in one transaction of the durable decision log (queued before
   the page is sent; committed before it is sent with ``durable=True``);
5. one impression record per tile (page, row, column, title, variant, decision, propensity) appended
   to the impression log (JSON lines).

A click on a tile reports reward 1 for its decision through ``POST /v1/feedback``; Play runs a simulated
playback session (:mod:`marquee.serve.play`) and adds the title, unfinished, to the member's history,
so it appears in Continue Watching.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from marquee.data.interactions import Interactions
from marquee.errors import ConfigError, DataError
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
)
from marquee.serve.play import Player, PlayResult

if TYPE_CHECKING:
    from marquee.bandit.artwork import ArtworkDecision
    from marquee.serve.service import Service

__all__ = ["PAGE_EXPERIMENT", "HomePages", "RenderedPage", "Tile"]

log = logging.getLogger("marquee.serve.web")

#: The experiment whose variant names the page policy (``template`` or ``learned``), when the service runs one.
PAGE_EXPERIMENT = "homepage-policy"
#: A title's running time when the catalog does not say (how much of it one simulated session watches).
NOMINAL_RUNTIME_S = 100 * 60.0
_encode = msgspec.json.Encoder().encode
#: Members whose plays from the page are remembered (least recently seen forgotten first).
MAX_LIVE_MEMBERS = 10_000


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


class HomePages:
    """Pages for members: candidates fitted on the service's log, policies, artwork, logs.

    Args:
        service: the service (its router's models, artwork, allocator and search).
        data: the log the service serves (its catalog gives names, years, genres).
        page_model: a fitted :class:`~marquee.page.PageModel` for the learned page (``None``: its prior).
        default_policy: ``learned`` or ``template``, when no experiment decides.
        impressions: the impression log (JSON lines), appended to; ``None``: not logged.
        n_rows, columns: the page's shape.
        durable: send a page only once its artwork decisions are committed to the decision log (fsync);
            by default it is sent once they are queued to the log's writer, which writes a click's reward
            after them (see :meth:`~marquee.serve.artwork.Artwork.decide_many_async`).
    """

    def __init__(
        self, service: Service, data: Interactions, *, page_model: PageModel | None = None, default_policy: str = "learned",
        impressions: str | Path | None = None, n_rows: int = 10, columns: int = 10, player: Player | None = None,
        durable: bool = False,
    ) -> None:  # fmt: skip
        if data.catalog is None:
            raise DataError("the homepage needs the log's catalog (names, genres); open a dataset that has one")
        self.service, self.catalog, self.durable = service, data.catalog, durable
        self.candidates = RowCandidates().fit(data)
        self.model = page_model or PageModel()
        self.policies: dict[str, PagePolicy] = {
            "learned": GreedyPolicy(n_rows=n_rows, columns=columns, model=self.model, genre_matrix=self.candidates.genre_matrix_),
            "template": RuleTemplate(n_rows=n_rows, columns=columns, genres=self.candidates.genres_),
        }
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
        self._live: OrderedDict[int | str, History] = OrderedDict()
        self._lock = threading.Lock()
        self.impressions_path = Path(impressions) if impressions is not None else None
        if self.impressions_path is not None:
            self.impressions_path.parent.mkdir(parents=True, exist_ok=True)
        self._members = data.members
        self._plays = np.diff(data.member_indptr)

    # ---- the member --------------------------------------------------------------------------
    def scorer(self) -> tuple[Any, str]:
        """The model pages are scored by, and its label: the light tier's, else the heavy tier's, else popularity."""
        tiers = self.service.router.tiers
        for name in ("light", "heavy"):
            if name in tiers:
                return tiers[name].model, f"{name} tier {tiers[name].version}"
        return None, "popularity"

    def scores(self, member_id: int | str | None) -> tuple[np.ndarray, bool, str]:
        """(n_titles,) scores for the member, whether they are known to the model, and the model's label."""
        model, label = self.scorer()
        if model is not None and member_id is not None:
            u = model.members_.position(member_id)
            if u is not None and len(model.titles_) == len(self.ids):
                return np.asarray(model.score_one(u), np.float64), True, label
        return self.popularity, False, "popularity"

    def history(self, member_id: int | str | None) -> History:
        """The member's history in the log, with their plays from the page since."""
        with self._lock:
            live = self._live.get(member_id) if member_id is not None else None
        if live is not None:
            return live
        u = self._members.position(member_id) if member_id is not None else None
        return self.candidates.history(u)

    def known(self, member_id: int | str) -> bool:
        return self._members.position(member_id) is not None

    def title_position(self, title_id: int | str) -> int | None:
        return self.catalog.index.position(title_id)

    # ---- the page ----------------------------------------------------------------------------
    def _policy(self, member_id: int | str | None, known: bool) -> tuple[str, str | None, str | None]:
        """(policy, experiment, variant): the page experiment's variant when it runs and names a policy."""
        allocator = self.service.allocator
        if not known or member_id is None:
            return "template", None, None
        if allocator is not None and any(e.name == PAGE_EXPERIMENT for layer in allocator.layers for e in layer.experiments):
            found = self.service.assignments(member_id, expose=True)  # logged as an exposure: the page is about to show it
            for a in found.get("assignments", []):
                if a["experiment"] == PAGE_EXPERIMENT and a["variant"] in self.policies:
                    return a["variant"], PAGE_EXPERIMENT, a["variant"]
        return self.default_policy, None, None

    async def page(self, member_id: int | str | None, device: str, local_hour: int) -> RenderedPage:
        """The member's page, its artwork decisions durably logged and its impressions appended."""
        start = time.perf_counter()
        scores, known, label = self.scores(member_id)
        policy, experiment, variant = self._policy(member_id, known)
        home = self.builder.page(scores, self.history(member_id) if known else History(), self.policies[policy])
        rows = await self._tiles(member_id, home, device, local_hour)
        page_id = uuid.uuid4().hex
        rendered = RenderedPage(page_id, member_id, known, policy, experiment, variant, device, local_hour, rows, label,
                                (time.perf_counter() - start) * 1000.0)  # fmt: skip
        self._log_impressions(rendered, home)
        return rendered

    async def more_like_this(self, member_id: int | str | None, title: int, device: str, local_hour: int, k: int = 10) -> tuple[Tile, ...]:
        """The title's co-watched neighbours, in the member's order, with their artwork."""
        scores = self.scores(member_id)[0]
        near = self.candidates.neighbours_[title]
        near = near[near >= 0]
        near = near[np.argsort(-scores[near], kind="stable")][:k]
        row = Row("more_like_this", f"more_like_this:{title}", "More like this", near, title)
        (_, tiles), = await self._tiles(member_id, Page((row,), "more_like_this", columns=k), device, local_hour)
        return tiles

    async def artwork_for(self, member_id: int | str | None, title: int, device: str, local_hour: int) -> Tile:
        """One title's tile (the title page's poster)."""
        row = Row("title", "title", "", np.array([title]))
        (_, tiles), = await self._tiles(member_id, Page((row,), "title", columns=1), device, local_hour)
        return tiles[0]

    async def _tiles(self, member_id: int | str | None, home: Page, device: str, local_hour: int) -> tuple[tuple[Row, tuple[Tile, ...]], ...]:
        art = self.service.artwork
        titles = [int(t) for row in home.rows for t in row.items.tolist()]
        decisions: list[ArtworkDecision | None] = [None] * len(titles)
        if art is not None and titles:
            who = member_id if member_id is not None else "guest"
            decisions = await art.decide_many_async(who, [self.ids[t] for t in titles], device, local_hour, wait=self.durable)
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

    def _log_impressions(self, page: RenderedPage, home: Page) -> None:
        if self.impressions_path is None:
            return
        ts = time.time()
        lines = []
        for r, (row, tiles) in enumerate(page.rows):
            for c, tile in enumerate(tiles):
                lines.append(_encode({
                    "ts": ts, "page_id": page.page_id, "member_id": page.member_id, "policy": page.policy, "experiment": page.experiment,
                    "variant": page.variant, "page_propensity": home.propensity, "device": page.device, "local_hour": page.local_hour,
                    "row": r, "column": c, "row_kind": row.kind, "row_key": row.key, "title_id": tile.title_id,
                    "artwork_variant": tile.variant_id, "decision_id": tile.decision_id, "artwork_propensity": tile.propensity,
                }))  # fmt: skip
        with self._lock, self.impressions_path.open("ab") as f:
            f.write(b"\n".join(lines) + b"\n")

    # ---- play --------------------------------------------------------------------------------
    def play(self, member_id: int | str | None, title: int, device: str) -> PlayResult:
        """A simulated playback session; the member's history then has the title, unfinished."""
        result = self.player.play(self.ids[title], device, member_id=member_id)
        if member_id is not None and self.known(member_id):
            completion = min(1.0, result.duration_s / NOMINAL_RUNTIME_S)
            with self._lock:
                base = self._live.get(member_id)
            base = base if base is not None else self.candidates.history(self._members.position(member_id))
            with self._lock:
                self._live[member_id] = base.with_play(title, completion)
                self._live.move_to_end(member_id)
                while len(self._live) > MAX_LIVE_MEMBERS:
                    self._live.popitem(last=False)
        log.info("play", extra={"member_id": member_id, "title_id": self.ids[title], **result.to_dict()})
        return result

    def profiles(self, n: int = 11) -> list[tuple[int | str, int]]:
        """Members for the picker: the most active few and some of the rest, with their history lengths."""
        counts = self._plays
        order = np.argsort(-counts, kind="stable")
        pick = np.unique(np.r_[order[: n // 2], order[:: max(1, len(order) // (n - n // 2))][: n - n // 2]])[:n]
        ids = self._members.ids
        return [(ids[i].item() if hasattr(ids[i], "item") else ids[i], int(counts[i])) for i in pick]
