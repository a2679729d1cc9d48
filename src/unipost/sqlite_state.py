"""The shared state kept in the SQLite outbox file: one machine, every process using it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from unipost.errors import StoreError
from unipost.shared_state import JsonState

__all__ = ["SQLiteState"]


class SQLiteState(JsonState):
    """The shared state in the outbox file: every process using it sees one breaker per domain."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.RLock,
        explain: Callable[[sqlite3.DatabaseError], str],
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._explain = explain

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc

    def read(self, key: str) -> dict[str, Any] | None:
        rows = self._query("SELECT value FROM shared_state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        rows = self._query(
            "SELECT key, value FROM shared_state WHERE key >= ? AND key < ?",
            (prefix, prefix + "\uffff"),
        )
        return {key: json.loads(value) for key, value in rows}

    def transact(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        conn = self._conn
        try:
            with self._lock:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute(
                        "SELECT value FROM shared_state WHERE key = ?", (key,)
                    ).fetchone()
                    before = json.loads(row[0]) if row else None
                    after = change(before)
                    if after is None:
                        conn.execute("DELETE FROM shared_state WHERE key = ?", (key,))
                    elif after != before:
                        conn.execute(
                            "INSERT OR REPLACE INTO shared_state VALUES (?, ?)",
                            (key, json.dumps(after)),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from exc
        return before, after
