"""What the outbox keeps: publications, their records (one delivery each) and attempts.

A record's fields are changed only through :mod:`unipost.lifecycle`; the
stores persist them.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["Attempt", "Publication", "Record", "State"]


class State(enum.Enum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY_WAIT = "retry_wait"
    RECONCILING = "reconciling"
    BLOCKED = "blocked"
    DELIVERED = "delivered"
    FAILED = "failed"
    AMBIGUOUS = "ambiguous"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {State.DELIVERED, State.FAILED, State.AMBIGUOUS, State.EXPIRED, State.SKIPPED, State.CANCELLED}
)


@attrs.frozen(kw_only=True)
class Publication:
    """A post and its route, as handed to ``publish``: the unit of idempotency."""

    id: str
    post_id: str
    revision: int
    content_hash: str
    post: dict[str, Any]
    route: dict[str, Any]
    created_at: float


@attrs.define(kw_only=True)
class Record:
    """One delivery: a post to one channel. Mutated by the dispatcher, saved by the store."""

    id: str
    publication_id: str
    post_id: str
    revision: int
    channel: str
    path: str
    delivery_key: str
    ttl_at: float
    state: State = State.PENDING
    attempts: int = 0
    next_attempt_at: float = 0.0
    lease_owner: str | None = None
    lease_until: float = 0.0
    last_class: str | None = None
    last_error: str | None = None
    platform_id: str | None = None
    url: str | None = None
    possible_duplicate: bool = False
    moved_on: bool = False  # a first_of has moved past this alternative
    started_at: float = 0.0  # first attempt: patience and key windows count from here
    lookups_absent: int = 0
    recipients: list[dict[str, Any]] = attrs.field(factory=list)
    extra: dict[str, Any] = attrs.field(factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    #: Delivered after a resend: when the worker looks once more for an extra copy (0: never).
    verify_at: float = 0.0


@attrs.frozen(kw_only=True)
class Attempt:
    """One attempt, kept in the outbox and shown in reports and by ``unipost outbox show``."""

    record_id: str
    n: int
    started_at: float
    duration: float
    error_class: str | None = None
    http_status: int | None = None
    platform_code: str | None = None
    retry_after: float | None = None
    request_id: str | None = None
    message: str | None = None
