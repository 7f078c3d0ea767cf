"""A crash-safe decision log: SQLite in WAL mode with ``synchronous=FULL``.

Every append is its own transaction, and a transaction returns only after SQLite has fsynced
it to the write-ahead log, so a record whose append returned survives a crash of the process (or
the machine) at any later instant: that is what lets a service acknowledge a decision or a reward
only after appending it. Decisions are stored as JSON records (any dataclass: the generic
:class:`~marquee.bandit.Decision` or an :class:`~marquee.bandit.artwork.ArtworkDecision`),
rewards in their own table keyed by decision id.

Appends are group-committed: one writer thread commits whatever is queued in one transaction,
so concurrent requests share an fsync; each append still completes only after its commit.

Checkpoints (copying the write-ahead log into the database, with an fsync of their own) are
mostly done by a second thread with its own connection, a PASSIVE checkpoint every
``CHECKPOINT_SECONDS``, which never blocks the writer. SQLite's automatic checkpoint inside a
commit stays on, so the log is still reset every ~4 MB, but by then it finds little left to
copy: a whole checkpoint inside some append's commit was what set the p99 of the artwork
endpoints (bench/artwork.py). Turning the automatic one off is no option: under steady load
the background passes never catch up completely, and the log grew by ~10 MB/s.

The first reward of a decision is the one kept: appending the same reward again is a no-op
(a retried request), a different one is refused.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import msgspec

from marquee.bandit.decisions import Decision, InMemoryDecisionLog
from marquee.errors import DataError, UnknownIdError

__all__ = ["SQLiteDecisionLog", "read_rows"]

log = logging.getLogger(__name__)

#: How often the checkpointer thread copies the write-ahead log into the database.
CHECKPOINT_SECONDS = 0.1

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    timestamp_us INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rewards (
    decision_id TEXT PRIMARY KEY REFERENCES decisions(decision_id),
    reward REAL NOT NULL,
    timestamp_us INTEGER NOT NULL
);
"""
_ROWS = "SELECT d.seq, d.record, r.reward FROM decisions d LEFT JOIN rewards r USING (decision_id) ORDER BY d.seq"


def read_rows(path: str | os.PathLike[str]) -> list[tuple[int, str, float | None]]:
    """The rows of the decision log at ``path`` (as :meth:`SQLiteDecisionLog.rows`), read without
    writing anything: the file is opened read-only, so reading beside the service that appends to
    it, or a log that must stay as it is (an example in a repository), changes nothing.

    Raises:
        DataError: the file is missing or is not a decision log.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("does not exist; pass the path of a decision log (SQLite)", source=str(path))
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return db.execute(_ROWS).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"is not a decision log SQLite can read ({exc})", source=str(path)) from None


class SQLiteDecisionLog:
    """A durable :class:`~marquee.bandit.DecisionSink` in one SQLite file (safe to share across threads).

    Args:
        path: the database file (created with its directory if missing), or ``":memory:"``
            for the in-memory double (same code, nothing durable), for tests and simulations.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        memory = str(path) == ":memory:"
        if not memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path) if memory else self.path, check_same_thread=False, isolation_level=None)
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"is not a decision log SQLite can open ({exc}); pass a new path or an existing log", source=str(self.path)) from None
        if mode.lower() != "wal" and not memory:
            raise DataError(f"could not switch to write-ahead logging (journal_mode={mode}); put the log on a local file system", source=str(self.path))
        self._lock = threading.Lock()  # the connection: the writer's transactions and readers
        self._cond = threading.Condition()  # the queue of appends
        self._queue: list[tuple[Callable[[], Any], Future[Any]]] = []
        self._writer: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self._commits = 0  # transactions committed (the writer's), for the checkpointer
        self._memory = memory
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteDecisionLog({str(self.path)!r}, decisions={len(self)})"

    # ---- the sink ------------------------------------------------------------------------
    # Group commit: appends are queued and one writer thread commits everything queued so far in
    # one transaction (one fsync), then completes each append's future. Concurrent appends share
    # an fsync instead of queueing for one each; every future completes only after its commit.
    def _submit(self, op: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        with self._cond:
            if self._closed:
                raise DataError("is closed; open the log again to append", source=str(self.path))
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="decision-log-writer", daemon=True)
                self._writer.start()
                if not self._memory:
                    self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="decision-log-checkpointer", daemon=True)
                    self._checkpointer.start()
            self._queue.append((op, future))
            self._cond.notify()
        return future

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue, []
            done: list[tuple[Future[Any], bool, Any]] = []
            with self._lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                    for op, future in batch:
                        self._db.execute("SAVEPOINT op")
                        try:
                            done.append((future, True, op()))
                        except Exception as exc:  # noqa: BLE001 - handed to the caller through its future
                            self._db.execute("ROLLBACK TO op")
                            done.append((future, False, exc))
                        self._db.execute("RELEASE op")
                    self._db.execute("COMMIT")
                    self._commits += 1
                except sqlite3.Error as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    error = DataError(f"could not be written ({exc}); nothing in this batch was logged", source=str(self.path))
                    done = [(future, False, error) for _, future in batch]
            for future, ok, value in done:
                future.set_result(value) if ok else future.set_exception(value)

    def _checkpoint_loop(self) -> None:
        # Its own connection: a PASSIVE checkpoint neither waits for nor blocks the writer, and a
        # frame it could not copy now (being written, or read) is copied on a later pass.
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        seen = -1
        try:
            while not self._stop.wait(CHECKPOINT_SECONDS):
                if self._commits == seen:  # nothing written since the last pass: an idle log costs nothing
                    continue
                seen = self._commits
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the next pass retries; the log itself is intact in the WAL
                    log.warning("decision log checkpoint failed", extra={"path": str(self.path), "error": str(exc)})
        finally:
            db.close()

    def submit_decisions(self, decisions: Sequence[Any]) -> Future[None]:
        """Queue decisions (dataclasses with ``decision_id`` and ``timestamp_us``) for one
        transaction; the future completes once they are durable (or fails: a repeated id refuses
        the whole call). ``asyncio.wrap_future`` awaits it on an event loop."""
        # msgspec writes a dataclass as the JSON object of its fields (tuples as arrays), the same
        # text json.dumps(dataclasses.asdict(d)) gives, several times faster: this is on the request path.
        rows = [(d.decision_id, type(d).__name__, int(d.timestamp_us), _encode(d).decode()) for d in decisions]

        def op() -> None:
            try:
                self._db.executemany("INSERT INTO decisions (decision_id, kind, timestamp_us, record) VALUES (?, ?, ?, ?)", rows)
            except sqlite3.IntegrityError:
                raise DataError("a decision id was logged already; ids must be unique", source=str(self.path), column="decision_id") from None

        return self._submit(op)

    def append_decisions(self, decisions: Sequence[Any]) -> None:
        """Append decisions in one transaction; durable when this returns (see :meth:`submit_decisions`)."""
        self.submit_decisions(decisions).result()

    def submit_reward(self, decision_id: str, reward: float, *, timestamp_us: int = 0) -> Future[tuple[bool, dict[str, Any]]]:
        """Queue the reward of a logged decision; the future completes once it is durable, with
        (appended, the decision's record): appended is False if this exact reward was logged
        already (an idempotent retry). It fails with :class:`~marquee.errors.UnknownIdError` for an
        unknown id and :class:`~marquee.errors.DataError` if the decision has a different reward."""
        reward = float(reward)

        def op() -> tuple[bool, dict[str, Any]]:
            row = self._db.execute(
                "SELECT d.record, r.reward FROM decisions d LEFT JOIN rewards r USING (decision_id) WHERE d.decision_id = ?", (decision_id,)
            ).fetchone()
            if row is None:
                raise UnknownIdError(f"unknown decision id {decision_id!r}; feedback must quote a decision_id the service returned")
            if row[1] is not None:
                if row[1] == reward:
                    return False, _decode(row[0])
                raise DataError(f"decision {decision_id!r} already has reward {row[1]!r}; a decision takes one reward, got {reward!r}", column="reward")
            self._db.execute("INSERT INTO rewards VALUES (?, ?, ?)", (decision_id, reward, int(timestamp_us)))
            return True, _decode(row[0])

        return self._submit(op)

    def submit_missing_rewards(self, decision_ids: Sequence[str], reward: float, *, timestamp_us: int = 0) -> Future[list[dict[str, Any]]]:
        """Queue ``reward`` for each of ``decision_ids`` that has no reward yet (a shown tile nobody
        clicked within its window scores 0); the others are left as they are, unknown ids ignored.
        The future completes once durable, with the records of the decisions it rewarded."""
        reward, ids = float(reward), list(dict.fromkeys(decision_ids))

        def op() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for lo in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                chunk = ids[lo : lo + 500]
                rows = self._db.execute(
                    f"SELECT d.decision_id, d.record FROM decisions d LEFT JOIN rewards r USING (decision_id) "
                    f"WHERE r.reward IS NULL AND d.decision_id IN ({','.join('?' * len(chunk))})", chunk,
                ).fetchall()  # fmt: skip
                self._db.executemany("INSERT INTO rewards VALUES (?, ?, ?)", [(d, reward, int(timestamp_us)) for d, _ in rows])
                out.extend(_decode(record) for _, record in rows)
            return out

        return self._submit(op)

    def append_reward(self, decision_id: str, reward: float, *, timestamp_us: int = 0) -> bool:
        """Append the reward of a logged decision; durable when this returns.

        Returns:
            True if appended, False if this exact reward was already logged (an idempotent retry).
        Raises:
            UnknownIdError: no decision has this id.
            DataError: a different reward was logged for this decision already.
        """
        return self.submit_reward(decision_id, reward, timestamp_us=timestamp_us).result()[0]

    # ---- reading -------------------------------------------------------------------------
    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])

    def rows(self) -> list[tuple[int, str, float | None]]:
        """Every decision as stored, in the order logged: (row id, record as JSON text, reward or
        ``None`` if none yet). The row id is the log's own key, stable across reads, so a report of
        a row that cannot be read can name it; readers decode and check the records
        (:meth:`ArtworkLog.from_rows <marquee.data.ArtworkLog.from_rows>`)."""
        with self._lock:
            return self._db.execute(_ROWS).fetchall()

    def records(self) -> list[tuple[dict[str, Any], float | None]]:
        """Every decision record, in the order logged, with its reward (``None`` if none yet).

        Raises:
            DataError: naming the row id of a record that is not JSON.
        """
        return [(self._decode(text, seq), reward) for seq, text, reward in self.rows()]

    def _decode(self, text: str, seq: int) -> dict[str, Any]:
        try:
            return _decode(text)
        except msgspec.DecodeError as exc:
            raise DataError(f"is not JSON ({exc})", source=str(self.path), row=seq, column="record") from None

    def record(self, decision_id: str) -> tuple[dict[str, Any], float | None] | None:
        """One decision record and its reward, or ``None`` if the id is unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT d.record, r.reward FROM decisions d LEFT JOIN rewards r USING (decision_id) WHERE d.decision_id = ?",
                (decision_id,),
            ).fetchone()
        return None if row is None else (_decode(row[0]), row[1])

    def to_memory(self) -> InMemoryDecisionLog:
        """The generic :class:`~marquee.bandit.Decision` records as an in-memory log (whose
        ``to_feedback`` makes :class:`~marquee.data.LoggedFeedback`)."""
        out = InMemoryDecisionLog()
        fields = {f.name for f in dataclasses.fields(Decision)}
        records = self.records()
        out.append_decisions([Decision(**{k: tuple(v) if k == "context" else v for k, v in r.items() if k in fields}) for r, _ in records])
        for r, reward in records:
            if reward is not None:
                out.append_reward(r["decision_id"], reward)
        return out

    def close(self) -> None:
        """Finish the queued appends, stop the writer and the checkpointer, checkpoint and close
        the file (a second call does nothing)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify()
        if self._writer is not None:
            self._writer.join()
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            if not self._memory:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:  # harmless: the next open recovers from the write-ahead log
                    log.warning("decision log final checkpoint failed", extra={"path": str(self.path), "error": str(exc)})
            self._db.close()
