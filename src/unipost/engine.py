"""What every delivery needs, wired once: the engine's services as one small object.

The :class:`~unipost.dispatcher.Dispatcher` builds an :class:`Engine` and hands
it down; no module below the facade imports the dispatcher. Concurrency caps
(:class:`Bulkhead`) belong to the engine, so ``publish`` and ``apublish`` share
them whichever loop runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs

from unipost._http import HttpPool
from unipost.breaker import Breakers, BreakerSettings, BreakerState
from unipost.channel import Channel
from unipost.clock import Clock
from unipost.errors import MissingSecret
from unipost.events import Emitter, Event
from unipost.outbox import Store
from unipost.ratelimit import RateLimiter
from unipost.retry import RetryBudget, RetryPolicy
from unipost.shared_state import SharedState

__all__ = ["Bulkhead", "Engine", "Settings"]


@attrs.frozen(kw_only=True)
class Settings:
    """The dispatcher's tunables, as the engine reads them."""

    inline: RetryPolicy
    background: RetryPolicy
    attempt_timeout: float
    lease_margin: float
    #: The shortest attempt worth starting: with less time left, the record is left untouched.
    min_attempt_window: float
    owner: str
    retry_ambiguous: frozenset[str]
    #: How long a publication stays claimed by a driver that stopped renewing it (it died).
    publication_lease: float = 10.0
    #: ``check()`` warns this many days before a credential a person must renew lapses.
    credential_warn_days: float = 7.0
    #: A delivery that followed a resend is looked at again this long after (an extra copy?).
    verify_after: float = 600.0


#: Shared-state key prefix of the time a credential was last re-authorized (a monotonic
#: time per key, the primitive the rate limiter's not-before times use).
_REAUTHORIZED = "reauthorized:"


class Gate:
    """A semaphore shared by every event loop of a dispatcher (``publish`` runs on a
    private loop, ``apublish`` on the caller's): a permit freed on one wakes a
    waiter on another."""

    def __init__(self, value: int) -> None:
        self._value = value
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._value > 0 and not self._waiters:
                self._value -= 1
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
                    raise
            self.release()  # granted while being cancelled: pass the permit on
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self._value += 1
                return
            loop, future = self._waiters.popleft()
        loop.call_soon_threadsafe(self._grant, future)

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.done():  # cancelled before the grant arrived
            self.release()
        else:
            future.set_result(None)


@attrs.define
class Bulkhead:
    """``max_in_flight`` attempts in all, ``per_domain`` per failure domain, ``per_channel``
    per channel, for the whole dispatcher whichever API (sync or async) is used.

    The channel cap keeps many deliveries to one channel queued here, cheaply,
    instead of in its connection pool, where httpcore rescans every waiter.
    """

    max_in_flight: int = 1000
    per_domain: int | None = None
    per_channel: int | None = 4
    _gates: dict[str, Gate] = attrs.field(init=False, factory=dict)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def _gate(self, key: str, cap: int) -> Gate:
        with self._lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = Gate(cap)
            return gate

    @contextlib.asynccontextmanager
    async def slot(self, domain: str, channel: str) -> AsyncIterator[None]:
        gates = [self._gate("*", self.max_in_flight)]
        for key, cap in (
            (f"domain:{domain}", self.per_domain),
            (f"channel:{channel}", self.per_channel),
        ):
            if cap is not None:
                gates.append(self._gate(key, cap))
        taken: list[Gate] = []
        try:
            for gate in gates:  # always in this order, so two slots never wait on each other
                await gate.acquire()
                taken.append(gate)
            yield
        finally:
            for gate in reversed(taken):
                gate.release()


@attrs.define
class Engine:
    """The services one delivery uses; shared by the inline lane and the worker."""

    store: Store
    clock: Clock
    http: HttpPool
    settings: Settings
    bulkhead: Bulkhead
    emitter: Emitter
    #: failure domain → the channel ids in it (to wake their records when it recovers)
    domains: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    shared: SharedState = attrs.field(init=False)
    breakers: Breakers = attrs.field(init=False)
    limiter: RateLimiter = attrs.field(init=False)
    #: credential key → why the platform refused it (records wait for a re-authorization)
    blocked_accounts: dict[str, str] = attrs.field(factory=dict)
    _blocked_at: dict[str, float] = attrs.field(factory=dict, init=False)
    #: Channels whose server was found to ignore idempotency keys, with why (by channel id).
    keys_ignored: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def build(
        cls,
        *,
        channels: Mapping[str, Channel],
        observers: list[Callable[[Event], object]],
        **parts: Any,
    ) -> Engine:
        """The engine for ``channels``, with events going to ``observers``."""
        domains: dict[str, tuple[str, ...]] = {}
        for channel_id in channels:
            try:
                domain = channels[channel_id].failure_domain
            except MissingSecret:
                # Its secret is unset: it is built when it is about to send (config.Channels),
                # and until then it has no records to wake.
                continue
            domains[domain] = (*domains.get(domain, ()), channel_id)
        return cls(emitter=Emitter(observers), domains=domains, **parts)

    def __attrs_post_init__(self) -> None:
        self.shared = self.store.shared_state
        # A probe is held at least as long as its attempt may run (the record's lease): a
        # slow probe still in flight must not let a second request through to a failing domain.
        held = self.settings.attempt_timeout + self.settings.lease_margin
        self.breakers = Breakers(
            self.shared,
            on_transition=self._breaker_moved,
            on_recovered=self._recovered,
            settings=BreakerSettings(probe_lease=max(BreakerSettings().probe_lease, held)),
        )
        self.limiter = RateLimiter(shared=self.shared)

    # -- credentials refused by the platform ---------------------------------------------

    def block_account(self, credential: str, reason: str) -> None:
        """Nothing more is sent on ``credential`` until someone re-authorizes it."""
        self.blocked_accounts[credential] = reason
        self._blocked_at[credential] = self.clock.now()

    def account_block(self, credential: str) -> str | None:
        """Why ``credential`` is refused, unless it was re-authorized since — by any process.

        The block is remembered in memory (no store read on the hot path); the
        re-authorization is a shared mark, so ``unipost outbox retry --blocked-by``
        run beside a worker frees the worker's block too.
        """
        reason = self.blocked_accounts.get(credential)
        if reason is None:
            return None
        since = self._blocked_at.get(credential, math.inf)
        if self.shared.not_before(_REAUTHORIZED + credential) >= since:
            self.blocked_accounts.pop(credential, None)
            return None
        return reason

    def reauthorized(self, credential: str) -> None:
        """Lift the block on ``credential`` here and in every process sharing the outbox."""
        self.blocked_accounts.pop(credential, None)
        self.shared.push_not_before(_REAUTHORIZED + credential, self.clock.now())

    def budget(self, domain: str) -> RetryBudget:
        return RetryBudget(self.shared, domain)

    def wants(self, name: str) -> bool:
        """Whether anyone observes or logs ``name`` events (so building one is worth it)."""
        return self.emitter.wants(name)

    def emit(
        self, name: str, *, post_id: str | None = None, channel: str | None = None, **fields: Any
    ) -> None:
        if self.emitter.wants(name):
            at = self.clock.now()
            self.emitter(Event(name=name, at=at, post_id=post_id, channel=channel, fields=fields))

    def _breaker_moved(
        self, domain: str, old: BreakerState, new: BreakerState, until: float | None
    ) -> None:
        if self.emitter.wants("breaker.transition"):
            fields = {"domain": domain, "from": old.value, "to": new.value, "open_until": until}
            self.emitter(Event(name="breaker.transition", at=self.clock.now(), fields=fields))

    def _recovered(self, domain: str) -> None:
        """A success after failures: what waited on the outage is due again now (spread over
        10 s), instead of sitting out a back-off of up to ten minutes."""
        woken = self.store.wake(self.domains.get(domain, ()), self.clock.now(), 10.0)
        self.emit("breaker.recovered", domain=domain, woken=woken)
