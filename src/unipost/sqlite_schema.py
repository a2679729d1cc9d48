"""The SQLite outbox's schema, its migrations, and how records map onto rows."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from unipost.outbox import Attempt, Publication, Record, State

__all__ = [
    "INSERT_ATTEMPT",
    "MIGRATIONS",
    "OPEN",
    "RECORD_COLUMNS",
    "SCHEMA_VERSION",
    "SELECT",
    "attempt_values",
    "publication_from_row",
    "record_from_row",
    "row_values",
]

MIGRATIONS: tuple[str, ...] = (
    # 1: the first release
    """
    CREATE TABLE publications (
        id TEXT PRIMARY KEY, post_id TEXT NOT NULL, revision INTEGER NOT NULL,
        content_hash TEXT NOT NULL, post TEXT NOT NULL, route TEXT NOT NULL, created_at REAL NOT NULL,
        UNIQUE (post_id, revision)
    );
    CREATE TABLE records (
        id TEXT PRIMARY KEY, publication_id TEXT NOT NULL REFERENCES publications(id),
        post_id TEXT NOT NULL, revision INTEGER NOT NULL, channel TEXT NOT NULL, path TEXT NOT NULL,
        delivery_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at REAL NOT NULL, ttl_at REAL NOT NULL, lease_owner TEXT, lease_until REAL NOT NULL,
        last_class TEXT, last_error TEXT, platform_id TEXT, url TEXT,
        possible_duplicate INTEGER NOT NULL, moved_on INTEGER NOT NULL, started_at REAL NOT NULL,
        lookups_absent INTEGER NOT NULL, recipients TEXT NOT NULL, extra TEXT NOT NULL,
        created_at REAL NOT NULL, updated_at REAL NOT NULL,
        UNIQUE (post_id, channel, revision)
    );
    CREATE INDEX records_due ON records (state, next_attempt_at);
    CREATE INDEX records_publication ON records (publication_id);
    CREATE TABLE attempts (
        record_id TEXT NOT NULL, n INTEGER NOT NULL, started_at REAL NOT NULL, duration REAL NOT NULL,
        error_class TEXT, http_status INTEGER, platform_code TEXT, retry_after REAL,
        request_id TEXT, message TEXT
    );
    CREATE INDEX attempts_record ON attempts (record_id);
    """,
    # 2: a worker's poll reads only unsettled records, however long the history grows
    """
    CREATE INDEX records_open ON records (next_attempt_at)
        WHERE state NOT IN ('delivered', 'failed', 'ambiguous', 'expired', 'skipped', 'cancelled');
    CREATE INDEX records_post ON records (post_id);
    """,
    # 3: one driver per publication across processes, and state every process shares
    """
    CREATE TABLE publication_leases (
        publication_id TEXT PRIMARY KEY, owner TEXT NOT NULL, lease_until REAL NOT NULL
    );
    CREATE TABLE shared_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 4: a delivery that followed a resend is looked at once more for an extra copy
    """
    ALTER TABLE records ADD COLUMN verify_at REAL NOT NULL DEFAULT 0;
    CREATE INDEX records_verify ON records (verify_at) WHERE verify_at > 0;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

RECORD_COLUMNS = (
    "id",
    "publication_id",
    "post_id",
    "revision",
    "channel",
    "path",
    "delivery_key",
    "state",
    "attempts",
    "next_attempt_at",
    "ttl_at",
    "lease_owner",
    "lease_until",
    "last_class",
    "last_error",
    "platform_id",
    "url",
    "possible_duplicate",
    "moved_on",
    "started_at",
    "lookups_absent",
    "recipients",
    "extra",
    "created_at",
    "updated_at",
    "verify_at",
)
TERMINAL = tuple(s.value for s in State if s.terminal)
# Literal, not parameters: the planner uses the partial index records_open only for this exact text.
OPEN = "state NOT IN ({})".format(", ".join(f"'{value}'" for value in TERMINAL))
SELECT = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records"  # noqa: S608 - constant column list


INSERT_ATTEMPT = "INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def attempt_values(log: Attempt) -> tuple[Any, ...]:
    return (
        log.record_id,
        log.n,
        log.started_at,
        log.duration,
        log.error_class,
        log.http_status,
        log.platform_code,
        log.retry_after,
        log.request_id,
        log.message,
    )


def row_values(record: Record) -> tuple[Any, ...]:
    values = []
    for column in RECORD_COLUMNS:
        value = getattr(record, column)
        if column == "state":
            value = value.value
        elif column in ("recipients", "extra"):
            value = json.dumps(value)
        elif column in ("possible_duplicate", "moved_on"):
            value = int(value)
        values.append(value)
    return tuple(values)


def record_from_row(row: sqlite3.Row) -> Record:
    data = dict(zip(RECORD_COLUMNS, row, strict=True))
    data["state"] = State(data["state"])
    data["recipients"] = json.loads(data["recipients"])
    data["extra"] = json.loads(data["extra"])
    data["possible_duplicate"] = bool(data["possible_duplicate"])
    data["moved_on"] = bool(data["moved_on"])
    return Record(**data)


def publication_from_row(row: sqlite3.Row) -> Publication:
    pid, post_id, revision, content_hash, post, route, created_at = row
    return Publication(
        id=pid,
        post_id=post_id,
        revision=revision,
        content_hash=content_hash,
        post=json.loads(post),
        route=json.loads(route),
        created_at=created_at,
    )
