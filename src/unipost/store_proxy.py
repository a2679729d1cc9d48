"""A store that hands every call to another, for wrappers that change one thing about it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from unipost.outbox import Attempt, Publication, Record, State, Store
from unipost.shared_state import SharedState

__all__ = ["DelegatingStore"]


@attrs.define
class DelegatingStore:
    """Every :class:`~unipost.outbox.Store` call goes to ``inner``; ``shared`` replaces its state.

    ``DelegatingStore(store, shared=RedisState(url))`` keeps the records in
    ``store`` and the breakers, budgets and not-before times in Redis.
    """

    inner: Store
    shared: SharedState | None = None

    @property
    def durable(self) -> bool:
        return self.inner.durable

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def shared_state(self) -> SharedState:
        return self.shared if self.shared is not None else self.inner.shared_state

    def secret(self) -> bytes:
        return self.inner.secret()

    def spool_media(self, name: str, data: bytes) -> Path:
        return self.inner.spool_media(name, data)

    def open_publication(
        self, publication: Publication, records: Sequence[Record]
    ) -> tuple[Publication, list[Record]]:
        return self.inner.open_publication(publication, records)

    def publication(self, publication_id: str) -> Publication:
        return self.inner.publication(publication_id)

    def find_publication(self, post_id: str, revision: int | None = None) -> Publication | None:
        return self.inner.find_publication(post_id, revision)

    def records(self, publication_id: str) -> list[Record]:
        return self.inner.records(publication_id)

    def record(self, record_id: str) -> Record:
        return self.inner.record(record_id)

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        self.inner.save(record, attempt=attempt)

    def begin_attempt(
        self, record_id: str, owner: str, lease_until: float, now: float
    ) -> Record | None:
        return self.inner.begin_attempt(record_id, owner, lease_until, now)

    def lease(self, record_id: str, owner: str, lease_until: float, now: float) -> Record | None:
        return self.inner.lease(record_id, owner, lease_until, now)

    def add_attempt(self, log: Attempt) -> None:
        self.inner.add_attempt(log)

    def lease_publication(self, publication_id: str, owner: str, until: float, now: float) -> bool:
        return self.inner.lease_publication(publication_id, owner, until, now)

    def release_publication(self, publication_id: str, owner: str) -> None:
        self.inner.release_publication(publication_id, owner)

    def wake(self, channels: Sequence[str], now: float, spread: float) -> int:
        return self.inner.wake(channels, now, spread)

    def attempts(self, record_id: str) -> list[Attempt]:
        return self.inner.attempts(record_id)

    def due_publications(self, now: float, limit: int) -> list[str]:
        return self.inner.due_publications(now, limit)

    def verifications_due(self, now: float, limit: int) -> list[str]:
        return self.inner.verifications_due(now, limit)

    def claim_verification(self, record_id: str, seen: float, until: float) -> bool:
        return self.inner.claim_verification(record_id, seen, until)

    def query(
        self,
        *,
        states: Sequence[State] = (),
        channel: str | None = None,
        post_id: str | None = None,
        platform_id: str | None = None,
        limit: int = 1000,
    ) -> list[Record]:
        return self.inner.query(
            states=states, channel=channel, post_id=post_id, platform_id=platform_id, limit=limit
        )

    def close(self) -> None:
        self.inner.close()
        if self.shared is not None:
            close = getattr(self.shared, "close", None)
            if close is not None:
                close()
