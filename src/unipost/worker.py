"""The background lane: due publications, one step each, until stopped.

Each step asks the store for publications with a due record (not leased by
a live driver), advances every one once with the background policy, and
sleeps between empty polls. An attempt in progress always finishes first.
Beside it, :meth:`BackgroundLane.run` keeps the status poller going
(:mod:`unipost.status_poll`), so platform outages reach the breakers, and the
scheduled credential checks (:mod:`unipost.credential_watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import attrs

from unipost.clock import nap
from unipost.credential_watch import CredentialWatch
from unipost.delivery import Lane
from unipost.engine import Engine
from unipost.records import State
from unipost.route_walk import RouteWalker
from unipost.status_poll import StatusPoller
from unipost.verification import Verifier

__all__ = ["BackgroundLane"]

_log = logging.getLogger("unipost")


@attrs.define
class BackgroundLane:
    engine: Engine
    walker: RouteWalker
    verifier: Verifier
    status: StatusPoller | None = None
    credentials: CredentialWatch | None = None

    async def step(self, *, limit: int = 100) -> int:
        """One worker step: every due publication advanced once, then the second looks
        that are due (:mod:`unipost.verification`). Returns how many moved.

        A publication that raises is logged and left for the next step; it
        never stops the others.
        """
        engine = self.engine
        now = engine.clock.now()
        due = engine.store.due_publications(now, limit)
        lane = Lane(policy=engine.settings.background, until=now, inline=False)
        results = await asyncio.gather(
            *(self._advance(pid, lane) for pid in due), return_exceptions=True
        )
        moved = 0
        for pid, result in zip(due, results, strict=True):
            if isinstance(result, Exception):
                _log.error("unipost worker: publication %s failed: %r", pid, result)
                engine.emit("worker.error", error=repr(result))
            elif isinstance(result, BaseException):
                raise result
            elif result:
                moved += 1
        return moved + await self.verifier.step()

    async def _advance(self, publication_id: str, lane: Lane) -> bool:
        store = self.engine.store
        publication = store.publication(publication_id)
        return await self.walker.advance(publication, store.records(publication_id), lane)

    async def run(self, *, stop: asyncio.Event | None = None, poll: float = 1.0) -> None:
        """Deliver due records until ``stop`` is set (``unipost worker``)."""
        stop = stop if stop is not None else asyncio.Event()
        beside = []  # status feeds and credential checks run beside the deliveries
        if self.status is not None and self.status.feeds:
            beside.append(asyncio.ensure_future(self.status.run(stop)))
        if self.credentials is not None:
            beside.append(asyncio.ensure_future(self.credentials.run(stop)))
        try:
            while not stop.is_set():
                if await self.step() == 0:
                    await nap(self.engine.clock, poll, stop)
        finally:
            for task in beside:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @contextlib.asynccontextmanager
    async def running(self, *, poll: float = 1.0) -> AsyncIterator[None]:
        """The lane as a task of the current loop for the duration of a ``with`` block."""
        stop = asyncio.Event()
        task = asyncio.ensure_future(self.run(stop=stop, poll=poll))
        try:
            yield
        finally:
            stop.set()
            await task

    async def drain(self, *, until: float, poll: float = 1.0) -> None:
        """Run until nothing is due, or clock time ``until`` (tests, scripts)."""
        engine = self.engine
        while engine.clock.now() < until:
            if await self.step() == 0:
                open_states = (State.PENDING, State.RETRY_WAIT, State.RECONCILING, State.SENDING)
                pending = engine.store.query(states=open_states)
                wakes = [min(r.next_attempt_at, r.ttl_at) for r in pending]
                second_look = self.verifier.next_due(until)
                if second_look is not None:
                    wakes.append(second_look)
                if not wakes:
                    return
                wake = min(wakes)
                await engine.clock.sleep(max(poll, min(wake, until) - engine.clock.now()))
