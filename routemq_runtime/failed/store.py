"""The failed-message store: SQLite in the app's ``storage/``, created on first use.

Several processes may write at once (the keeper, ``routemq failed:*`` commands, a second
keeper during a restart): the database runs in WAL mode, every write is one ``BEGIN
IMMEDIATE`` transaction and a writer waits for a lock instead of failing. A failure is stored
once however often its dead letter is delivered (``failure_id`` is unique).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routemq_runtime.failed.record import FailedMessage

if TYPE_CHECKING:
    from routemq_runtime.config import Config

#: Marks a database as this store ("RMQF"): any other SQLite file is refused, never changed.
APPLICATION_ID = 0x524D5146
SCHEMA_VERSION = 1
#: How long a retried message's history waits for it to fail again.
HISTORY_KEPT = 30 * 24 * 3600.0
UNROUTED = "<unrouted>"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS failed_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    failure_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT,
    attempts INTEGER NOT NULL,
    total_attempts INTEGER NOT NULL,
    route TEXT,
    worker TEXT,
    failed_at REAL NOT NULL,
    stored_at REAL NOT NULL,
    details TEXT NOT NULL,
    history TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS failed_messages_route ON failed_messages (route);
CREATE INDEX IF NOT EXISTS failed_messages_failed_at ON failed_messages (failed_at);
CREATE TABLE IF NOT EXISTS retried_messages (
    failure_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    history TEXT NOT NULL,
    total_attempts INTEGER NOT NULL,
    retried_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS retried_messages_digest ON retried_messages (digest);
"""
_COLUMNS = (
    "failure_id, topic, payload, qos, properties, error_type, error, traceback, attempts, "
    "total_attempts, route, worker, failed_at, stored_at, details, history"
)


class StoreError(RuntimeError):
    """The store cannot be used (not a store, not writable); the message says which and why."""


def store_path(config: Config, base: str | Path | None = None) -> Path | None:
    """The SQLite file of ``ROUTEMQ_FAILED_STORE`` (relative to ``base``, the app directory),
    or None when the app keeps no store."""
    url = config.failed_store
    if url == "none":
        return None
    path = Path(url[len("sqlite:///") :])
    return path if path.is_absolute() else Path(base or ".").resolve() / path


def anchored(config: Config, app_dir: str | Path) -> Config:
    """``config`` with a relative store path made absolute under ``app_dir``, so that every
    process of the app (whatever its working directory) uses the same file."""
    path = store_path(config, app_dir)
    if path is None:
        return config
    return dataclasses.replace(config, failed_store=f"sqlite:///{path}")


def open_store(path: str | Path) -> FailedStore:
    return FailedStore(Path(path))


class FailedStore:
    """One connection to the store; open one per thread or process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"cannot open the failed-message store {path}: {error}") from error
        try:
            self._prepare()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(_why(path, error)) from error

    def _prepare(self) -> None:
        db = self._db
        found = db.execute("PRAGMA application_id").fetchone()[0]
        tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if found != APPLICATION_ID and tables:
            raise StoreError(
                f"{self.path} is an SQLite database but not a failed-message store "
                "(left unchanged); point ROUTEMQ_FAILED_STORE elsewhere"
            )
        db.execute("PRAGMA busy_timeout = 30000")
        if found != APPLICATION_ID:
            db.execute("PRAGMA journal_mode = WAL")
            with self._write():
                # One statement at a time: executescript() would commit on its own.
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that waits for the lock (``IMMEDIATE``) and commits at the end."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as error:
            raise StoreError(_why(self.path, error)) from error
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            db.execute("ROLLBACK")
            raise StoreError(_why(self.path, error)) from error

    # -- writing ---------------------------------------------------------------------------------

    def add(self, record: FailedMessage) -> int | None:
        """Store a failure (committed on return); its id, or None when it was stored before.
        A failure of a message retried earlier gets that message's history."""
        try:
            with self._write() as db:
                if db.execute(
                    "SELECT 1 FROM failed_messages WHERE failure_id = ?", (record.failure_id,)
                ).fetchone():
                    return None
                self._attach_history(db, record)
                record.id = _insert(db, record)
            return record.id
        except sqlite3.DatabaseError as error:
            raise StoreError(_why(self.path, error)) from error

    def _attach_history(self, db: sqlite3.Connection, record: FailedMessage) -> None:
        earlier = db.execute(
            "SELECT failure_id, history, total_attempts FROM retried_messages "
            "WHERE digest = ? ORDER BY retried_at DESC LIMIT 1",
            (record.digest,),
        ).fetchone()
        if earlier is None:
            return
        record.history = json.loads(earlier[1]) + record.history
        record.total_attempts = int(earlier[2]) + record.attempts
        db.execute("DELETE FROM retried_messages WHERE failure_id = ?", (earlier[0],))

    def retrying(self, records: Iterable[FailedMessage]) -> None:
        """Remember these entries' history before they are sent again: a retry can fail again
        (and be stored) before the broker's confirmation of the retry has even been read."""
        now = time.time()
        with self._write() as db:
            for record in records:
                db.execute(
                    "INSERT OR REPLACE INTO retried_messages VALUES (?, ?, ?, ?, ?)",
                    (
                        record.failure_id,
                        record.digest,
                        json.dumps([*record.history, record.summary()]),
                        record.total_attempts,
                        now,
                    ),
                )
            db.execute("DELETE FROM retried_messages WHERE retried_at < ?", (now - HISTORY_KEPT,))

    def retried(self, record: FailedMessage) -> None:
        """The broker confirmed ``record``'s message again: the entry goes."""
        with self._write() as db:
            db.execute("DELETE FROM failed_messages WHERE id = ?", (record.id,))

    def forget(self, ids: Iterable[int]) -> int:
        """Remove these entries; how many there were."""
        with self._write() as db:
            return sum(
                db.execute("DELETE FROM failed_messages WHERE id = ?", (i,)).rowcount for i in ids
            )

    def flush(self, older_than: float | None = None) -> int:
        """Remove every entry (that failed before ``older_than``, a Unix time); how many."""
        with self._write() as db:
            if older_than is None:
                return db.execute("DELETE FROM failed_messages").rowcount
            return db.execute(
                "DELETE FROM failed_messages WHERE failed_at < ?", (older_than,)
            ).rowcount

    # -- reading ---------------------------------------------------------------------------------

    def get(self, failed_id: int) -> FailedMessage | None:
        rows = self._select("WHERE id = ?", (failed_id,))
        return rows[0] if rows else None

    def list(self, route: str | None = None, since: float | None = None) -> list[FailedMessage]:
        """Stored failures, oldest first (only ``route``'s, only those since ``since``)."""
        where, args = ["1 = 1"], []
        if route is not None:
            where.append("route = ?")
            args.append(route)
        if since is not None:
            where.append("failed_at >= ?")
            args.append(since)
        return self._select("WHERE " + " AND ".join(where) + " ORDER BY id", tuple(args))

    def counts(self) -> dict[str, int]:
        """Stored failures per route pattern."""
        rows = self._read("SELECT route, count(*) FROM failed_messages GROUP BY route", ())
        return {route or UNROUTED: count for route, count in rows}

    def _select(self, clause: str, args: tuple[Any, ...]) -> list[FailedMessage]:
        rows = self._read(f"SELECT id, {_COLUMNS} FROM failed_messages {clause}", args)
        return [_record(row) for row in rows]

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        try:
            return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as error:
            raise StoreError(_why(self.path, error)) from error

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FailedStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _insert(db: sqlite3.Connection, r: FailedMessage) -> int:
    cursor = db.execute(
        f"INSERT INTO failed_messages ({_COLUMNS}) VALUES ({', '.join('?' * 16)})",
        (
            r.failure_id, r.topic, r.payload, r.qos, json.dumps(r.properties), r.error_type,
            r.error, r.traceback, r.attempts, r.total_attempts, r.route, r.worker, r.failed_at,
            time.time(), json.dumps(r.details), json.dumps(r.history),
        ),
    )  # fmt: skip
    return int(cursor.lastrowid or 0)


def _record(row: tuple[Any, ...]) -> FailedMessage:
    (id_, failure_id, topic, payload, qos, properties, error_type, error, tb, attempts, total,
     route, worker, failed_at, _stored_at, details, history) = row  # fmt: skip
    return FailedMessage(
        id=id_,
        failure_id=failure_id,
        topic=topic,
        payload=bytes(payload),
        qos=qos,
        properties=json.loads(properties),
        error_type=error_type,
        error=error,
        traceback=tb,
        attempts=attempts,
        total_attempts=total,
        route=route,
        worker=worker,
        failed_at=failed_at,
        details=json.loads(details),
        history=json.loads(history),
    )


def _why(path: Path, error: sqlite3.Error) -> str:
    text = str(error)
    if "not a database" in text:
        return (
            f"{path} is not a failed-message store ({text}); "
            "move it away or set ROUTEMQ_FAILED_STORE"
        )
    if "readonly" in text or "unable to open" in text:
        return f"the failed-message store {path} is not writable ({text}): check storage/"
    return f"the failed-message store {path} failed: {text}"
