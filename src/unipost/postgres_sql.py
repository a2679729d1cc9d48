"""The PostgreSQL outbox's schema, its migrations, and the statements the store runs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs

from unipost.outbox import Attempt, Publication, Record, State

__all__ = ["SCHEMA_VERSION", "statements"]

MIGRATIONS: tuple[str, ...] = (
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
    # 4: media given as bytes, kept in the database so a worker on any machine can send them
    """
    CREATE TABLE {s}.media (
        name TEXT PRIMARY KEY, data BYTEA NOT NULL, created_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 5: a delivery that followed a resend is looked at once more for an extra copy
    """
    ALTER TABLE {s}.records ADD COLUMN verify_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    CREATE INDEX records_verify ON {s}.records (verify_at) WHERE verify_at > 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

RECORD_COLUMNS = tuple(f.name for f in attrs.fields(Record))
ATTEMPT_COLUMNS = tuple(f.name for f in attrs.fields(Attempt))
PUBLICATION_COLUMNS = "id, post_id, revision, content_hash, post, route, created_at"
TERMINAL = tuple(s.value for s in State if s.terminal)
# Literal, not parameters: the planner uses the partial index records_open only for this exact text.
OPEN = "state NOT IN ({})".format(", ".join(f"'{value}'" for value in TERMINAL))
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def statements(s: str) -> dict[str, str]:
    """Every statement the store runs, for the schema named ``s`` (validated by the store)."""
    columns = ", ".join(RECORD_COLUMNS)
    values = ", ".join("%s" for _ in RECORD_COLUMNS)
    lease_condition = (
        f"{OPEN} AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_until <= %(now)s) "
        "AND (next_attempt_at <= %(now)s OR ttl_at <= %(now)s)"
    )
    lease = (
        # SKIP LOCKED: a row another worker is claiming right now is not waited for.
        f"WITH claim AS (SELECT id FROM {s}.records WHERE id = %(id)s AND {{condition}} "  # noqa: S608
        "FOR UPDATE SKIP LOCKED) "
        f"UPDATE {s}.records AS r SET {{sets}} FROM claim WHERE r.id = claim.id "
        f"RETURNING {', '.join('r.' + c for c in RECORD_COLUMNS)}"
    )
    return {
        "select": f"SELECT {columns} FROM {s}.records",  # noqa: S608 - constant columns
        "insert_record": f"INSERT INTO {s}.records ({columns}) VALUES ({values})",  # noqa: S608
        "insert_publication": f"INSERT INTO {s}.publications ({PUBLICATION_COLUMNS}) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        "publication": f"SELECT {PUBLICATION_COLUMNS} FROM {s}.publications",  # noqa: S608
        "update": f"UPDATE {s}.records SET "  # noqa: S608
        + ", ".join(f"{c} = %s" for c in RECORD_COLUMNS[1:])
        + " WHERE id = %s",
        "insert_attempt": f"INSERT INTO {s}.attempts ({', '.join(ATTEMPT_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join('%s' for _ in ATTEMPT_COLUMNS)})",
        "attempts": f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM {s}.attempts "  # noqa: S608
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
        f"FROM {s}.records WHERE {OPEN} "
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


def jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def record_values(record: Record) -> list[Any]:
    values: list[Any] = []
    for column in RECORD_COLUMNS:
        value = getattr(record, column)
        if column == "state":
            value = value.value
        elif column in ("recipients", "extra"):
            value = jsonb(value)
        values.append(value)
    return values


def record_from(row: Sequence[Any]) -> Record:
    data = dict(zip(RECORD_COLUMNS, row, strict=True))
    data["state"] = State(data["state"])
    return Record(**data)


def publication_from(row: Sequence[Any]) -> Publication:
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


def attempt_values(log: Attempt) -> list[Any]:
    return [getattr(log, column) for column in ATTEMPT_COLUMNS]
