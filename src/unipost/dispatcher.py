"""The dispatcher: one call publishes a post along a route, and never loses it.

A small facade that wires the engine's parts (read ``docs/architecture.md``):
:mod:`~unipost.planning` renders every target once, :mod:`~unipost.route_walk`
drives the route, :mod:`~unipost.delivery` runs one record's attempts,
:mod:`~unipost.lifecycle` decides every state, :mod:`~unipost.worker` is the
background lane and :mod:`~unipost.operations` what a person does afterwards.
"""

from __future__ import annotations

import asyncio
import random
import uuid
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import attrs

from unipost._http import HttpPool
from unipost.breaker import Breakers
from unipost.channel import Channel
from unipost.clock import Clock, default_clock
from unipost.credential_watch import CredentialWatch
from unipost.credentials import CredentialStatus
from unipost.delivery import Lane
from unipost.engine import Bulkhead, Engine, Settings
from unipost.events import Event
from unipost.models import Post
from unipost.operations import Operations
from unipost.outbox import Store
from unipost.planning import (
    Plan,
    SharedFailureDomainWarning,
    delivery_key,
    make_plan,
    open_publication,
)
from unipost.portal import SyncBridge, WorkerHandle
from unipost.records import Record
from unipost.report import Report
from unipost.retry import BACKGROUND, INLINE, RetryPolicy
from unipost.route_walk import RouteWalker
from unipost.status_feeds import StatusSource
from unipost.status_poll import StatusPoller, StatusSettings
from unipost.verification import Verifier
from unipost.worker import BackgroundLane

__all__ = ["Dispatcher", "Plan", "SharedFailureDomainWarning"]

T = TypeVar("T")


@attrs.define(kw_only=True)
class Dispatcher:
    """Routes, retries, breakers, rate limits and the outbox, for a set of channels."""

    channels: Mapping[str, Channel]
    store: Store
    clock: Clock = attrs.field(factory=default_clock)
    inline: RetryPolicy = INLINE
    background: RetryPolicy = BACKGROUND
    deadline: float = 30.0
    attempt_timeout: float = 25.0
    lease_margin: float = 5.0
    min_attempt_window: float = 1.0
    publication_lease: float = 10.0
    credential_warn_days: float = 7.0
    #: The worker checks every channel's credentials this often (``unipost.toml`` sets 24 h).
    credential_check_every: float | None = None
    verify_after: float = 600.0
    max_in_flight: int = 1000
    per_domain: int | None = None
    per_channel: int | None = 4
    retry_ambiguous: frozenset[str] = frozenset()
    observers: list[Callable[[Event], object]] = attrs.field(factory=list)
    seed: int | None = None
    rng: random.Random | None = None  # jitter source; tests inject one (default: seeded by seed)
    http: HttpPool = attrs.field(factory=HttpPool)
    owner: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    #: Platform status feeds the worker polls (``PluginHost.status_sources``); none by default.
    status_sources: Sequence[StatusSource] = ()
    status: StatusSettings = attrs.field(factory=StatusSettings)
    engine: Engine = attrs.field(init=False)
    status_poller: StatusPoller = attrs.field(init=False)
    _walker: RouteWalker = attrs.field(init=False)
    _lane: BackgroundLane = attrs.field(init=False)
    _verifier: Verifier = attrs.field(init=False)
    _ops: Operations = attrs.field(init=False)
    _sync: SyncBridge = attrs.field(init=False, factory=SyncBridge)

    def __attrs_post_init__(self) -> None:
        names = {f.name for f in attrs.fields(Settings)}
        self.engine = Engine.build(
            channels=self.channels,
            store=self.store,
            clock=self.clock,
            http=self.http,
            settings=Settings(**{n: getattr(self, n) for n in names}),
            bulkhead=Bulkhead(self.max_in_flight, self.per_domain, self.per_channel),
            observers=self.observers,
        )
        rng = self.rng if self.rng is not None else random.Random(self.seed)
        self._walker = RouteWalker(self.engine, self.channels, rng)
        self.status_poller = StatusPoller(self.engine, self.status_sources, self.status)
        self._verifier = Verifier(self.engine, self.channels)
        self._ops = Operations(self.engine, self.channels)
        watch = None
        if self.credential_check_every:
            every = self.credential_check_every
            watch = CredentialWatch(self.engine, self._ops.check, list(self.channels), every)
        self._lane = BackgroundLane(
            self.engine, self._walker, self._verifier, self.status_poller, watch
        )

    @property
    def breakers(self) -> Breakers:
        return self.engine.breakers

    def delivery_key(self, post_id: str, channel_id: str, revision: int) -> str:
        return delivery_key(self.store.secret(), post_id, channel_id, revision)

    def plan(self, post: Post, to: Any) -> Plan:
        """Render ``post`` for every target of ``to``; pure, no I/O (``unipost preview``)."""
        return make_plan(self.channels, post, to)

    # -- publishing ------------------------------------------------------------------

    async def apublish(
        self, post: Post, to: Any = "site", *, deadline: float | None = None
    ) -> Report:
        """Publish ``post`` along ``to``; return by ``deadline`` seconds with what is known."""
        started = self.clock.now()
        plan = self.plan(post, to)
        publication, records = open_publication(self.store, post, plan, started)
        for message in plan.warnings:
            warnings.warn(message, SharedFailureDomainWarning, stacklevel=2)
        until = started + (self.deadline if deadline is None else deadline)
        lane = Lane(policy=self.inline, until=until, inline=True)
        await self._walker.advance(
            publication, records, lane, route=plan.route, prepared=plan.prepared
        )
        return self._ops.report_for(publication, warnings=plan.warnings, started_at=started)

    def publish(self, post: Post, to: Any = "site", *, deadline: float | None = None) -> Report:
        """Synchronous :meth:`apublish` (works inside a running event loop too)."""
        return self._run_sync(self.apublish(post, to, deadline=deadline))

    def enqueue(self, post: Post, to: Any = "site") -> Report:
        """Write the records and return at once; the background lane delivers them."""
        plan = self.plan(post, to)
        publication, _records = open_publication(self.store, post, plan, self.clock.now())
        return self._ops.report_for(publication, warnings=plan.warnings)

    def _run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._sync.run(coro)

    # -- the background lane ------------------------------------------------------------

    async def arun_due(self, *, limit: int = 100) -> int:
        """One worker step: every due publication advanced once. Returns how many moved."""
        return await self._lane.step(limit=limit)

    async def averify_due(self, *, limit: int = 20) -> int:
        """The second looks that are due (the worker runs them in its step; Celery's
        enqueue task calls this). Returns how many were looked at."""
        return await self._verifier.step(limit=limit)

    async def arun_worker(self, *, stop: asyncio.Event | None = None, poll: float = 1.0) -> None:
        """Deliver due records until ``stop`` is set (``unipost worker``)."""
        await self._lane.run(stop=stop, poll=poll)

    def start_worker(self, *, poll: float = 1.0) -> WorkerHandle:
        """Run the background lane on the private loop thread (:meth:`close` stops it)."""
        return self._sync.start(lambda stop: self.arun_worker(stop=stop, poll=poll))

    def worker(self, *, poll: float = 1.0) -> AbstractAsyncContextManager[None]:
        """``async with dispatcher.worker():`` runs the background lane as a task of this loop."""
        return self._lane.running(poll=poll)

    async def adrain(self, *, until: float, poll: float = 1.0) -> None:
        """Run the worker until nothing is due, or clock time ``until`` (tests, scripts)."""
        await self._lane.drain(until=until, poll=poll)

    def drain(self, *, until: float, poll: float = 1.0) -> None:
        self._run_sync(self.adrain(until=until, poll=poll))

    # -- reports and operations (see unipost.operations) ---------------------------------

    def report(self, post_id: str, revision: int | None = None) -> Report:
        return self._ops.report(post_id, revision)

    def cancel(self, post_id: str, channel: str | None = None) -> int:
        return self._ops.cancel(post_id, channel)

    def resolve(self, record_id: str, *, delivered: bool, **receipt: str | None) -> Record:
        return self._ops.resolve(record_id, delivered=delivered, **receipt)

    def retry(self, record_id: str) -> Record:
        return self._ops.retry(record_id)

    async def aremove_duplicate(self, record_id: str, platform_id: str | None = None) -> Record:
        """Delete the extra copy a second look found for ``record_id`` (the channel must delete)."""
        return await self._verifier.remove_copy(record_id, platform_id)

    def remove_duplicate(self, record_id: str, platform_id: str | None = None) -> Record:
        return self._run_sync(self.aremove_duplicate(record_id, platform_id))

    def reauthorize(self, channel_id: str) -> int:
        return self._ops.reauthorize(channel_id)

    def blocked(self, channel_id: str) -> list[Record]:
        """Records waiting for ``channel_id``'s credential to be authorized again."""
        return self._ops.blocked(channel_id)

    async def acheck_credentials(self, channel_id: str) -> CredentialStatus:
        """Check a channel; its identity and when its credentials lapse (warned as events)."""
        return await self._ops.check(channel_id)

    def check_credentials(self, channel_id: str) -> CredentialStatus:
        return self._run_sync(self._ops.check(channel_id))

    async def acheck(self, channel_id: str) -> str:
        """:meth:`acheck_credentials` as one line of text."""
        status = await self._ops.check(channel_id)
        return status.describe(self.clock.now())

    def check(self, channel_id: str) -> str:
        return self._run_sync(self.acheck(channel_id))

    # -- lifetime ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close pooled connections on this loop, stop embedded workers, close the store."""
        await self.http.aclose()
        self.close()

    def close(self) -> None:
        """Stop embedded workers, close pooled connections, the private loop and the store."""
        self._sync.close(self.http.aclose)
        self.store.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
