"""Time as a dependency: the dispatcher never calls ``time`` or ``asyncio.sleep`` directly.

Tests inject :class:`unipost.testing.VirtualClock`; :func:`unipost.testing.set_testing`
makes it the default so no test ever waits for real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["Clock", "SystemClock", "default_clock", "set_default_clock", "utc_text"]


class Clock(Protocol):
    """Wall time in epoch seconds (persisted in the outbox) and a sleep."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        """Raise ``TimeoutError`` in the block after ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(max(0.0, seconds))


_default_factory: Callable[[], Clock] = SystemClock


def default_clock() -> Clock:
    """The clock a new dispatcher uses unless given one (virtual under ``set_testing``)."""
    return _default_factory()


def set_default_clock(factory: Callable[[], Clock]) -> None:
    """Used by :func:`unipost.testing.set_testing` to make virtual time the default."""
    global _default_factory
    _default_factory = factory


def utc_text(timestamp: float) -> str:
    """An epoch time as people read it in reports and errors: ``2026-12-03 14:02:00 UTC``."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


async def nap(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    """Sleep ``seconds`` on ``clock``, or less when ``stop`` is set meanwhile."""
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        waiter.cancel()
