"""unipost on Celery workers (``pip install unipost-sdk[celery]``).

The outbox stays the single source of truth; Celery only carries record ids
and wakes workers. :func:`install` adds two tasks to a Celery app:

* ``unipost.enqueue_due`` (run every ``every`` seconds by beat): claims each due
  record with a short lease (owner ``celery:queued``) and sends one
  ``unipost.deliver`` task per claimed record, carrying only its id. A claimed
  record is not claimed again until its claim runs out, so the queue does not
  fill with copies while tasks wait.
  The same task runs the second looks that are due (:mod:`unipost.verification`):
  delivered records carry no task of their own.
* ``unipost.deliver(record_id)`` (``acks_late``, ``reject_on_worker_lost``):
  releases the claim and advances the record's publication through the
  dispatcher, which takes the record's own lease before any send. A task the
  broker delivers twice, or one that lost its claim to a later enqueue, finds
  the record leased or settled and does nothing: the lease, not the broker,
  makes delivery happen once.

Celery's own rate limits are per worker; unipost's come from its shared state.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from unipost.dispatcher import Dispatcher
from unipost.errors import StoreError
from unipost.outbox import Record, State, Store
from unipost.store_proxy import DelegatingStore

__all__ = ["CLAIM_OWNER", "FocusedStore", "install"]

CLAIM_OWNER = "celery:queued"
_log = logging.getLogger("unipost.celery")
_focus: contextvars.ContextVar[str | None] = contextvars.ContextVar("unipost_focus", default=None)


def _due(record: Record, now: float) -> bool:
    """Would a worker act on ``record`` at ``now``? (The stores' due rule, for one record.)"""
    if record.state.terminal:
        return False
    if record.lease_owner is not None and record.lease_until > now:
        return False
    if record.ttl_at <= now:
        return True
    return record.state is not State.BLOCKED and record.next_attempt_at <= now


@attrs.define
class FocusedStore(DelegatingStore):
    """A store whose due list can be narrowed to one publication, for one task.

    The dispatcher's worker step advances what the store calls due; inside
    :meth:`focus` that is only the task's publication, so a Celery task runs
    exactly the engine a plain worker runs, on one publication.
    """

    def focus(self, publication_id: str) -> contextvars.Token[str | None]:
        return _focus.set(publication_id)

    def due_publications(self, now: float, limit: int) -> list[str]:
        focused = _focus.get()
        if focused is None:
            return self.inner.due_publications(now, limit)
        if any(_due(r, now) for r in self.inner.records(focused)):
            return [focused]
        return []

    def verifications_due(self, now: float, limit: int) -> list[str]:
        """A task for one publication leaves the second looks to the enqueuer's task."""
        return [] if _focus.get() is not None else self.inner.verifications_due(now, limit)


DispatcherFactory = Callable[[Store], Dispatcher]


@attrs.define
class _Runtime:
    """One dispatcher and one event loop per worker process, made after the fork."""

    make_store: Callable[[], Store]
    make_dispatcher: DispatcherFactory
    _dispatcher: Dispatcher | None = None
    _store: FocusedStore | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def get(self) -> tuple[Dispatcher, FocusedStore, asyncio.AbstractEventLoop]:
        with self._lock:
            if self._dispatcher is None or self._store is None or self._loop is None:
                self._store = FocusedStore(self.make_store())
                self._dispatcher = self.make_dispatcher(self._store)
                self._loop = asyncio.new_event_loop()
            return self._dispatcher, self._store, self._loop


def _from_config(config: str | Path | None) -> tuple[Callable[[], Store], DispatcherFactory]:
    from unipost.api import build_dispatcher
    from unipost.config import load_config

    loaded = load_config(config)
    return loaded.store, lambda store: build_dispatcher(loaded, store=store)


def install(
    app: Any,
    *,
    config: str | Path | None = None,
    store: Callable[[], Store] | None = None,
    dispatcher: DispatcherFactory | None = None,
    every: float = 1.0,
    claim: float = 60.0,
    batch: int = 500,
    queue: str | None = None,
) -> None:
    """Add ``unipost.deliver`` and ``unipost.enqueue_due`` to the Celery ``app``.

    By default each worker process builds its dispatcher from ``unipost.toml``
    (``config``); or pass ``store`` (makes the outbox) and ``dispatcher`` (builds
    a dispatcher on the store it is given). ``claim`` is how long a queued
    record waits for its task before it is queued again; ``every`` is the beat
    interval of the enqueuer, which sends at most ``batch`` publications' records per run.
    """
    if (store is None) != (dispatcher is None):
        raise ValueError("pass both store and dispatcher, or neither (unipost.toml is used)")
    if store is None or dispatcher is None:
        store, dispatcher = _from_config(config)
    runtime = _Runtime(store, dispatcher)
    options: dict[str, Any] = {"queue": queue} if queue else {}

    @app.task(  # type: ignore[untyped-decorator]
        name="unipost.deliver",
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        **options,
    )
    def deliver(record_id: str) -> str:
        return _deliver(runtime, record_id)

    @app.task(name="unipost.enqueue_due", ignore_result=True, **options)  # type: ignore[untyped-decorator]
    def enqueue_due() -> int:
        return _enqueue(runtime, deliver, claim=claim, batch=batch)

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "unipost-enqueue-due": {
            "task": "unipost.enqueue_due",
            "schedule": dt.timedelta(seconds=every),
            "options": {"expires": max(every * 2, 1.0), **options},
        },
    }


def _deliver(runtime: _Runtime, record_id: str) -> str:
    dispatcher, store, loop = runtime.get()
    now = dispatcher.clock.now()
    try:
        record = store.record(record_id)
    except StoreError:
        _log.error("unipost.deliver: no record %s in %s", record_id, store.location)
        return "unknown"
    if record.state.terminal:
        return "settled"  # a copy of a task whose work is done
    if record.lease_owner == CLAIM_OWNER:
        # Release the enqueuer's claim (lease_until = now) so the dispatcher can take the real
        # lease; None means a live worker owns the record now, or it is not due any more.
        if store.lease(record_id, CLAIM_OWNER, now, now) is None:
            return "busy"
    elif not _due(record, now):
        return "busy"  # leased by a live worker, or not due: that owner (or a later task) goes on
    token = store.focus(record.publication_id)
    try:
        moved = loop.run_until_complete(dispatcher.arun_due(limit=1))
    finally:
        _focus.reset(token)
    return "moved" if moved else "unchanged"


def _enqueue(runtime: _Runtime, deliver: Any, *, claim: float, batch: int) -> int:
    dispatcher, store, loop = runtime.get()
    now = dispatcher.clock.now()
    sent = 0
    for publication_id in store.due_publications(now, batch):
        for record in store.records(publication_id):
            if not _due(record, now):
                continue
            if store.lease(record.id, CLAIM_OWNER, now + claim, now) is None:
                continue  # another enqueuer or a worker took it first
            deliver.apply_async((record.id,))
            sent += 1
    loop.run_until_complete(dispatcher.averify_due())
    return sent
