"""Precomputed rows: every member's top titles scored offline in bulk, served as a tier of their own.

Netflix's architecture answers from "fast fallbacks to precomputed results" when the online path cannot;
this is that table. :mod:`marquee.scale.batch` writes it (``marquee scale score``); the service loads it
(``marquee serve --precomputed DIR``) as the tier between the light model and popularity: when the online
tiers miss their deadline, fail, or are shed, a member gets their own precomputed row in microseconds,
with its age (``staleness_s``) in the answer.

On disk, a directory: ``topk.parquet`` (``member_id``, ``rank``, ``title_id``, ``score``, one row per
member and rank) and ``manifest.json`` (the model and its version, the data fingerprint, ``k``, when it was
scored, the code version, and the Parquet file's SHA-256, checked on load).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from marquee.artifacts import sha256_file
from marquee.data.ids import IdIndex
from marquee.errors import ArtifactError

__all__ = ["MANIFEST", "TABLE", "Precomputed", "write_precomputed"]

TABLE = "topk.parquet"
MANIFEST = "manifest.json"
KIND = "marquee.precomputed"


def write_precomputed(directory: str | os.PathLike[str], table: pa.Table, provenance: dict[str, Any]) -> Path:
    """Write a top-k table (``member_id``, ``rank``, ``title_id``, ``score``, in member then rank order)
    and its manifest, atomically: a reader sees the old directory or the new one, never half of one."""
    target = Path(directory)
    missing = {"member_id", "rank", "title_id", "score"} - set(table.column_names)
    if missing:
        raise ArtifactError(f"a precomputed table needs columns member_id, rank, title_id, score; missing {sorted(missing)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=False)
    pq.write_table(table.select(["member_id", "rank", "title_id", "score"]), tmp / TABLE)
    manifest = {"kind": KIND, **provenance, "rows": table.num_rows, "sha256": sha256_file(tmp / TABLE)}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    old = target.with_name(f".{target.name}.old{os.getpid()}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    if old.exists():
        for p in old.iterdir():
            p.unlink()
        old.rmdir()
    return target


@dataclass(frozen=True, eq=False)
class Precomputed:
    """A loaded precomputed table: one member's row is a slice of flat arrays, found through an id index.

    Attributes:
        members: the members with a row.
        offsets: (n_members, 2) int64: each member's [start, end) in ``title_ids`` / ``scores``, by index position.
        title_ids: (n_rows,) titles, best first within each member.
        scores: (n_rows,) float32.
        manifest: provenance (``model``, ``model_version``, ``created_at``, ``k``, ...).
        created: unix seconds the table was scored.
    """

    members: IdIndex
    offsets: np.ndarray
    title_ids: np.ndarray
    scores: np.ndarray
    manifest: dict[str, Any]
    created: float

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Precomputed:
        """Read and verify a table :func:`write_precomputed` wrote.

        Raises:
            ArtifactError: naming the directory and what is wrong (missing, altered, malformed).
        """
        d = Path(directory)
        try:
            manifest = json.loads((d / MANIFEST).read_text())
        except FileNotFoundError:
            raise ArtifactError(f"{d}: no precomputed table here (no {MANIFEST}); write one with `marquee scale score`") from None
        except ValueError as exc:
            raise ArtifactError(f"{d}/{MANIFEST}: not JSON ({exc})") from None
        if manifest.get("kind") != KIND:
            raise ArtifactError(f"{d}: not a precomputed table (kind {manifest.get('kind')!r})")
        if not (d / TABLE).is_file() or sha256_file(d / TABLE) != manifest.get("sha256"):
            raise ArtifactError(f"{d}/{TABLE}: missing or altered since it was written (SHA-256 differs); score again")
        table = pq.read_table(d / TABLE)
        members = table.column("member_id")
        if table.num_rows == 0:
            raise ArtifactError(f"{d}: the precomputed table is empty")
        # Rows come in member order; a member's rows are contiguous (checked: a change of member never returns).
        change = pc.not_equal(members.slice(1), members.slice(0, len(members) - 1)).to_numpy(zero_copy_only=False)
        starts = np.r_[0, np.flatnonzero(change) + 1]
        firsts = members.take(pa.array(starts))
        try:
            index = IdIndex.from_values(firsts, "member")
        except Exception as exc:  # noqa: BLE001 - any id problem is this artifact's fault
            raise ArtifactError(f"{d}: member ids are not usable ({exc})") from None
        if len(index) != starts.size:
            raise ArtifactError(f"{d}: a member's rows are not contiguous (sort by member_id, rank)")
        order = index.positions(firsts)  # the index sorts ids; rows follow the table's order
        offsets = np.r_[starts, table.num_rows]
        ranks = table.column("rank").to_numpy()
        if ranks.size > 1 and (np.diff(ranks)[~change] <= 0).any():
            raise ArtifactError(f"{d}: ranks must increase within each member")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(order.size)
        lo, hi = offsets[:-1][inverse], offsets[1:][inverse]
        created = datetime.fromisoformat(str(manifest.get("created_at"))).timestamp() if manifest.get("created_at") else os.path.getmtime(d / TABLE)
        ids = table.column("title_id").to_numpy(zero_copy_only=False)
        return cls(index, np.c_[lo, hi], ids, table.column("score").to_numpy().astype(np.float32), manifest, created)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def version(self) -> str:
        """What the answers name as their version: the model version the table was scored with."""
        return f"precomputed {self.manifest.get('model_version', '?')}"

    def staleness_s(self, now: float | None = None) -> float:
        """Seconds since the table was scored."""
        return (time.time() if now is None else now) - self.created

    def row(self, member_id: int | str, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The member's best ``k`` titles and scores, or ``None`` when the table has no row for them."""
        u = self.members.position(member_id)
        if u is None:
            return None
        lo, hi = self.offsets[u]
        hi = min(hi, lo + k)
        return self.title_ids[lo:hi], self.scores[lo:hi]


def created_now() -> str:
    """The ``created_at`` a table scored now records (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
