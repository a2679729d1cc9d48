"""The embedded default outbox: one SQLite file in WAL mode, shared safely by processes.

Every state change is its own committed transaction, so a killed process
leaves at worst a ``sending`` record with a lease that runs out. Leases are a
compare-and-set in one ``UPDATE``, so two workers never both own a record.
A corrupt or locked file raises :class:`~unipost.errors.StoreError` naming the
file; nothing is ever overwritten or recreated behind the user's back.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from unipost.errors import StoreError
from unipost.outbox import OUTAGE_CLASSES, Attempt, Publication, Record, State, _check_conflict
from unipost.spool import write_once
from unipost.sqlite_schema import (
    INSERT_ATTEMPT,
    MIGRATIONS,
    OPEN,
    RECORD_COLUMNS,
    SCHEMA_VERSION,
    SELECT,
    attempt_values,
    publication_from_row,
    record_from_row,
    row_values,
)
from unipost.sqlite_state import SQLiteState

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]


def _as_path(value: str | Path) -> Path:
    return Path(value).expanduser()


@attrs.define
class SQLiteStore:
    """The durable outbox in one file (default: the user's data directory).

    ``timeout`` is how long a write waits for another process's transaction
    before the file is reported as locked.
    """

    path: Path = attrs.field(converter=_as_path)
    timeout: float = 10.0
    _conn: sqlite3.Connection = attrs.field(init=False, repr=False)
    _lock: threading.RLock = attrs.field(init=False, factory=threading.RLock, repr=False)

    durable = True

    def __attrs_post_init__(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except (sqlite3.DatabaseError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise StoreError(f"cannot open the outbox {self.path}: {reason}") from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(self._explain(exc)) from exc
            raise

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return (
                f"the outbox {self.path} is locked by another program; "
                "stop it or wait, nothing was changed"
            )
        return (
            f"the outbox {self.path} is not a readable unipost database ({text}); "
            "it was left untouched: move it aside or point outbox.path elsewhere"
        )

    @property
    def location(self) -> str:
        return str(self.path)

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {
                    row[0]
                    for row in self._conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                    )
                }
                if tables and "meta" not in tables:
                    raise StoreError(
                        f"the outbox {self.path} is an SQLite database of another program "
                        f"(tables: {', '.join(sorted(tables)[:5])}); it was left untouched: "
                        "point outbox.path at a file of its own"
                    )
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                row = self._conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the outbox {self.path} has schema {version}, newer than this unipost "
                        f"({SCHEMA_VERSION}): upgrade unipost"
                    )
                for script in MIGRATIONS[version:]:
                    for statement in script.split(";"):
                        if statement.strip():
                            self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                if self._conn.execute("SELECT 1 FROM meta WHERE key = 'secret'").fetchone() is None:
                    self._conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('secret', ?)",
                        (secrets.token_hex(32),),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        try:
            with self._lock:
                return self._conn.execute(sql, params).rowcount
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc

    def secret(self) -> bytes:
        return bytes.fromhex(self._query("SELECT value FROM meta WHERE key = 'secret'")[0][0])

    def spool_media(self, name: str, data: bytes) -> Path:
        """Beside the file: every worker of a SQLite outbox runs on this machine."""
        return write_once(self.path.parent / "media", name, data)

    def open_publication(
        self, publication: Publication, records: Sequence[Record]
    ) -> tuple[Publication, list[Record]]:
        placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    row = self._conn.execute(
                        "SELECT id, post_id, revision, content_hash, post, route, created_at FROM publications "
                        "WHERE post_id = ? AND revision = ?",
                        (publication.post_id, publication.revision),
                    ).fetchone()
                    if row is not None:
                        existing = publication_from_row(row)
                        self._conn.execute("COMMIT")
                        _check_conflict(existing, publication)
                        return existing, self.records(existing.id)
                    self._conn.execute(
                        "INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            publication.id,
                            publication.post_id,
                            publication.revision,
                            publication.content_hash,
                            json.dumps(publication.post),
                            json.dumps(publication.route),
                            publication.created_at,
                        ),
                    )
                    self._conn.executemany(
                        f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
                        [row_values(r) for r in records],
                    )
                    self._conn.execute("COMMIT")
                except sqlite3.DatabaseError:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc
        return publication, self.records(publication.id)

    def publication(self, publication_id: str) -> Publication:
        rows = self._query(
            "SELECT id, post_id, revision, content_hash, post, route, created_at FROM publications WHERE id = ?",
            (publication_id,),
        )
        if not rows:
            raise StoreError(f"no publication {publication_id} in the outbox {self.path}")
        return publication_from_row(rows[0])

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None:
        sql = "SELECT id, post_id, revision, content_hash, post, route, created_at FROM publications WHERE post_id = ?"
        params: list[Any] = [post_id]
        if revision is not None:
            sql += " AND revision = ?"
            params.append(revision)
        rows = self._query(sql + " ORDER BY revision DESC LIMIT 1", params)
        return publication_from_row(rows[0]) if rows else None

    def records(self, publication_id: str) -> list[Record]:
        return [
            record_from_row(r)
            for r in self._query(
                SELECT + " WHERE publication_id = ? ORDER BY path", (publication_id,)
            )
        ]

    def record(self, record_id: str) -> Record:
        rows = self._query(SELECT + " WHERE id = ?", (record_id,))
        if not rows:
            raise StoreError(f"no record {record_id} in the outbox {self.path}")
        return record_from_row(rows[0])

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        columns = [c for c in RECORD_COLUMNS if c != "id"]
        update = f"UPDATE records SET {', '.join(c + ' = ?' for c in columns)} WHERE id = ?"  # noqa: S608
        params = (*row_values(record)[1:], record.id)
        if attempt is None:
            self._write(update, params)
            return
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.execute(INSERT_ATTEMPT, attempt_values(attempt))
                    self._conn.execute(update, params)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc

    def _lease(
        self, record_id: str, owner: str, lease_until: float, now: float, *, attempt: bool
    ) -> Record | None:
        sets = "lease_owner = ?, lease_until = ?, updated_at = ?"
        condition = (
            f"{OPEN} AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ?) "
            "AND (next_attempt_at <= ? OR ttl_at <= ?)"
        )
        if attempt:
            sets += ", state = 'sending', attempts = attempts + 1"
            condition += " AND state IN ('pending', 'retry_wait')"
        changed = self._write(
            f"UPDATE records SET {sets} WHERE id = ? AND {condition}",  # noqa: S608 - constants
            (owner, lease_until, now, record_id, owner, now, now, now),
        )
        return self.record(record_id) if changed == 1 else None

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        return self._lease(record_id, owner, lease_until, now, attempt=True)

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        return self._lease(record_id, owner, lease_until, now, attempt=False)

    def add_attempt(self, log: Attempt) -> None:
        self._write(INSERT_ATTEMPT, attempt_values(log))

    def attempts(self, record_id: str) -> list[Attempt]:
        rows = self._query(
            "SELECT record_id, n, started_at, duration, error_class, http_status, platform_code, retry_after, "
            "request_id, message FROM attempts WHERE record_id = ? ORDER BY n",
            (record_id,),
        )
        fields = [f.name for f in attrs.fields(Attempt)]
        return [Attempt(**dict(zip(fields, row, strict=True))) for row in rows]

    def due_publications(self, now: float, limit: int) -> list[str]:
        rows = self._query(
            # Only unsettled records are read (the partial index), however long the history.
            f"SELECT publication_id FROM records INDEXED BY records_open WHERE {OPEN} "  # noqa: S608
            "AND (lease_owner IS NULL OR lease_until <= ?) "
            "AND ((state != 'blocked' AND next_attempt_at <= ?) OR ttl_at <= ?) "
            "AND publication_id NOT IN "
            "(SELECT publication_id FROM publication_leases WHERE lease_until > ?) "
            "GROUP BY publication_id ORDER BY MIN(MIN(next_attempt_at, ttl_at)) LIMIT ?",
            (now, now, now, now, limit),
        )
        return [r[0] for r in rows]

    def verifications_due(self, now: float, limit: int) -> list[str]:
        rows = self._query(
            "SELECT id FROM records INDEXED BY records_verify WHERE verify_at > 0 "
            "AND verify_at <= ? ORDER BY verify_at LIMIT ?",
            (now, limit),
        )
        return [r[0] for r in rows]

    def claim_verification(self, record_id: str, seen: float, until: float) -> bool:
        changed = self._write(
            "UPDATE records SET verify_at = ? WHERE id = ? AND verify_at = ?",
            (until, record_id, seen),
        )
        return changed == 1

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        platform_id: str | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        clauses: list[str] = []
        params: list[Any] = []
        if states:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(s.value for s in states)
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if post_id is not None:
            clauses.append("post_id = ?")
            params.append(post_id)
        if platform_id is not None:
            clauses.append("platform_id = ?")
            params.append(platform_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._query(SELECT + where + " ORDER BY created_at, path LIMIT ?", (*params, limit))
        return [record_from_row(r) for r in rows]

    def lease_publication(self, publication_id: str, owner: str, until: float, now: float) -> bool:
        changed = self._write(
            "INSERT INTO publication_leases VALUES (?, ?, ?) ON CONFLICT (publication_id) DO "
            "UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until "
            "WHERE owner = excluded.owner OR lease_until <= ?",
            (publication_id, owner, until, now),
        )
        return changed == 1

    def release_publication(self, publication_id: str, owner: str) -> None:
        self._write(
            "DELETE FROM publication_leases WHERE publication_id = ? AND owner = ?",
            (publication_id, owner),
        )

    def wake(self, channels: Sequence[str], now: float, spread: float) -> int:
        if not channels:
            return 0
        marks = ", ".join("?" for _ in channels)
        classes = ", ".join("?" for _ in OUTAGE_CLASSES)
        # A stable spread per record (from its id) so woken records do not all return at once.
        return self._write(
            f"UPDATE records SET next_attempt_at = ? + (abs(unicode(substr(id, 1, 1)) * 7 "  # noqa: S608
            f"+ unicode(substr(id, 2, 1)) * 13) % 1000) / 1000.0 * ? "
            f"WHERE channel IN ({marks}) AND state = 'retry_wait' "
            f"AND last_class IN ({classes}) AND next_attempt_at > ?",
            (now, spread, *channels, *OUTAGE_CLASSES, now),
        )

    @property
    def shared_state(self) -> SQLiteState:
        return SQLiteState(self._conn, self._lock, self._explain)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
