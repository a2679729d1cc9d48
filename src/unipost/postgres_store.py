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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from unipost.errors import StoreError
from unipost.outbox import Attempt, Publication, Record, State, _check_conflict

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["SCHEMA_VERSION", "PostgresStore"]

_MIGRATIONS: tuple[str, ...] = (
    # 1: the SQLite store's schema 2, in PostgreSQL types
    """
    CREATE TABLE {s}.publications (
        id TEXT PRIMARY KEY, post_id TEXT NOT NULL, revision INTEGER NOT NULL,
        content_hash TEXT NOT NULL, post JSONB NOT NULL, route JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        UNIQUE (post_id, revision)
    );
    CREATE TABLE {s}.records (
        id TEXT PRIMARY KEY, publication_id TEXT NOT NULL REFERENCES {s}.publications(id),
        post_id TEXT NOT NULL, revision INTEGER NOT NULL, channel TEXT NOT NULL, path TEXT NOT NULL,
        delivery_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at DOUBLE PRECISION NOT NULL, ttl_at DOUBLE PRECISION NOT NULL,
        lease_owner TEXT, lease_until DOUBLE PRECISION NOT NULL,
        last_class TEXT, last_error TEXT, platform_id TEXT, url TEXT,
        possible_duplicate BOOLEAN NOT NULL, moved_on BOOLEAN NOT NULL,
        started_at DOUBLE PRECISION NOT NULL, lookups_absent INTEGER NOT NULL,
        recipients JSONB NOT NULL, extra JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        UNIQUE (post_id, channel, revision)
    );
    CREATE INDEX records_publication ON {s}.records (publication_id);
    CREATE INDEX records_post ON {s}.records (post_id);
    CREATE INDEX records_open ON {s}.records (next_attempt_at)
        WHERE state NOT IN ('delivered', 'failed', 'ambiguous', 'expired', 'skipped', 'cancelled');
    CREATE TABLE {s}.attempts (
        record_id TEXT NOT NULL, n INTEGER NOT NULL, started_at DOUBLE PRECISION NOT NULL,
        duration DOUBLE PRECISION NOT NULL, error_class TEXT, http_status INTEGER,
        platform_code TEXT, retry_after DOUBLE PRECISION, request_id TEXT, message TEXT
    );
    CREATE INDEX attempts_record ON {s}.attempts (record_id);
    """,
    # 2: a worker's poll claims the publications it returns for a moment, so N workers
    # polling together each get different ones instead of racing for the same oldest few
    """
    ALTER TABLE {s}.publications ADD COLUMN claimed_by TEXT;
    ALTER TABLE {s}.publications ADD COLUMN claimed_until DOUBLE PRECISION NOT NULL DEFAULT 0;
    """,
    # 3: one driver per publication across processes, and state every process shares
    """
    CREATE TABLE {s}.publication_leases (
        publication_id TEXT PRIMARY KEY, owner TEXT NOT NULL,
        lease_until DOUBLE PRECISION NOT NULL
    );
    CREATE TABLE {s}.shared_state (key TEXT PRIMARY KEY, value JSONB NOT NULL);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)

_RECORD_COLUMNS = tuple(f.name for f in attrs.fields(Record))
_ATTEMPT_COLUMNS = tuple(f.name for f in attrs.fields(Attempt))
_PUBLICATION_COLUMNS = "id, post_id, revision, content_hash, post, route, created_at"
_TERMINAL = tuple(s.value for s in State if s.terminal)
# Literal, not parameters: the planner uses the partial index records_open only for this exact text.
_OPEN = "state NOT IN ({})".format(", ".join(f"'{value}'" for value in _TERMINAL))
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


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


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _record_values(record: Record) -> list[Any]:
    values: list[Any] = []
    for column in _RECORD_COLUMNS:
        value = getattr(record, column)
        if column == "state":
            value = value.value
        elif column in ("recipients", "extra"):
            value = _jsonb(value)
        values.append(value)
    return values


def _record(row: Sequence[Any]) -> Record:
    data = dict(zip(_RECORD_COLUMNS, row, strict=True))
    data["state"] = State(data["state"])
    return Record(**data)


def _publication(row: Sequence[Any]) -> Publication:
    pid, post_id, revision, content_hash, post, route, created_at = row
    return Publication(
        id=pid,
        post_id=post_id,
        revision=revision,
        content_hash=content_hash,
        post=post,
        route=route,
        created_at=created_at,
    )


def _attempt_values(log: Attempt) -> list[Any]:
    return [getattr(log, column) for column in _ATTEMPT_COLUMNS]


@attrs.define
class PostgresStore:
    """The durable outbox in a PostgreSQL database, shared by every worker that reaches it.

    ``url`` is a libpq URL (``postgresql://user:password@host:5432/dbname``);
    ``schema`` is the PostgreSQL schema that holds unipost's tables;
    ``pool_size`` bounds the connections this process opens; ``timeout`` is
    how long a call waits for a connection before the server is reported unreachable;
    ``poll_claim`` is how long other workers' polls skip a publication this one was given.
    """

    url: str
    schema: str = attrs.field(default="unipost")
    pool_size: int = 10
    timeout: float = 10.0
    poll_claim: float = 10.0
    _pool: psycopg_pool.ConnectionPool[psycopg.Connection[Any]] = attrs.field(
        init=False, repr=False
    )
    _sql: dict[str, str] = attrs.field(init=False, repr=False, factory=dict)
    _errors: tuple[type[BaseException], ...] = attrs.field(init=False, repr=False)
    _owner: str = attrs.field(init=False, repr=False, factory=lambda: secrets.token_hex(8))

    durable = True

    @schema.validator
    def _check_schema(self, _attribute: object, value: str) -> None:
        if not _IDENTIFIER.fullmatch(value):
            raise StoreError(
                f"the outbox schema {value!r} is not a plain PostgreSQL name: "
                "use lower-case letters, digits and _"
            )

    def __attrs_post_init__(self) -> None:
        psycopg, psycopg_pool = _import_psycopg()
        self._errors = (psycopg.Error, psycopg_pool.PoolTimeout)
        self._prepare_sql()
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

    def _prepare_sql(self) -> None:
        s = self.schema
        columns = ", ".join(_RECORD_COLUMNS)
        values = ", ".join("%s" for _ in _RECORD_COLUMNS)
        lease_condition = (
            f"{_OPEN} AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_until <= %(now)s) "
            "AND (next_attempt_at <= %(now)s OR ttl_at <= %(now)s)"
        )
        lease = (
            # SKIP LOCKED: a row another worker is claiming right now is not waited for.
            f"WITH claim AS (SELECT id FROM {s}.records WHERE id = %(id)s AND {{condition}} "  # noqa: S608
            "FOR UPDATE SKIP LOCKED) "
            f"UPDATE {s}.records AS r SET {{sets}} FROM claim WHERE r.id = claim.id "
            f"RETURNING {', '.join('r.' + c for c in _RECORD_COLUMNS)}"
        )
        self._sql = {
            "select": f"SELECT {columns} FROM {s}.records",  # noqa: S608 - constant columns
            "insert_record": f"INSERT INTO {s}.records ({columns}) VALUES ({values})",  # noqa: S608
            "insert_publication": f"INSERT INTO {s}.publications ({_PUBLICATION_COLUMNS}) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            "publication": f"SELECT {_PUBLICATION_COLUMNS} FROM {s}.publications",  # noqa: S608
            "update": f"UPDATE {s}.records SET "  # noqa: S608
            + ", ".join(f"{c} = %s" for c in _RECORD_COLUMNS[1:])
            + " WHERE id = %s",
            "insert_attempt": f"INSERT INTO {s}.attempts ({', '.join(_ATTEMPT_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join('%s' for _ in _ATTEMPT_COLUMNS)})",
            "attempts": f"SELECT {', '.join(_ATTEMPT_COLUMNS)} FROM {s}.attempts "  # noqa: S608
            "WHERE record_id = %s ORDER BY n",
            "lease": lease.format(
                condition=lease_condition,
                sets="lease_owner = %(owner)s, lease_until = %(until)s, updated_at = %(now)s",
            ),
            "begin_attempt": lease.format(
                condition=lease_condition + " AND state IN ('pending', 'retry_wait')",
                sets="lease_owner = %(owner)s, lease_until = %(until)s, updated_at = %(now)s, "
                "state = 'sending', attempts = r.attempts + 1",
            ),
            # The oldest due publications that no other store holds a poll claim on; the
            # returned ones are claimed (SKIP LOCKED: a row another poll is claiming is skipped).
            "due": f"WITH due AS (SELECT publication_id, MIN(LEAST(next_attempt_at, ttl_at)) AS at "  # noqa: S608
            f"FROM {s}.records WHERE {_OPEN} "
            "AND (lease_owner IS NULL OR lease_until <= %(now)s) "
            "AND ((state != 'blocked' AND next_attempt_at <= %(now)s) OR ttl_at <= %(now)s) "
            "GROUP BY publication_id ORDER BY at LIMIT %(scan)s), "
            f"picked AS (SELECT p.id, due.at FROM {s}.publications AS p "
            "JOIN due ON p.id = due.publication_id "
            "WHERE (p.claimed_until <= %(now)s OR p.claimed_by = %(me)s) "
            f"AND NOT EXISTS (SELECT 1 FROM {s}.publication_leases AS l "
            "WHERE l.publication_id = p.id AND l.lease_until > %(now)s) "
            "ORDER BY due.at LIMIT %(limit)s FOR UPDATE OF p SKIP LOCKED) "
            f"UPDATE {s}.publications AS p SET claimed_by = %(me)s, "
            "claimed_until = %(now)s + %(claim)s FROM picked WHERE p.id = picked.id "
            "RETURNING p.id, picked.at",
        }

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
            for script in _MIGRATIONS[version:]:
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
                    _jsonb(publication.post),
                    _jsonb(publication.route),
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
                existing = _publication(row)
            else:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        self._sql["insert_record"], [_record_values(r) for r in records]
                    )
        if existing is not None:
            _check_conflict(existing, publication)
            return existing, self.records(existing.id)
        return publication, self.records(publication.id)

    def publication(self, publication_id: str) -> Publication:
        rows = self._rows(self._sql["publication"] + " WHERE id = %s", (publication_id,))
        if not rows:
            raise StoreError(f"no publication {publication_id} in the outbox {self.location}")
        return _publication(rows[0])

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None:
        sql = self._sql["publication"] + " WHERE post_id = %s"
        params: list[Any] = [post_id]
        if revision is not None:
            sql += " AND revision = %s"
            params.append(revision)
        rows = self._rows(sql + " ORDER BY revision DESC LIMIT 1", params)
        return _publication(rows[0]) if rows else None

    def records(self, publication_id: str) -> list[Record]:
        rows = self._rows(
            self._sql["select"] + " WHERE publication_id = %s ORDER BY path", (publication_id,)
        )
        return [_record(r) for r in rows]

    def record(self, record_id: str) -> Record:
        rows = self._rows(self._sql["select"] + " WHERE id = %s", (record_id,))
        if not rows:
            raise StoreError(f"no record {record_id} in the outbox {self.location}")
        return _record(rows[0])

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        values = _record_values(record)
        params = [*values[1:], values[0]]
        with self._connection() as conn:
            if attempt is None:
                conn.execute(self._sql["update"], params)
                return
            with conn.transaction():
                conn.execute(self._sql["insert_attempt"], _attempt_values(attempt))
                conn.execute(self._sql["update"], params)

    def _lease(
        self, key: str, record_id: str, owner: str, until: float, now: float
    ) -> Record | None:
        rows = self._rows(
            self._sql[key], {"id": record_id, "owner": owner, "until": until, "now": now}
        )
        return _record(rows[0]) if rows else None

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        return self._lease("begin_attempt", record_id, owner, lease_until, now)

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        return self._lease("lease", record_id, owner, lease_until, now)

    def add_attempt(self, log: Attempt) -> None:
        with self._connection() as conn:
            conn.execute(self._sql["insert_attempt"], _attempt_values(log))

    def attempts(self, record_id: str) -> list[Attempt]:
        rows = self._rows(self._sql["attempts"], (record_id,))
        return [Attempt(**dict(zip(_ATTEMPT_COLUMNS, row, strict=True))) for row in rows]

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
        return [_record(r) for r in rows]

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

    def close(self) -> None:
        self._pool.close()


def _reason(exc: BaseException) -> str:
    """The server's message on one line, without the URL's password."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return _display(text)
