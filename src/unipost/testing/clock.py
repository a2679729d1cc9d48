"""Virtual time: sleeps and timeouts that complete instantly, in order, on a fake clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

__all__ = ["VirtualClock"]

_START = 1_800_000_000.0  # 2027-01-15: far from any real "now", so mixing them up shows


class VirtualClock:
    """A :class:`unipost.clock.Clock` whose time moves only when every task is waiting on it.

    When nothing else on the event loop can run, the earliest sleeper is woken
    and the clock jumps to its wake-up time, so a 6-hour outage takes
    milliseconds to test and timings can be asserted exactly. A timeout alone
    never moves time: if only timeouts are pending, the work they guard is
    waiting on real I/O (a file write in a thread, a local server), so the
    clock waits for it instead of firing the timeout.
    """

    def __init__(self, start: float = _START) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None], bool]] = []
        self._counter = itertools.count()
        self._advancer: asyncio.Task[None] | None = None
        self.slept = 0.0  # total virtual seconds any task asked to sleep

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by hand (sleepers due by then wake on the next loop turn)."""
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds, timer=False)

    async def _sleep(self, seconds: float, *, timer: bool) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if not timer:
            self.slept += seconds
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), future, timer))
        if self._advancer is None or self._advancer.done():
            self._advancer = loop.create_task(self._advance(loop))
        await future

    async def _advance(self, loop: asyncio.AbstractEventLoop) -> None:
        idle_turns = 0
        while self._sleepers:
            await asyncio.sleep(0)
            ready = getattr(loop, "_ready", ())
            if len(ready) > 0:
                idle_turns = 0
                continue
            idle_turns += 1
            if idle_turns < 3:  # let freshly scheduled callbacks settle
                continue
            idle_turns = 0
            live = [entry for entry in self._sleepers if not entry[2].done()]
            if live and all(entry[3] for entry in live):
                # Only timeouts are pending: the guarded work waits on real I/O
                # (a thread, a socket), so time must not jump past it.
                await asyncio.sleep(0.001)
                continue
            when, _, future, _timer = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self._now = max(self._now, when)
            future.set_result(None)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return self._timeout(seconds)

    @asynccontextmanager
    async def _timeout(self, seconds: float) -> AsyncIterator[object]:
        task = asyncio.current_task()
        assert task is not None
        fired = False

        async def watch() -> None:
            nonlocal fired
            await self._sleep(seconds, timer=True)
            fired = True
            task.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            yield None
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise TimeoutError(f"virtual timeout after {seconds} s") from None
            raise
        finally:
            watcher.cancel()
