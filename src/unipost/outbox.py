"""The outbox: one durable record per (post, channel, revision), and the store interface.

A record is committed as ``sending`` (attempt count incremented, lease taken)
*before* any network call, and its outcome after. A crashed worker's records
therefore show up as ``sending`` with an expired lease, and are recovered by
what the channel can prove, never blindly resent.

:class:`MemoryStore` is for tests and must be asked for by name; reports from
it say ``durable=False``. The SQLite store (``unipost.sqlite_store``) is the default.
"""

from __future__ import annotations

import secrets
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import attrs

from unipost import lifecycle
from unipost.errors import IdempotencyConflict, StoreError
from unipost.records import Attempt, Publication, Record, State
from unipost.shared_state import LocalState, SharedState
from unipost.spool import default_folder, write_once

__all__ = ["OUTAGE_CLASSES", "Attempt", "MemoryStore", "Publication", "Record", "State", "Store"]


class Store(Protocol):
    """What the dispatcher needs from a persistence backend."""

    @property
    def durable(self) -> bool: ...

    @property
    def location(self) -> str: ...

    def secret(self) -> bytes:
        """A random per-installation key for delivery keys (created on first use)."""
        ...

    def spool_media(self, name: str, data: bytes) -> Path:
        """Keep media given as bytes where every worker of this outbox can read it.

        Returns the file to name in the stored post (see :mod:`unipost.spool`).
        """
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

    def lease_publication(self, publication_id: str, owner: str, until: float, now: float) -> bool:
        """Become the one driver of a publication until ``until`` (compare-and-set).

        True when it was free, expired, or already ``owner``'s. A live lease of
        another owner means another process is driving it: leave it alone.
        """
        ...

    def release_publication(self, publication_id: str, owner: str) -> None: ...

    def wake(self, channels: Sequence[str], now: float, spread: float) -> int:
        """Records of ``channels`` waiting on a failure make due within ``spread`` seconds.

        Called when a failure domain's breaker closes: what waited on the
        outage need not sit out its whole back-off. Returns how many woke.
        """
        ...

    @property
    def shared_state(self) -> SharedState:
        """Breakers, budgets and not-before times shared by every user of this store."""
        ...

    def attempts(self, record_id: str) -> list[Attempt]: ...

    def due_publications(self, now: float, limit: int) -> list[str]:
        """Publications with an unleased record due at ``now`` (or past its TTL), oldest first.

        ``blocked`` records are due only once their TTL has passed, so they expire.
        """
        ...

    def verifications_due(self, now: float, limit: int) -> list[str]:
        """Delivered records whose second look (``verify_at``) is due, the oldest first."""
        ...

    def claim_verification(self, record_id: str, seen: float, until: float) -> bool:
        """Move a record's ``verify_at`` from ``seen`` to ``until`` (compare-and-set).

        One verifier at a time takes a due record; one that dies leaves it due again at ``until``.
        """
        ...

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        platform_id: str | None = None,
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


#: What a record waiting on an outage last failed with (``wake`` makes it due again).
OUTAGE_CLASSES = ("unavailable", "transient", "not_sent")


def _wakes(record: Record, channels: Sequence[str], now: float) -> bool:
    return (
        record.channel in channels
        and record.state is State.RETRY_WAIT
        and record.last_class in OUTAGE_CLASSES
        and record.next_attempt_at > now
    )


def _spread(record_id: str, spread: float) -> float:
    """A stable jitter in [0, spread) per record, so woken records do not all return at once."""
    return (zlib.crc32(record_id.encode()) % 1000) / 1000 * spread if spread > 0 else 0.0


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
    _leases: dict[str, tuple[str, float]] = attrs.field(factory=dict)
    _shared: LocalState = attrs.field(factory=LocalState)
    _lock: threading.RLock = attrs.field(factory=threading.RLock)

    durable = False
    location = ":memory:"

    @property
    def shared_state(self) -> LocalState:
        return self._shared

    def lease_publication(self, publication_id: str, owner: str, until: float, now: float) -> bool:
        with self._lock:
            holder = self._leases.get(publication_id)
            if holder is not None and holder[0] != owner and holder[1] > now:
                return False
            self._leases[publication_id] = (owner, until)
            return True

    def release_publication(self, publication_id: str, owner: str) -> None:
        with self._lock:
            holder = self._leases.get(publication_id)
            if holder is not None and holder[0] == owner:
                del self._leases[publication_id]

    def wake(self, channels: Sequence[str], now: float, spread: float) -> int:
        woken = 0
        with self._lock:
            for record in self._records.values():
                if _wakes(record, channels, now):
                    record.next_attempt_at = now + _spread(record.id, spread)
                    woken += 1
        return woken

    def secret(self) -> bytes:
        return self._secret

    def spool_media(self, name: str, data: bytes) -> Path:
        return write_once(default_folder(), name, data)

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
            lifecycle.apply(record, lifecycle.begun(owner, lease_until, record.attempts + 1), now)
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
            driven = {pid for pid, (_o, until) in self._leases.items() if until > now}
            for record in self._records.values():
                at = _due_at(record)
                free = record.lease_owner is None or record.lease_until <= now
                if at is None or at > now or not free or record.publication_id in driven:
                    continue
                pid = record.publication_id
                earliest[pid] = min(at, earliest.get(pid, at))
            return sorted(earliest, key=earliest.__getitem__)[:limit]

    def verifications_due(self, now: float, limit: int) -> list[str]:
        with self._lock:
            due = [r for r in self._records.values() if 0 < r.verify_at <= now]
            return [r.id for r in sorted(due, key=lambda r: r.verify_at)[:limit]]

    def claim_verification(self, record_id: str, seen: float, until: float) -> bool:
        with self._lock:
            record = self._records[record_id]
            if record.verify_at != seen:
                return False
            record.verify_at = until
            return True

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        platform_id: str | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        with self._lock:
            found = [
                _copy(r)
                for r in self._records.values()
                if (not states or r.state in states)
                and (channel is None or r.channel == channel)
                and (post_id is None or r.post_id == post_id)
                and (platform_id is None or r.platform_id == platform_id)
            ]
            return found[:limit]

    def close(self) -> None:
        """Nothing to release."""
