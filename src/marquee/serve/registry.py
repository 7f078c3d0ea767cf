"""The model registry: versions with provenance, aliases with a recorded history, rollback.

Embedded by default — a directory of artifacts plus one SQLite file, no server. Each registered
version is an immutable artifact directory (safetensors + manifest with checksums) and a row
holding its provenance: class and config, artifact checksum, training-data and split
fingerprints, code version, parent version (for distilled or quantized models), offline metrics
and creation time. Aliases (``production``, ``candidate``, ...) point at versions; every move is
appended to a history, so "what served when" is a query and rollback is one step back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from marquee import config
from marquee.artifacts import verify_artifact
from marquee.errors import ArtifactError, ConfigError, UnknownIdError
from marquee.provenance import code_version
from marquee.rank.base import Recommender

__all__ = ["AliasMove", "Artifact", "ModelRegistry", "ModelVersion"]


class Artifact(Protocol):
    """What the registry stores: anything that saves itself as an artifact directory whose
    manifest names its ``class`` and ``config`` (:func:`marquee.artifacts.write_artifact`)."""

    def save(self, directory: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None) -> None: ...

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL, version INTEGER NOT NULL, path TEXT NOT NULL, class TEXT NOT NULL,
    config TEXT NOT NULL, artifact_sha256 TEXT NOT NULL, data_fingerprint TEXT, split_fingerprint TEXT,
    code_version TEXT NOT NULL, parent_name TEXT, parent_version INTEGER, metrics TEXT NOT NULL,
    description TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (name, version));
CREATE TABLE IF NOT EXISTS aliases (
    name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (name, alias));
CREATE TABLE IF NOT EXISTS alias_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, alias TEXT NOT NULL,
    from_version INTEGER, to_version INTEGER NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL,
    kind TEXT NOT NULL);
"""


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable model version and its provenance."""

    name: str
    version: int
    path: Path
    cls: str
    config: dict[str, Any]
    artifact_sha256: str
    data_fingerprint: str | None
    split_fingerprint: str | None
    code_version: str
    parent: tuple[str, int] | None
    metrics: dict[str, Any]
    description: str
    created_at: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


@dataclass(frozen=True)
class AliasMove:
    """One recorded move of an alias: from which version to which, when, by whom, why.

    ``kind`` is ``"set"`` for a promotion and ``"rollback"`` for a step back. Pointing an alias
    at the version it already points at is no move: it is not recorded, and the returned move
    has ``from_version == to_version`` (``changed`` is False).
    """

    name: str
    alias: str
    from_version: int | None
    to_version: int
    at: str
    actor: str
    reason: str
    kind: str = "set"

    @property
    def changed(self) -> bool:
        """False for a request that left the alias where it was (nothing was recorded)."""
        return self.from_version != self.to_version


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ModelRegistry:
    """Versions, aliases and their history under ``root`` (default ``$MARQUEE_HOME/registry``).

    Safe for several processes: writes are SQLite transactions (``BEGIN IMMEDIATE``), artifacts
    are written to a temporary directory and renamed into place before their row commits.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else config.home() / "registry"

    # ---- storage -----------------------------------------------------------------------
    @contextmanager
    def _db(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.root / "registry.sqlite", timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
            if write:
                con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                if write:
                    con.execute("ROLLBACK")
                raise
            if write:
                con.execute("COMMIT")
        finally:
            con.close()

    @staticmethod
    def _check_name(kind: str, value: str) -> None:
        if not _NAME.match(value):
            raise ConfigError(f"{kind} {value!r} must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit")

    # ---- versions ----------------------------------------------------------------------
    def register(
        self,
        name: str,
        model: Artifact,
        *,
        data_fingerprint: str | None = None,
        split_fingerprint: str | None = None,
        metrics: dict[str, Any] | None = None,
        parent: str | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Save ``model`` (a ranker, or anything saved like one: a context stage) as the next
        version of ``name`` with its provenance.

        Args:
            data_fingerprint: :meth:`Interactions.fingerprint` of the exact data it was fitted on.
            split_fingerprint: :meth:`Split.fingerprint`, when the fit data came from a split.
            metrics: offline metrics (e.g. the leaderboard entry), stored as given.
            parent: ``"name:version"`` (or ``"name@alias"``) of the model it was derived from.
        """
        self._check_name("model name", name)
        parent_mv = self.resolve(parent) if parent else None
        metrics_json = json.dumps(metrics or {}, sort_keys=True, default=str)
        staging = self.root / "models" / name / f".staging-{os.getpid()}-{time.monotonic_ns()}"
        model.save(staging, metadata={"registry_name": name, "code_version": code_version()})
        manifest = json.loads((staging / "manifest.json").read_text())  # just written; its arrays need no re-read
        sha = manifest["files"]["arrays.safetensors"]["sha256"]
        try:
            with self._db(write=True) as con:
                (latest,) = con.execute("SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?", (name,)).fetchone()
                version = latest + 1
                final = self.root / "models" / name / str(version)
                if final.exists():  # left by a crash between rename and commit: not registered, replace
                    shutil.rmtree(final)
                staging.rename(final)
                con.execute(
                    "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name, version, str(final.relative_to(self.root)), manifest["class"], json.dumps(manifest["config"]), sha,
                        data_fingerprint, split_fingerprint, code_version(),
                        parent_mv.name if parent_mv else None, parent_mv.version if parent_mv else None,
                        metrics_json, description, _now(),
                    ),
                )  # fmt: skip
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.get(name, version)

    def _row(self, row: tuple) -> ModelVersion:
        (name, version, path, cls, cfg, sha, data_fp, split_fp, code, p_name, p_version, metrics, desc, created) = row
        return ModelVersion(
            name, version, self.root / path, cls, json.loads(cfg), sha, data_fp, split_fp, code,
            (p_name, p_version) if p_name is not None else None, json.loads(metrics), desc, created,
        )  # fmt: skip

    def get(self, name: str, version: int) -> ModelVersion:
        with self._db() as con:
            row = con.execute("SELECT * FROM versions WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row is None:
            known = [v.version for v in self.versions(name)]
            if not known:
                raise self._unknown_model(name)
            raise UnknownIdError(f"no version {version} of model {name!r}; versions: {known}")
        return self._row(row)

    def names(self) -> list[str]:
        """Every registered model name, sorted."""
        with self._db() as con:
            return [r[0] for r in con.execute("SELECT DISTINCT name FROM versions ORDER BY name").fetchall()]

    def _unknown_model(self, name: str) -> UnknownIdError:
        known = self.names()
        listing = f"known models: {', '.join(known)}" if known else "it is empty"
        return UnknownIdError(f"no model named {name!r} in the registry at {self.root} ({listing}); train one with `marquee train`")

    def require_model(self, name: str) -> None:
        """Raise :class:`UnknownIdError`, naming the registered models, unless ``name`` is one."""
        with self._db() as con:
            found = con.execute("SELECT 1 FROM versions WHERE name = ? LIMIT 1", (name,)).fetchone()
        if found is None:
            raise self._unknown_model(name)

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``, or of every model), oldest first; none for an unknown name."""
        with self._db() as con:
            if name is None:
                rows = con.execute("SELECT * FROM versions ORDER BY name, version").fetchall()
            else:
                rows = con.execute("SELECT * FROM versions WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self._row(r) for r in rows]

    def resolve(self, ref: str) -> ModelVersion:
        """``"name:3"``, ``"name@production"`` or ``"name"`` (its latest version)."""
        if "@" in ref:
            name, alias = ref.split("@", 1)
            self.require_model(name)
            version = self.alias(name, alias)
            if version is None:
                raise UnknownIdError(f"model {name!r} has no alias {alias!r}; set one with `marquee models promote`")
            return self.get(name, version)
        if ":" in ref:
            name, _, v = ref.partition(":")
            if not v.isdigit():
                raise ConfigError(f"model reference {ref!r}: the version after ':' must be a number")
            return self.get(name, int(v))
        versions = self.versions(ref)
        if not versions:
            raise self._unknown_model(ref)
        return versions[-1]

    def load(self, ref: str, kind: Any = Recommender) -> tuple[ModelVersion, Any]:
        """Load and verify a version. A corrupt artifact raises :class:`ArtifactError` and
        changes nothing — whatever is serving keeps serving.

        Args:
            kind: the class whose ``load`` reads it: any ranker by default; a registered
                :class:`~marquee.rank.context.ContextStage` with ``kind=ContextStage``.
        """
        mv = self.resolve(ref)
        self._check_registered(mv)
        return mv, kind.load(mv.path)  # verifies the arrays against the manifest

    def verify(self, name: str, version: int) -> ModelVersion:
        """Check a version's artifact (checksums, registered identity) without loading it."""
        mv = self.get(name, version)
        self._check_registered(mv)
        verify_artifact(mv.path)
        return mv

    @staticmethod
    def _check_registered(mv: ModelVersion) -> None:
        try:
            manifest = json.loads((mv.path / "manifest.json").read_text())
            recorded = manifest["files"]["arrays.safetensors"]["sha256"]
        except (OSError, ValueError, KeyError) as exc:
            raise ArtifactError(f"{mv.ref}: manifest at {mv.path} is missing or damaged ({exc})") from None
        if recorded != mv.artifact_sha256:
            raise ArtifactError(f"{mv.ref}: the artifact on disk is not the one registered (checksum differs); re-register it")

    # ---- aliases -----------------------------------------------------------------------
    def alias(self, name: str, alias: str) -> int | None:
        with self._db() as con:
            row = con.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
        return row[0] if row else None

    def aliases(self, name: str) -> dict[str, int]:
        with self._db() as con:
            return dict(con.execute("SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,)).fetchall())

    def set_alias(self, name: str, alias: str, version: int, *, actor: str = "cli", reason: str = "") -> AliasMove:
        """Point ``name@alias`` at ``version`` and record the move.

        If the alias already points at ``version`` nothing changes and nothing is recorded (so a
        repeated promotion never becomes a step that :meth:`rollback` would "undo" onto the same
        version); the returned move then has ``changed == False``.
        """
        return self._move(name, alias, version, actor, reason, "set")

    def _move(self, name: str, alias: str, version: int, actor: str, reason: str, kind: str) -> AliasMove:
        self._check_name("alias", alias)
        self.verify(name, version)  # an alias never moves onto a damaged or missing artifact
        with self._db(write=True) as con:
            row = con.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
            before = row[0] if row else None
            at = _now()
            if before == version:
                return AliasMove(name, alias, before, version, at, actor, reason, kind)
            con.execute("INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)", (name, alias, version))
            con.execute(
                "INSERT INTO alias_history (name, alias, from_version, to_version, at, actor, reason, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, alias, before, version, at, actor, reason, kind),
            )
        return AliasMove(name, alias, before, version, at, actor, reason, kind)

    def history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        """Every recorded alias move of ``name`` (optionally one alias), oldest first.

        Raises:
            UnknownIdError: ``name`` is not a registered model (the message lists those that are).
        """
        self.require_model(name)
        return self._history(name, alias)

    def _history(self, name: str, alias: str | None) -> list[AliasMove]:
        query = "SELECT name, alias, from_version, to_version, at, actor, reason, kind FROM alias_history WHERE name = ?"
        args: tuple = (name,)
        if alias is not None:
            query += " AND alias = ?"
            args += (alias,)
        with self._db() as con:
            return [AliasMove(*r) for r in con.execute(query + " ORDER BY id", args).fetchall()]

    def rollback(self, name: str, alias: str = "production", *, actor: str = "cli", reason: str = "rollback") -> AliasMove:
        """Move ``alias`` one step back along its promotions.

        Promotions push onto the alias's stack and rollbacks pop it, so repeated rollbacks keep
        stepping back (v3 -> v2 -> v1) instead of toggling between the last two versions.
        """
        return self._move(name, alias, self.rollback_target(name, alias), actor, reason, "rollback")

    def rollback_target(self, name: str, alias: str = "production") -> int:
        """The version :meth:`rollback` would move ``alias`` to."""
        stack: list[int] = []
        for move in self._history(name, alias):  # an unknown model: "never set" below, as the service expects
            if move.from_version == move.to_version:
                continue  # recorded by older versions for a promotion of the current version: no step
            if move.kind == "rollback":
                stack.pop()
            else:
                stack.append(move.to_version)
        if not stack:
            raise ConfigError(f"{name}@{alias} was never set; nothing to roll back")
        if len(stack) < 2:
            raise ConfigError(f"{name}@{alias} has no earlier version to roll back to (it points at {stack[-1]})")
        return stack[-2]
