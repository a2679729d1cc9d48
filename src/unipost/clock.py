"""Time as a dependency: the dispatcher never calls ``time`` or ``asyncio.sleep`` directly.

Tests inject :class:`unipost.testing.VirtualClock`; :func:`unipost.testing.set_testing`
makes it the default so no test ever waits for real.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


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
