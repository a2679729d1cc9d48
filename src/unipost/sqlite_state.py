"""The shared state kept in the SQLite outbox file: one machine, every process using it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unipost.errors import StoreError
from unipost.shared_state import JsonState

if TYPE_CHECKING:
    from unipost.sqlite_store import SQLiteStore

__all__ = ["SQLiteState"]


class SQLiteState(JsonState):
    """The shared state in the outbox file: every process using it sees one breaker per domain."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def read(self, key: str) -> dict[str, Any] | None:
        rows = self._store._query("SELECT value FROM shared_state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        rows = self._store._query(
            "SELECT key, value FROM shared_state WHERE key >= ? AND key < ?",
            (prefix, prefix + "\uffff"),
        )
        return {key: json.loads(value) for key, value in rows}

    def transact(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        store = self._store
        try:
            with store._lock:
                store._conn.execute("BEGIN IMMEDIATE")
                try:
                    row = store._conn.execute(
                        "SELECT value FROM shared_state WHERE key = ?", (key,)
                    ).fetchone()
                    before = json.loads(row[0]) if row else None
                    after = change(before)
                    if after is None:
                        store._conn.execute("DELETE FROM shared_state WHERE key = ?", (key,))
                    elif after != before:
                        store._conn.execute(
                            "INSERT OR REPLACE INTO shared_state VALUES (?, ?)",
                            (key, json.dumps(after)),
                        )
                    store._conn.execute("COMMIT")
                except BaseException:
                    store._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(store._explain(exc)) from exc
        return before, after
