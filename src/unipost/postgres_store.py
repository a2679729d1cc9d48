"""The outbox in PostgreSQL, for workers on many machines (``pip install unipost-sdk[postgres]``).

The same promises as the SQLite file: every state change is its own committed
transaction, a lease is one compare-and-set, a foreign or newer schema is
refused and left untouched. Leases are taken with ``SELECT … FOR UPDATE SKIP
LOCKED``: a worker never waits on a row another worker is claiming, it moves
on. The tables live in their own PostgreSQL schema (``unipost`` by default),
so the outbox can share a database with the application that embeds it.
Connections come from a pool (psycopg_pool), shared by the threads of a process.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from unipost.errors import StoreError
from unipost.outbox import OUTAGE_CLASSES, Attempt, Publication, Record, State, _check_conflict
from unipost.postgres_sql import (
    ATTEMPT_COLUMNS,
    IDENTIFIER,
    MIGRATIONS,
    SCHEMA_VERSION,
    attempt_values,
    jsonb,
    publication_from,
    record_from,
    record_values,
    statements,
)
from unipost.postgres_state import PostgresState
from unipost.spool import default_folder, restore_media, write_once

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]


def _import_psycopg() -> tuple[Any, Any]:
    """psycopg is an optional extra: import it only when a PostgreSQL outbox is used."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise StoreError(
            "a PostgreSQL outbox needs psycopg: pip install 'unipost-sdk[postgres]'"
        ) from exc
    return psycopg, psycopg_pool


def _display(url: str) -> str:
    """The URL without its password, for messages and ``location``."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1@", url)


@attrs.define
class PostgresStore:
    """The durable outbox in a PostgreSQL database, shared by every worker that reaches it.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/dbname``);
    ``schema`` is the PostgreSQL schema that holds unipost's tables;
    ``pool_size`` bounds the connections this process opens; ``timeout`` is
    how long a call waits for a connection before the server is reported unreachable;
    ``poll_claim`` is how long other workers' polls skip a publication this one was given;
    ``media_folder`` is where this machine keeps the files of media spooled in the database.
    """

    url: str
    schema: str = attrs.field(default="unipost")
    pool_size: int = 10
    timeout: float = 10.0
    poll_claim: float = 10.0
    media_folder: Path = attrs.field(factory=default_folder, converter=Path)
    _pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = attrs.field(
        init=False, repr=False
    )
    _sql: dict[str, str] = attrs.field(init=False, repr=False, factory=dict)
    _errors: tuple[type[BaseException], ...] = attrs.field(init=False, repr=False)
    _owner: str = attrs.field(init=False, repr=False, factory=lambda: secrets.token_hex(8))

    durable = True

    @schema.validator
    def _check_schema(self, _attribute: object, value: str) -> None:
        if not IDENTIFIER.fullmatch(value):
            raise StoreError(
                f"the outbox schema {value!r} is not a plain PostgreSQL name: "
                "use lower-case letters, digits and _"
            )

    def __attrs_post_init__(self) -> None:
        psycopg, psycopg_pool = _import_psycopg()
        self._errors = (psycopg.Error, psycopg_pool.PoolTimeout)
        self._sql = statements(self.schema)
        self._pool = psycopg_pool.ConnectionPool(
            self.url,
            min_size=1,
            max_size=max(1, self.pool_size),
            timeout=self.timeout,
            kwargs={"autocommit": True},
            name="unipost-outbox",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=self.timeout)
        except self._errors as exc:
            self._pool.close()
            raise StoreError(
                f"cannot reach the outbox {self.location}: {_reason(exc)}; "
                "check [outbox] url and that the server accepts connections"
            ) from exc
        try:
            self._migrate()
        except BaseException:
            self._pool.close()
            raise

    @property
    def location(self) -> str:
        return f"{_display(self.url)} (schema {self.schema})"

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except self._errors as exc:
            raise StoreError(f"the outbox {self.location} failed: {_reason(exc)}") from exc

    def _migrate(self) -> None:
        s = self.schema
        with self._connection() as conn, conn.transaction():
            # One migrating process at a time; the others wait, then find it done.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"unipost-migrate:{s}",))
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (s,),
                )
            }
            if tables and "meta" not in tables:
                raise StoreError(
                    f"the outbox {self.location} is a schema of another program "
                    f"(tables: {', '.join(sorted(tables)[:5])}); it was left untouched: "
                    "point the outbox at a schema of its own"
                )
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute(
                f"SELECT value FROM {s}.meta WHERE key = 'schema_version'"  # noqa: S608
            ).fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the outbox {self.location} has schema {version}, newer than this unipost "
                    f"({SCHEMA_VERSION}): upgrade unipost"
                )
            for script in MIGRATIONS[version:]:
                for statement in script.format(s=s).split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(
                f"INSERT INTO {s}.meta (key, value) VALUES ('schema_version', %s) "  # noqa: S608
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(SCHEMA_VERSION),),
            )
            conn.execute(
                f"INSERT INTO {s}.meta (key, value) VALUES ('secret', %s) "  # noqa: S608
                "ON CONFLICT (key) DO NOTHING",
                (secrets.token_hex(32),),
            )

    def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def secret(self) -> bytes:
        rows = self._rows(f"SELECT value FROM {self.schema}.meta WHERE key = 'secret'")  # noqa: S608
        return bytes.fromhex(rows[0][0])

    def spool_media(self, name: str, data: bytes) -> Path:
        """In the database, so a worker on another machine can restore it; a file here too."""
        with self._connection() as conn:
            conn.execute(
                f"INSERT INTO {self.schema}.media VALUES (%s, %s, %s) "  # noqa: S608
                "ON CONFLICT (name) DO NOTHING",
                (name, data, time.time()),
            )
        return write_once(self.media_folder, name, data)

    def _restored(self, publication: Publication) -> Publication:
        """The publication with its spooled media files present on this machine."""
        post = restore_media(publication.post, self._media, self.media_folder)
        return publication if post is None else attrs.evolve(publication, post=post)

    def _media(self, names: list[str]) -> list[tuple[str, bytes]]:
        sql = f"SELECT name, data FROM {self.schema}.media WHERE name = ANY(%s)"  # noqa: S608
        return [(name, bytes(data)) for name, data in self._rows(sql, (names,))]

    def open_publication(
        self, publication: Publication, records: Sequence[Record]
    ) -> tuple[Publication, list[Record]]:
        with self._connection() as conn, conn.transaction():
            # Inserting first makes two publishers of the same post race on the unique key,
            # not on a read: the loser sees the winner's row.
            inserted = conn.execute(
                self._sql["insert_publication"]
                + " ON CONFLICT (post_id, revision) DO NOTHING RETURNING id",
                (
                    publication.id,
                    publication.post_id,
                    publication.revision,
                    publication.content_hash,
                    jsonb(publication.post),
                    jsonb(publication.route),
                    publication.created_at,
                ),
            ).fetchone()
            existing: Publication | None = None
            if inserted is None:
                row = conn.execute(
                    self._sql["publication"] + " WHERE post_id = %s AND revision = %s",
                    (publication.post_id, publication.revision),
                ).fetchone()
                if row is None:  # inserted by another publisher and gone again: not possible
                    raise StoreError(f"publication {publication.post_id!r} vanished mid-open")
                existing = publication_from(row)
            else:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        self._sql["insert_record"], [record_values(r) for r in records]
                    )
        if existing is not None:
            _check_conflict(existing, publication)
            return existing, self.records(existing.id)
        return publication, self.records(publication.id)

    def publication(self, publication_id: str) -> Publication:
        rows = self._rows(self._sql["publication"] + " WHERE id = %s", (publication_id,))
        if not rows:
            raise StoreError(f"no publication {publication_id} in the outbox {self.location}")
        return self._restored(publication_from(rows[0]))

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None:
        sql = self._sql["publication"] + " WHERE post_id = %s"
        params: list[Any] = [post_id]
        if revision is not None:
            sql += " AND revision = %s"
            params.append(revision)
        rows = self._rows(sql + " ORDER BY revision DESC LIMIT 1", params)
        return self._restored(publication_from(rows[0])) if rows else None

    def records(self, publication_id: str) -> list[Record]:
        rows = self._rows(
            self._sql["select"] + " WHERE publication_id = %s ORDER BY path", (publication_id,)
        )
        return [record_from(r) for r in rows]

    def record(self, record_id: str) -> Record:
        rows = self._rows(self._sql["select"] + " WHERE id = %s", (record_id,))
        if not rows:
            raise StoreError(f"no record {record_id} in the outbox {self.location}")
        return record_from(rows[0])

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        values = record_values(record)
        params = [*values[1:], values[0]]
        with self._connection() as conn:
            if attempt is None:
                conn.execute(self._sql["update"], params)
                return
            with conn.transaction():
                conn.execute(self._sql["insert_attempt"], attempt_values(attempt))
                conn.execute(self._sql["update"], params)

    def _lease(
        self, key: str, record_id: str, owner: str, until: float, now: float
    ) -> Record | None:
        rows = self._rows(
            self._sql[key], {"id": record_id, "owner": owner, "until": until, "now": now}
        )
        return record_from(rows[0]) if rows else None

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        return self._lease("begin_attempt", record_id, owner, lease_until, now)

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        return self._lease("lease", record_id, owner, lease_until, now)

    def add_attempt(self, log: Attempt) -> None:
        with self._connection() as conn:
            conn.execute(self._sql["insert_attempt"], attempt_values(log))

    def attempts(self, record_id: str) -> list[Attempt]:
        rows = self._rows(self._sql["attempts"], (record_id,))
        return [Attempt(**dict(zip(ATTEMPT_COLUMNS, row, strict=True))) for row in rows]

    def due_publications(self, now: float, limit: int) -> list[str]:
        """Due publications, oldest first, skipping those another worker's poll just took.

        A returned publication is claimed by this store for ``poll_claim``
        seconds: the other workers' polls pass it by meanwhile, so N workers
        share the backlog instead of all reading (and racing for) the same
        oldest rows. The claim is only a hint for polls; the record's lease is
        what guards a send, and an unused claim simply runs out.
        """
        params = {
            "now": now,
            "limit": limit,
            "scan": limit * 8,
            "me": self._owner,
            "claim": self.poll_claim,
        }
        rows = self._rows(self._sql["due"], params)
        return [r[0] for r in sorted(rows, key=lambda row: row[1])]

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
            clauses.append("state = ANY(%s)")
            params.append([s.value for s in states])
        if channel is not None:
            clauses.append("channel = %s")
            params.append(channel)
        if post_id is not None:
            clauses.append("post_id = %s")
            params.append(post_id)
        if platform_id is not None:
            clauses.append("platform_id = %s")
            params.append(platform_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._rows(
            self._sql["select"] + where + " ORDER BY created_at, path LIMIT %s", [*params, limit]
        )
        return [record_from(r) for r in rows]

    def verifications_due(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            f"SELECT id FROM {self.schema}.records WHERE verify_at > 0 "  # noqa: S608
            "AND verify_at <= %s ORDER BY verify_at LIMIT %s",
            (now, limit),
        )
        return [r[0] for r in rows]

    def claim_verification(self, record_id: str, seen: float, until: float) -> bool:
        rows = self._rows(
            f"UPDATE {self.schema}.records SET verify_at = %s "  # noqa: S608
            "WHERE id = %s AND verify_at = %s RETURNING 1",
            (until, record_id, seen),
        )
        return bool(rows)

    def lease_publication(self, publication_id: str, owner: str, until: float, now: float) -> bool:
        """Become the one driver of a publication until ``until`` (compare-and-set)."""
        rows = self._rows(
            f"INSERT INTO {self.schema}.publication_leases AS l VALUES (%s, %s, %s) "  # noqa: S608
            "ON CONFLICT (publication_id) DO UPDATE SET owner = EXCLUDED.owner, "
            "lease_until = EXCLUDED.lease_until "
            "WHERE l.owner = EXCLUDED.owner OR l.lease_until <= %s RETURNING 1",
            (publication_id, owner, until, now),
        )
        return bool(rows)

    def release_publication(self, publication_id: str, owner: str) -> None:
        with self._connection() as conn:
            conn.execute(
                f"DELETE FROM {self.schema}.publication_leases "  # noqa: S608
                "WHERE publication_id = %s AND owner = %s",
                (publication_id, owner),
            )

    def wake(self, channels: Sequence[str], now: float, spread: float) -> int:
        """Records of ``channels`` waiting on an outage become due within ``spread`` seconds."""
        if not channels:
            return 0
        with self._connection() as conn:
            # A stable spread per record (from its id) so woken records do not all return at once.
            cursor = conn.execute(
                f"UPDATE {self.schema}.records SET next_attempt_at = "  # noqa: S608
                "%(now)s + (abs(hashtext(id)) %% 1000) / 1000.0 * %(spread)s "
                "WHERE channel = ANY(%(channels)s) AND state = 'retry_wait' "
                "AND last_class = ANY(%(classes)s) AND next_attempt_at > %(now)s",
                {
                    "now": now,
                    "spread": spread,
                    "channels": list(channels),
                    "classes": list(OUTAGE_CLASSES),
                },
            )
            return cursor.rowcount

    @property
    def shared_state(self) -> PostgresState:
        return PostgresState(self.schema, self._connection)

    def close(self) -> None:
        self._pool.close()


def _reason(exc: BaseException) -> str:
    """The server's message on one line, without the URL's password."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _display(text)
