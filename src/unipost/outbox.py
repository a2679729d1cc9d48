"""The outbox: one durable record per (post, channel, revision), and the store interface.

A record is committed as ``sending`` (attempt count incremented, lease taken)
*before* any network call, and its outcome after. A crashed worker's records
therefore show up as ``sending`` with an expired lease, and are recovered by
what the channel can prove, never blindly resent.

:class:`MemoryStore` is for tests and must be asked for by name; reports from
it say ``durable=False``. The SQLite store (``unipost.sqlite_store``) is the default.
"""

from __future__ import annotations

import enum
import secrets
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from unipost.errors import IdempotencyConflict, StoreError

__all__ = ["Attempt", "MemoryStore", "Publication", "Record", "State", "Store"]


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


class Store(Protocol):
    """What the dispatcher needs from a persistence backend."""

    @property
    def durable(self) -> bool: ...

    @property
    def location(self) -> str: ...

    def secret(self) -> bytes:
        """A random per-installation key for delivery keys (created on first use)."""
        ...

    def open_publication(
        self, publication: Publication, records: Sequence[Record]
    ) -> tuple[Publication, list[Record]]:
        """Insert, or return the existing publication with the same post id and revision.

        Raises :class:`IdempotencyConflict` when the existing one has other content.
        """
        ...

    def publication(self, publication_id: str) -> Publication: ...

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None: ...

    def records(self, publication_id: str) -> list[Record]: ...

    def record(self, record_id: str) -> Record: ...

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        """Commit ``record``'s fields, and the ``attempt`` that led to them in the same write."""
        ...

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        """Atomically lease a due ``pending``/``retry_wait`` record, mark it ``sending``, count it.

        Returns None when the record is not startable any more: another live
        owner holds it, or it moved on (delivered, reconciling, cancelled,
        rescheduled) since the caller read it. The check is one compare-and-set,
        so of two workers holding the same stale copy only one sends.
        """
        ...

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        """Lease a due non-terminal record without starting an attempt (lookups, recovery, expiry)."""
        ...

    def add_attempt(self, log: Attempt) -> None: ...

    def attempts(self, record_id: str) -> list[Attempt]: ...

    def due_publications(self, now: float, limit: int) -> list[str]:
        """Publications with an unleased record due at ``now`` (or past its TTL), oldest first.

        ``blocked`` records are due only once their TTL has passed, so they expire.
        """
        ...

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        limit: int = 1000,
    ) -> list[Record]: ...

    def close(self) -> None: ...


def _check_conflict(existing: Publication, new: Publication) -> None:
    if existing.content_hash != new.content_hash:
        raise IdempotencyConflict(
            "post",
            f"post {new.post_id!r} revision {new.revision} was published with other content",
            "publish the edit with revision=" + str(new.revision + 1),
        )


def _copy(record: Record) -> Record:
    """A private copy (the store must not share mutable state with callers); cheaper than deepcopy."""
    return attrs.evolve(
        record, recipients=[dict(r) for r in record.recipients], extra=dict(record.extra)
    )


def _leasable(record: Record, owner: str, now: float) -> bool:
    free = record.lease_owner in (None, owner) or record.lease_until <= now
    due = record.next_attempt_at <= now or record.ttl_at <= now
    return free and due and not record.state.terminal


def _startable(record: Record, owner: str, now: float) -> bool:
    return record.state in (State.PENDING, State.RETRY_WAIT) and _leasable(record, owner, now)


def _due_at(record: Record) -> float | None:
    """When a worker should look at ``record`` again (None: never, it is settled)."""
    if record.state.terminal:
        return None
    if record.state is State.BLOCKED:
        return record.ttl_at
    return min(record.next_attempt_at, record.ttl_at)


@attrs.define
class MemoryStore:
    """An in-process store for tests and throwaway scripts; not durable."""

    _secret: bytes = attrs.field(factory=lambda: secrets.token_bytes(32), repr=False)
    _publications: dict[str, Publication] = attrs.field(factory=dict)
    _by_identity: dict[tuple[str, int], str] = attrs.field(factory=dict)
    _records: dict[str, Record] = attrs.field(factory=dict)
    _by_publication: dict[str, list[str]] = attrs.field(factory=dict)
    _attempts: dict[str, list[Attempt]] = attrs.field(factory=dict)
    _lock: threading.RLock = attrs.field(factory=threading.RLock)

    durable = False
    location = ":memory:"

    def secret(self) -> bytes:
        return self._secret

    def open_publication(
        self, publication: Publication, records: Sequence[Record]
    ) -> tuple[Publication, list[Record]]:
        with self._lock:
            existing_id = self._by_identity.get((publication.post_id, publication.revision))
            if existing_id is not None:
                existing = self._publications[existing_id]
                _check_conflict(existing, publication)
                return existing, self.records(existing_id)
            self._publications[publication.id] = publication
            self._by_identity[(publication.post_id, publication.revision)] = publication.id
            self._by_publication[publication.id] = [r.id for r in records]
            for record in records:
                self._records[record.id] = _copy(record)
            return publication, self.records(publication.id)

    def publication(self, publication_id: str) -> Publication:
        try:
            return self._publications[publication_id]
        except KeyError:
            raise StoreError(f"no publication {publication_id} in the in-memory outbox") from None

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None:
        with self._lock:
            matches = [
                p
                for (pid, rev), p in (
                    (k, self._publications[v]) for k, v in self._by_identity.items()
                )
                if pid == post_id and (revision is None or rev == revision)
            ]
            return max(matches, key=lambda p: p.revision, default=None)

    def records(self, publication_id: str) -> list[Record]:
        with self._lock:
            return [_copy(self._records[i]) for i in self._by_publication.get(publication_id, [])]

    def record(self, record_id: str) -> Record:
        with self._lock:
            if record_id not in self._records:
                raise StoreError(f"no record {record_id} in the in-memory outbox")
            return _copy(self._records[record_id])

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        with self._lock:
            self._records[record.id] = _copy(record)
            if attempt is not None:
                self._attempts.setdefault(attempt.record_id, []).append(attempt)

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        with self._lock:
            record = self._records[record_id]
            if not _startable(record, owner, now):
                return None
            record.state = State.SENDING
            record.attempts += 1
            record.lease_owner, record.lease_until = owner, lease_until
            record.updated_at = now
            return _copy(record)

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        with self._lock:
            record = self._records[record_id]
            if not _leasable(record, owner, now):
                return None
            record.lease_owner, record.lease_until = owner, lease_until
            record.updated_at = now
            return _copy(record)

    def add_attempt(self, log: Attempt) -> None:
        with self._lock:
            self._attempts.setdefault(log.record_id, []).append(log)

    def attempts(self, record_id: str) -> list[Attempt]:
        with self._lock:
            return list(self._attempts.get(record_id, []))

    def due_publications(self, now: float, limit: int) -> list[str]:
        with self._lock:
            earliest: dict[str, float] = {}
            for record in self._records.values():
                at = _due_at(record)
                free = record.lease_owner is None or record.lease_until <= now
                if at is None or at > now or not free:
                    continue
                pid = record.publication_id
                earliest[pid] = min(at, earliest.get(pid, at))
            return sorted(earliest, key=earliest.__getitem__)[:limit]

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        with self._lock:
            found = [
                _copy(r)
                for r in self._records.values()
                if (not states or r.state in states)
                and (channel is None or r.channel == channel)
                and (post_id is None or r.post_id == post_id)
            ]
            return found[:limit]

    def close(self) -> None:
        """Nothing to release."""
