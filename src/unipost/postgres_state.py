"""The shared state kept in the PostgreSQL outbox: every worker on every machine that uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from unipost.shared_state import JsonState

__all__ = ["PostgresState"]


class PostgresState(JsonState):
    """Breakers, budgets and not-before times as JSON rows of the outbox's ``shared_state`` table.

    An update takes a transaction-scoped advisory lock on its key, so two
    processes changing one key (even one with no row yet) take turns.
    """

    def __init__(self, schema: str, connection: Callable[[], AbstractContextManager[Any]]) -> None:
        self._table = f"{schema}.shared_state"
        self._lock_prefix = f"unipost-state:{schema}:"
        self._connection = connection

    def _rows(self, sql: str, params: tuple[Any, ...]) -> Iterator[Any]:
        with self._connection() as conn:
            yield from conn.execute(sql, params).fetchall()

    def read(self, key: str) -> dict[str, Any] | None:
        for (value,) in self._rows(f"SELECT value FROM {self._table} WHERE key = %s", (key,)):  # noqa: S608
            found: dict[str, Any] = value
            return found
        return None

    def scan(self, prefix: str) -> dict[str, dict[str, Any]]:
        rows = self._rows(
            f"SELECT key, value FROM {self._table} WHERE starts_with(key, %s)",  # noqa: S608
            (prefix,),
        )
        return dict(rows)

    def transact(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        from psycopg.types.json import Jsonb

        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_prefix + key,))
            row = conn.execute(
                f"SELECT value FROM {self._table} WHERE key = %s",  # noqa: S608
                (key,),
            ).fetchone()
            before: dict[str, Any] | None = row[0] if row else None
            after = change(before)
            if after is None:
                conn.execute(f"DELETE FROM {self._table} WHERE key = %s", (key,))  # noqa: S608
            elif after != before:
                conn.execute(
                    f"INSERT INTO {self._table} VALUES (%s, %s) "  # noqa: S608
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (key, Jsonb(after)),
                )
        return before, after
