"""The event outbox: events the broker has not acknowledged, kept in a SQLite file in the
data dir and sent again, in the order they were published, when the broker answers.

Every process of one machine (API, workers) shares the file, so whichever process is
connected drains what any of them kept (one at a time: a `flock` beside the file). The
outbox is bounded: past `max_events` the oldest events are dropped, counted in the file
(so `/metrics` shows every process's drops) and logged.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " seq INTEGER NOT NULL,"
    " topic TEXT NOT NULL,"
    " key BLOB,"
    " value BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_seq ON outbox (seq, id)",
    "CREATE TABLE IF NOT EXISTS outbox_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


@dataclass(frozen=True)
class Held:
    """One event waiting in the outbox."""

    id: int
    topic: str
    key: bytes | None
    value: bytes


class Sequence:
    """Publication order: nanoseconds since the epoch, strictly increasing in a process, so
    events of one process drain in the order they were published and those of processes
    sharing the outbox in (close to) the order they happened."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = max(time.time_ns(), self._last + 1)
        return self._last


class Outbox:
    """A bounded queue of encoded events in SQLite. Its methods block on the disk for a
    fraction of a millisecond; the bus calls them through `asyncio.to_thread`."""

    def __init__(self, path: Path, max_events: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            self._db.execute(f"PRAGMA {pragma}")
        for statement in SCHEMA:
            self._db.execute(statement)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, seq: int, topic: str, key: bytes | None, value: bytes) -> int:
        """Keep one event; returns how many of the oldest were dropped to stay in bound."""
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO outbox (seq, topic, key, value) VALUES (?, ?, ?, ?)",
                (seq, topic, key, value),
            )
            (count,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            excess = count - self.max_events
            if excess <= 0:
                return 0
            db.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY seq, id LIMIT ?)",
                (excess,),
            )
            db.execute(
                "INSERT INTO outbox_counters (name, value) VALUES ('dropped', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (excess,),
            )
        log.error(
            "event outbox full (%d events in %s): dropped the %d oldest",
            self.max_events,
            self.path,
            excess,
        )
        return int(excess)

    def oldest(self, limit: int) -> list[Held]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, key, value FROM outbox ORDER BY seq, id LIMIT ?", (limit,)
            ).fetchall()
        return [Held(*row) for row in rows]

    def remove(self, ids: list[int]) -> None:
        with self._lock, self._transaction() as db:
            db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def backlog(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(count)

    def dropped(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM outbox_counters WHERE name = 'dropped'"
            ).fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def draining(self) -> Iterator[bool]:
        """Yields True when this process may drain now (no other process is draining)."""
        with open(f"{self.path}.drain.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
