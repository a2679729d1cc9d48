"""The dispatcher: one call publishes a post along a route, and never loses it.

``publish`` prepares every target (pure; bad input raises here, nothing is
sent), writes one outbox record per channel, then runs the inline lane until
its deadline and returns a :class:`~unipost.report.Report`. Whatever is not
finished stays in the outbox for the background lane (:meth:`Dispatcher.run_worker`).

One async implementation serves both ``publish`` and ``await apublish``: the
sync call runs it on a private event-loop thread, so it also works where a
loop is already running (Jupyter, inside an async framework).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import logging
import random
import tempfile
import threading
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx

from unipost import route_state
from unipost import routes as routing
from unipost._http import HttpPool
from unipost.breaker import Breakers, BreakerState
from unipost.channel import Channel, Context, Prepared
from unipost.clock import Clock, SystemClock
from unipost.delivery import Lane, RecordRunner
from unipost.errors import ContentRejected, UnknownChannel, UsageError
from unipost.events import Emitter, Event
from unipost.models import Media, Post
from unipost.outbox import Publication, Record, State, Store
from unipost.ratelimit import RateLimiter
from unipost.report import Outcome, Report, ReportStatus
from unipost.retry import BACKGROUND, INLINE, RetryBudget, RetryPolicy
from unipost.routes import AllOf, FirstOf, Leaf, Route

__all__ = ["Dispatcher", "Plan", "SharedFailureDomainWarning", "Worker"]

T = TypeVar("T")
_log = logging.getLogger("unipost")

_default_clock: Callable[[], Clock] = SystemClock


class SharedFailureDomainWarning(UserWarning):
    """Alternatives of one ``first_of`` fail together (Instagram is no fallback for Facebook)."""


@attrs.frozen(kw_only=True)
class Plan:
    """What ``preview`` shows: each target rendered, or the reason it cannot be."""

    route: Route
    prepared: Mapping[str, Prepared]
    rejected: Mapping[str, ContentRejected]
    warnings: tuple[str, ...]


class _Portal:
    """A private event loop on a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="unipost-portal", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Cancel what still runs on the loop (timers, an idle worker), then stop it."""
        self.run(_cancel_others())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


async def _cancel_others() -> None:
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


@attrs.define(eq=False)
class Worker:
    """An embedded background lane on the dispatcher's private loop thread.

    From :meth:`Dispatcher.start_worker`; :meth:`stop` lets the step in
    progress finish (no attempt is cut off), then returns.
    """

    _future: concurrent.futures.Future[None]
    _stop: asyncio.Event
    _loop: asyncio.AbstractEventLoop

    @property
    def running(self) -> bool:
        return not self._future.done()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current step; re-raises whatever made the worker fail."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._future.result(timeout)


@attrs.define
class _Run:
    publication: Publication
    records: dict[str, Record]  # by route path
    prepared: dict[str, Prepared]  # by channel id
    lane: Lane
    route: Route = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.route = routing.from_dict(self.publication.route)


_HELD = "held"


def _progress(record: Record) -> tuple[object, ...]:
    """What a worker step can change about a record (to tell a busy loop from work)."""
    return (record.state, record.attempts, record.next_attempt_at, record.lookups_absent)


def set_default_clock(factory: Callable[[], Clock]) -> None:
    """Used by :func:`unipost.testing.set_testing` to make virtual time the default."""
    global _default_clock
    _default_clock = factory


def _clock() -> Clock:
    return _default_clock()


@attrs.define(kw_only=True)
class Dispatcher:
    """Routes, retries, breakers, rate limits and the outbox, for a set of channels."""

    channels: Mapping[str, Channel]
    store: Store
    clock: Clock = attrs.field(factory=_clock)
    inline: RetryPolicy = INLINE
    background: RetryPolicy = BACKGROUND
    deadline: float = 30.0
    attempt_timeout: float = 25.0
    lease_margin: float = 5.0
    max_in_flight: int = 1000
    per_domain: int | None = None
    per_channel: int | None = 4
    retry_ambiguous: frozenset[str] = frozenset()
    observers: list[Callable[[Event], object]] = attrs.field(factory=list)
    seed: int | None = None
    rng: random.Random | None = (
        None  # jitter source; tests inject one (default: seeded by ``seed``)
    )
    http: HttpPool = attrs.field(factory=HttpPool)
    owner: str = attrs.field(factory=lambda: uuid.uuid4().hex)
    breakers: Breakers = attrs.field(init=False)
    limiter: RateLimiter = attrs.field(init=False, factory=RateLimiter)
    blocked_accounts: dict[str, str] = attrs.field(init=False, factory=dict)
    _budgets: dict[str, RetryBudget] = attrs.field(init=False, factory=dict)
    _rng: random.Random = attrs.field(init=False)
    _emitter: Emitter = attrs.field(init=False)
    _portal: _Portal | None = attrs.field(init=False, default=None)
    _portal_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _workers: list[Worker] = attrs.field(init=False, factory=list)
    # Publications being advanced in this process: one driver each, whichever lane.
    _active: set[str] = attrs.field(init=False, factory=set)
    _active_lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _semaphores: weakref.WeakKeyDictionary[
        asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]
    ] = attrs.field(init=False, factory=weakref.WeakKeyDictionary)

    def __attrs_post_init__(self) -> None:
        self._rng = self.rng if self.rng is not None else random.Random(self.seed)
        self._emitter = Emitter(self.observers)
        self.breakers = Breakers(on_transition=self._breaker_moved)

    # -- plumbing used by RecordRunner ------------------------------------------------

    def emit(self, event: Event) -> None:
        self._emitter(event)

    def wants(self, name: str) -> bool:
        """Whether anyone observes or logs ``name`` events (so building one is worth it)."""
        return self._emitter.wants(name)

    def _breaker_moved(
        self, domain: str, old: BreakerState, new: BreakerState, until: float | None
    ) -> None:
        self.emit(
            Event(
                name="breaker.transition",
                at=self.clock.now(),
                fields={"domain": domain, "from": old.value, "to": new.value, "open_until": until},
            )
        )

    def budget_for(self, domain: str) -> RetryBudget:
        budget = self._budgets.get(domain)
        if budget is None:
            budget = self._budgets[domain] = RetryBudget()
        return budget

    @contextlib.asynccontextmanager
    async def limits(self, domain: str, channel: str) -> AsyncIterator[None]:
        """The bulkhead: ``max_in_flight`` attempts in all, ``per_domain`` per failure domain,
        ``per_channel`` per channel.

        The channel cap keeps many deliveries to one channel queued here, cheaply, instead
        of in its connection pool, where httpcore rescans every waiter on each change.
        """
        loop = asyncio.get_running_loop()
        semaphores = self._semaphores.get(loop)
        if semaphores is None:
            semaphores = self._semaphores[loop] = {"*": asyncio.Semaphore(self.max_in_flight)}
        gates = [semaphores["*"]]
        for key, cap in (
            (f"domain:{domain}", self.per_domain),
            (f"channel:{channel}", self.per_channel),
        ):
            if cap is not None:
                gate = semaphores.get(key)
                if gate is None:
                    gate = semaphores[key] = asyncio.Semaphore(cap)
                gates.append(gate)
        async with contextlib.AsyncExitStack() as stack:
            for gate in gates:
                await stack.enter_async_context(gate)
            yield

    # -- planning ---------------------------------------------------------------------

    def channel(self, channel_id: str) -> Channel:
        try:
            return self.channels[channel_id]
        except KeyError:
            known = ", ".join(sorted(self.channels)) or "none configured"
            raise UnknownChannel(
                "to",
                f"no channel named {channel_id!r}",
                f"configure [channels.{channel_id}] in unipost.toml, or use one of: {known}",
            ) from None

    def plan(self, post: Post, to: Any) -> Plan:
        """Render ``post`` for every target of ``to``; pure, no I/O (``unipost preview``)."""
        route = routing.as_route(to)
        seen: set[str] = set()
        prepared: dict[str, Prepared] = {}
        rejected: dict[str, ContentRejected] = {}
        for _path, leaf in routing.leaves(route):
            if leaf.channel in seen:
                raise UsageError(
                    "to", f"{leaf.channel!r} appears twice in the route", "name each channel once"
                )
            seen.add(leaf.channel)
            channel = self.channel(leaf.channel)
            try:
                prepared[leaf.channel] = channel.prepare(post)
            except ContentRejected as exc:
                rejected[leaf.channel] = exc
        return Plan(
            route=route,
            prepared=prepared,
            rejected=rejected,
            warnings=tuple(self._domain_warnings(route)),
        )

    def _domain_warnings(self, route: Route) -> list[str]:
        found: list[str] = []
        if isinstance(route, Leaf):
            return found
        if isinstance(route, FirstOf):
            owners: dict[str, str] = {}
            for child in route.targets:
                for _p, leaf in routing.leaves(child):
                    domain = self.channels[leaf.channel].failure_domain
                    if domain in owners and owners[domain] != leaf.channel:
                        found.append(
                            f"{routing.describe(route)}: {owners[domain]} and {leaf.channel} share the failure "
                            f"domain {domain!r}, so one outage takes out both; add an alternative outside it"
                        )
                    owners.setdefault(domain, leaf.channel)
        for child in route.targets:
            found.extend(self._domain_warnings(child))
        return found

    @staticmethod
    def _viable(route: Route, plan: Plan) -> bool:
        """Whether ``route`` can still succeed; raises the rejection when it cannot."""
        if isinstance(route, Leaf):
            if route.channel in plan.rejected:
                raise plan.rejected[route.channel]
            return True
        if isinstance(route, AllOf):
            return all(Dispatcher._viable(child, plan) for child in route.targets)
        problems: list[ContentRejected] = []
        for child in route.targets:
            try:
                if Dispatcher._viable(child, plan):
                    return True
            except ContentRejected as exc:
                problems.append(exc)
        first = problems[0]
        raise ContentRejected(
            "to",
            f"the post fits none of {routing.describe(route)}: "
            + "; ".join(str(p) for p in problems),
            first.fix,
        )

    def delivery_key(self, post_id: str, channel_id: str, revision: int) -> str:
        """``up1-`` + 32 base32 characters of an HMAC: stable, unguessable, free of PII."""
        message = f"{post_id}\x1f{channel_id}\x1f{revision}".encode()
        digest = hmac.new(self.store.secret(), message, hashlib.sha256).digest()
        return "up1-" + base64.b32encode(digest).decode().rstrip("=").lower()[:32]

    def _spool(self, post: Post) -> Post:
        """Media given as bytes are written beside the outbox so a worker can send them later."""
        if not any(m.data is not None and m.path is None for m in post.media):
            return post
        if self.store.durable:
            folder = Path(self.store.location).parent / "media"
        else:
            folder = Path(tempfile.gettempdir()) / "unipost-media"
        folder.mkdir(parents=True, exist_ok=True)
        media: list[Media] = []
        for item in post.media:
            if item.data is not None and item.path is None:
                target = (
                    folder
                    / f"{hashlib.sha256(item.data).hexdigest()[:24]}-{item.filename or 'media'}"
                )
                if not target.exists():
                    target.write_bytes(item.data)
                item = attrs.evolve(item, path=target, data=None)
            media.append(item)
        return attrs.evolve(post, media=tuple(media))

    def _open(self, post: Post, plan: Plan) -> tuple[Publication, list[Record]]:
        now = self.clock.now()
        start = max(now, post.publish_at.timestamp()) if post.publish_at else now
        ttl_at = start + post.ttl.total_seconds()
        snapshot = self._spool(post)
        publication = Publication(
            id=uuid.uuid4().hex,
            post_id=post.id,
            revision=post.revision,
            content_hash=post.content_hash(),
            post=snapshot.to_dict(),
            route=routing.to_dict(plan.route),
            created_at=now,
        )
        records = []
        for path, leaf in routing.leaves(plan.route):
            record = Record(
                id=uuid.uuid4().hex,
                publication_id=publication.id,
                post_id=post.id,
                revision=post.revision,
                channel=leaf.channel,
                path=path,
                delivery_key=self.delivery_key(post.id, leaf.channel, post.revision),
                ttl_at=ttl_at,
                next_attempt_at=start,
                created_at=now,
                updated_at=now,
            )
            rejection = plan.rejected.get(leaf.channel)
            if rejection is not None:
                record.state = State.FAILED
                record.last_class = "permanent"
                record.last_error = str(rejection)
            records.append(record)
        return self.store.open_publication(publication, records)

    # -- publishing ---------------------------------------------------------------------

    async def apublish(
        self, post: Post, to: Any = "site", *, deadline: float | None = None
    ) -> Report:
        """Publish ``post`` along ``to``; return by ``deadline`` seconds with what is known."""
        started = self.clock.now()
        plan = self.plan(post, to)
        self._viable(plan.route, plan)
        for message in plan.warnings:
            warnings.warn(message, SharedFailureDomainWarning, stacklevel=3)
        publication, records = self._open(post, plan)
        until = started + (self.deadline if deadline is None else deadline)
        lane = Lane(policy=self.inline, until=until, inline=True)
        await self._advance(publication, records, lane, post=post)
        return self.report_for(publication, warnings=plan.warnings, started_at=started)

    def publish(self, post: Post, to: Any = "site", *, deadline: float | None = None) -> Report:
        """Synchronous :meth:`apublish` (works inside a running event loop too)."""
        return self._run_sync(self.apublish(post, to, deadline=deadline))

    def enqueue(self, post: Post, to: Any = "site") -> Report:
        """Write the records and return at once; the background lane delivers them."""
        plan = self.plan(post, to)
        self._viable(plan.route, plan)
        publication, _records = self._open(post, plan)
        return self.report_for(publication, warnings=plan.warnings)

    def _ensure_portal(self) -> _Portal:
        with self._portal_lock:
            if self._portal is None:
                self._portal = _Portal()
            return self._portal

    def _run_sync(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._ensure_portal().run(coro)

    async def _advance(
        self,
        publication: Publication,
        records: list[Record],
        lane: Lane,
        *,
        post: Post | None = None,
    ) -> bool:
        """Drive a publication's records along its route; False if nothing changed.

        A publication already being driven in this process is left to that
        driver: two runners with one lease owner could both send.
        """
        with self._active_lock:
            if publication.id in self._active:
                return False
            self._active.add(publication.id)
        try:
            return await self._drive(publication, records, lane, post=post)
        finally:
            with self._active_lock:
                self._active.discard(publication.id)

    async def _drive(
        self,
        publication: Publication,
        records: list[Record],
        lane: Lane,
        *,
        post: Post | None,
    ) -> bool:
        before = [_progress(r) for r in records]
        source = post if post is not None else Post.from_dict(publication.post)
        prepared: dict[str, Prepared] = {}
        for record in records:
            if record.state.terminal:
                continue
            channel = self.channels.get(record.channel)
            if channel is None:
                record.state = State.FAILED
                record.last_error = f"channel {record.channel!r} is no longer configured"
                self.store.save(record)
                continue
            try:
                prepared[record.channel] = channel.prepare(source)
            except ContentRejected as exc:  # the channel's settings changed since publish
                record.state, record.last_class, record.last_error = (
                    State.FAILED,
                    "permanent",
                    str(exc),
                )
                self.store.save(record)
        run = _Run(
            publication=publication,
            records={r.path: r for r in records},
            prepared=prepared,
            lane=lane,
        )
        await self._node(run, run.route, "0", None, wait=True)
        after = [_progress(run.records[r.path]) for r in records]
        return before != after

    async def _node(
        self, run: _Run, node: Route, path: str, patience: float | None, *, wait: bool
    ) -> None:
        if isinstance(node, Leaf):
            record = run.records[path]
            if record.state.terminal:
                return
            runner = RecordRunner(
                dispatcher=self,
                record=record,
                channel=self.channels[record.channel],
                prepared=run.prepared[record.channel],
                lane=run.lane,
                patience=patience,
                save_hook=lambda r: run.records.__setitem__(path, r),
                rng=self._rng,
            )
            await runner.run(wait=wait)
            return
        if isinstance(node, AllOf):
            await asyncio.gather(
                *(
                    self._node(run, child, f"{path}.{i}", patience, wait=wait)
                    for i, child in enumerate(node.targets)
                )
            )
            return
        if route_state.status(node, path, run.records) is ReportStatus.SUCCEEDED:
            self._supersede(run, node, path)
            await self._settle_superseded(run, node, path, patience)
            return
        alt_patience = node.patience if node.patience is not None else run.lane.policy.patience
        for index, child in enumerate(node.targets):
            child_path = f"{path}.{index}"
            last = index == len(node.targets) - 1
            passed_before = route_state.passed(child, child_path, run.records)
            await self._node(
                run,
                child,
                child_path,
                patience if last else alt_patience,
                wait=wait and not passed_before,
            )
            status = route_state.status(child, child_path, run.records)
            if status is ReportStatus.SUCCEEDED:
                self._supersede(run, node, path)
                await self._settle_superseded(run, node, path, patience)
                return
            if status is ReportStatus.AMBIGUOUS and node.on_ambiguous == "hold":
                self._hold(run, path, child_path)
                return
            if not route_state.passed(child, child_path, run.records):
                self._defer_later(run, path, index)
                return
            if not last and not passed_before:
                self.emit(
                    Event(
                        name="fallback",
                        at=self.clock.now(),
                        post_id=run.publication.post_id,
                        fields={
                            "from": routing.describe(child),
                            "to": routing.describe(node.targets[index + 1]),
                        },
                    )
                )

    def _defer_later(self, run: _Run, path: str, index: int) -> None:
        """Alternatives after one still at work are not due before it is looked at again.

        Otherwise a worker would find them due on every poll while the route waits.
        """
        current = f"{path}.{index}"
        busy = [
            r.lease_until if r.state is State.SENDING else r.next_attempt_at
            for p, r in run.records.items()
            if route_state.within(p, current)
            and not r.state.terminal
            and r.state is not State.BLOCKED
        ]
        if not busy:
            return
        wake = min(busy)
        for record_path, record in run.records.items():
            if (
                record_path.startswith(path + ".")
                and route_state.position(record_path)[: len(route_state.position(current))]
                > route_state.position(current)
                and record.state in (State.PENDING, State.RETRY_WAIT)
                and record.next_attempt_at < wake
            ):
                record.next_attempt_at = wake
                self.store.save(record)

    def _supersede(self, run: _Run, node: FirstOf, path: str) -> None:
        """Once one alternative delivered, the others that cannot have posted are skipped."""
        winner = next(
            f"{path}.{i}"
            for i, child in enumerate(node.targets)
            if route_state.status(child, f"{path}.{i}", run.records) is ReportStatus.SUCCEEDED
        )
        ambiguous_sibling = False
        now = self.clock.now()
        for record_path, record in list(run.records.items()):
            if (
                not record_path.startswith(path + ".")
                or record_path.startswith(winner + ".")
                or record_path == winner
            ):
                continue
            if record.state is State.AMBIGUOUS:
                ambiguous_sibling = True
            if record.state is State.RECONCILING:
                # It may have posted: its lookup still runs, but an absent result ends it.
                record.extra["superseded_by"] = routing.describe(
                    route_state.node_at(run.route, winner)
                )
                self.store.save(record)
                continue
            if record.state.terminal or record.state is State.SENDING:
                continue
            record.state = State.SKIPPED
            record.last_error = (
                f"superseded: {routing.describe(route_state.node_at(run.route, winner))} delivered"
            )
            record.updated_at = now
            self.store.save(record)
        if ambiguous_sibling:
            for record_path, record in run.records.items():
                if (
                    record_path == winner or record_path.startswith(winner + ".")
                ) and record.state is State.DELIVERED:
                    record.possible_duplicate = True
                    self.store.save(record)

    async def _settle_superseded(
        self, run: _Run, node: FirstOf, path: str, patience: float | None
    ) -> None:
        """Finish the lookups of alternatives that may have posted before the winner did."""
        for index, child in enumerate(node.targets):
            child_path = f"{path}.{index}"
            if any(
                route_state.within(p, child_path) and r.state is State.RECONCILING
                for p, r in run.records.items()
            ):
                await self._node(run, child, child_path, patience, wait=True)

    def _hold(self, run: _Run, path: str, held_by: str) -> None:
        """Later alternatives wait while an earlier one may have posted (never a guess)."""
        held_at = route_state.position(held_by)
        for record_path, record in run.records.items():
            if not record_path.startswith(path + ".") or route_state.within(record_path, held_by):
                continue
            if (
                record.state in (State.PENDING, State.RETRY_WAIT)
                and route_state.position(record_path) > held_at
            ):
                record.state = State.BLOCKED
                record.last_class = _HELD
                record.last_error = (
                    f"held: {routing.describe(route_state.node_at(run.route, held_by))} may have published; "
                    "settle it with `unipost outbox resolve`"
                )
                self.store.save(record)

    # -- the background lane ------------------------------------------------------------

    async def arun_due(self, *, limit: int = 100) -> int:
        """One worker step: every due publication advanced once. Returns how many moved.

        A publication that raises is logged and left for the next step; it
        never stops the others.
        """
        now = self.clock.now()
        due = self.store.due_publications(now, limit)
        lane = Lane(policy=self.background, until=now, inline=False)
        results = await asyncio.gather(
            *(self._advance_one(pid, lane) for pid in due), return_exceptions=True
        )
        moved = 0
        for pid, result in zip(due, results, strict=True):
            if isinstance(result, Exception):
                _log.error("unipost worker: publication %s failed: %r", pid, result)
                self.emit(
                    Event(name="worker.error", at=self.clock.now(), fields={"error": repr(result)})
                )
            elif isinstance(result, BaseException):
                raise result
            elif result:
                moved += 1
        return moved

    async def _advance_one(self, publication_id: str, lane: Lane) -> bool:
        publication = self.store.publication(publication_id)
        return await self._advance(publication, self.store.records(publication_id), lane)

    async def arun_worker(self, *, stop: asyncio.Event | None = None, poll: float = 1.0) -> None:
        """Deliver due records until ``stop`` is set (``unipost worker``).

        ``stop`` is noticed between steps and during the pause between polls;
        an attempt in progress always finishes first.
        """
        stop = stop if stop is not None else asyncio.Event()
        while not stop.is_set():
            if await self.arun_due() == 0:
                await self._nap(stop, poll)

    async def _nap(self, stop: asyncio.Event, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waiter = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    def start_worker(self, *, poll: float = 1.0) -> Worker:
        """Run the background lane on this dispatcher's private loop thread.

        For synchronous applications (Django, Flask, scripts): call once at
        start-up, ``worker.stop()`` at shutdown (:meth:`close` stops it too).
        """
        portal = self._ensure_portal()
        stop = asyncio.Event()
        future = asyncio.run_coroutine_threadsafe(
            self.arun_worker(stop=stop, poll=poll), portal.loop
        )
        worker = Worker(future, stop, portal.loop)
        self._workers.append(worker)
        return worker

    @contextlib.asynccontextmanager
    async def worker(self, *, poll: float = 1.0) -> AsyncIterator[None]:
        """``async with dispatcher.worker():`` runs the background lane as a task of this loop."""
        stop = asyncio.Event()
        task = asyncio.ensure_future(self.arun_worker(stop=stop, poll=poll))
        try:
            yield
        finally:
            stop.set()
            await task

    async def adrain(self, *, until: float, poll: float = 1.0) -> None:
        """Run the worker until nothing is due, or clock time ``until`` (tests, scripts)."""
        while self.clock.now() < until:
            if await self.arun_due() == 0:
                pending = self.store.query(
                    states=(State.PENDING, State.RETRY_WAIT, State.RECONCILING, State.SENDING)
                )
                if not pending:
                    return
                wake = min(min(r.next_attempt_at, r.ttl_at) for r in pending)
                await self.clock.sleep(max(poll, min(wake, until) - self.clock.now()))

    def drain(self, *, until: float, poll: float = 1.0) -> None:
        self._run_sync(self.adrain(until=until, poll=poll))

    # -- reports and operations --------------------------------------------------------

    def report_for(
        self,
        publication: Publication,
        *,
        warnings: tuple[str, ...] = (),
        started_at: float | None = None,
    ) -> Report:
        records = sorted(
            self.store.records(publication.id), key=lambda r: [int(p) for p in r.path.split(".")]
        )
        run = _Run(
            publication=publication,
            records={r.path: r for r in records},
            prepared={},
            lane=Lane(policy=self.inline, until=0, inline=True),
        )
        status = route_state.status(run.route, "0", run.records)
        outcomes = tuple(self._outcome(r) for r in records)
        return Report(
            post_id=publication.post_id,
            revision=publication.revision,
            status=status,
            outcomes=outcomes,
            durable=self.store.durable,
            started_at=publication.created_at if started_at is None else started_at,
            finished_at=self.clock.now(),
            warnings=warnings,
        )

    def _outcome(self, record: Record) -> Outcome:
        from unipost.channel import RecipientResult

        delivered = record.state is State.DELIVERED
        return Outcome(
            channel=record.channel,
            state=record.state,
            platform_id=record.platform_id,
            url=record.url,
            reason=None if delivered else record.last_error,
            error_class=None if delivered else record.last_class,
            attempts=tuple(self.store.attempts(record.id)),
            next_attempt_at=record.next_attempt_at if not record.state.terminal else None,
            possible_duplicate=record.possible_duplicate,
            recipients=tuple(RecipientResult(**r) for r in record.recipients),
            extra=dict(record.extra),
            record_id=record.id,
        )

    def report(self, post_id: str, revision: int | None = None) -> Report:
        """The current report of a post published before (from any process)."""
        publication = self.store.find_publication(post_id, revision)
        if publication is None:
            raise UsageError(
                "post_id",
                f"no post {post_id!r} in the outbox at {self.store.location}",
                "check the id, or point to the right outbox",
            )
        return self.report_for(publication)

    def cancel(self, post_id: str, channel: str | None = None) -> int:
        """Cancel what is not delivered yet; returns how many records were cancelled."""
        count = 0
        for record in self.store.query(post_id=post_id, channel=channel):
            if record.state.terminal or record.state is State.SENDING:
                continue
            record.state = State.CANCELLED
            record.last_error = "cancelled by an operator"
            self.store.save(record)
            count += 1
        return count

    def resolve(
        self,
        record_id: str,
        *,
        delivered: bool,
        platform_id: str | None = None,
        url: str | None = None,
    ) -> Record:
        """A person settles an ``ambiguous`` record after checking the platform."""
        record = self.store.record(record_id)
        if record.state is not State.AMBIGUOUS:
            raise UsageError(
                "record",
                f"{record_id} is {record.state.value}, not ambiguous",
                "only ambiguous records can be resolved",
            )
        if delivered:
            record.state, record.platform_id, record.url = State.DELIVERED, platform_id, url
            record.last_error = None
        else:
            record.state = State.RETRY_WAIT
            record.next_attempt_at = self.clock.now()
            record.last_error = "resolved as not published: will be sent again"
        self.store.save(record)
        for sibling in self.store.records(record.publication_id):
            if sibling.state is State.BLOCKED and sibling.last_class == _HELD:
                sibling.state = State.SKIPPED if delivered else State.RETRY_WAIT
                sibling.next_attempt_at = self.clock.now()
                sibling.last_error = (
                    f"superseded: {record.channel} was published" if delivered else None
                )
                self.store.save(sibling)
        return record

    def retry(self, record_id: str) -> Record:
        """Send a record again now (``unipost outbox retry``); an expired one gets a new TTL.

        Ambiguous records are settled with :meth:`resolve` instead: retrying
        one blindly could publish twice.
        """
        record = self.store.record(record_id)
        refused = {
            State.DELIVERED: "it is delivered",
            State.AMBIGUOUS: "it may have been published: settle it with resolve",
            State.SENDING: "an attempt is in progress",
            State.RECONCILING: "its outcome is being looked up",
        }
        if record.state in refused:
            raise UsageError(
                "record",
                f"{record_id} is {record.state.value}: {refused[record.state]}",
                "retry failed, expired, cancelled, skipped or waiting records",
            )
        now = self.clock.now()
        if record.ttl_at <= now:
            ttl = float(self.store.publication(record.publication_id).post.get("ttl", 86400.0))
            record.ttl_at = now + ttl
        record.state, record.next_attempt_at, record.moved_on = State.RETRY_WAIT, now, False
        record.lease_owner, record.lease_until = None, 0.0
        record.last_error = "retry requested by an operator"
        record.updated_at = now
        self.store.save(record)
        return record

    def reauthorize(self, channel_id: str) -> int:
        """Unblock a channel's records after its credentials were fixed."""
        channel = self.channel(channel_id)
        self.blocked_accounts.pop(channel.credential_key, None)
        count = 0
        for record in self.store.query(states=(State.BLOCKED,), channel=channel_id):
            record.state = State.RETRY_WAIT
            record.next_attempt_at = self.clock.now()
            record.moved_on = False
            self.store.save(record)
            count += 1
        return count

    async def acheck(self, channel_id: str) -> str:
        """Run a channel's credential and reachability check; raises the classified error."""
        channel = self.channel(channel_id)
        clock = self.clock
        deadline = clock.now() + self.attempt_timeout

        async def send(request: httpx.Request) -> httpx.Response:
            return await self.http.send(channel, request, remaining=deadline - clock.now())

        context = Context(
            delivery_key="check",
            attempt=0,
            post_id="check",
            now=clock.now,
            deadline=deadline,
            send=send,
            sleep=clock.sleep,
        )
        return await channel.check(context)

    def check(self, channel_id: str) -> str:
        return self._run_sync(self.acheck(channel_id))

    # -- lifetime --------------------------------------------------------------------

    async def aclose(self) -> None:
        await self.http.aclose()

    def close(self) -> None:
        """Stop embedded workers, close pooled connections and the private loop thread."""
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        portal = self._portal
        if portal is not None:
            portal.run(self.http.aclose())
            portal.close()
            self._portal = None
        self.store.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
