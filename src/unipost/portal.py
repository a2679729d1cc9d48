"""Synchronous callers: one private event loop on a daemon thread per dispatcher.

``publish()`` runs the async implementation there, so it also works where a
loop is already running (Jupyter, inside an async framework), and keeps
connections pooled across calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import attrs

__all__ = ["Portal", "SyncBridge", "WorkerHandle"]

T = TypeVar("T")


class Portal:
    """A private event loop on a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="unipost-portal", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

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
class WorkerHandle:
    """An embedded background lane on the dispatcher's private loop thread.

    From :meth:`unipost.Dispatcher.start_worker`; :meth:`stop` lets the step in
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
class SyncBridge:
    """The private loop of a dispatcher, made on first use, and the workers started on it."""

    _portal: Portal | None = None
    _lock: threading.Lock = attrs.field(factory=threading.Lock)
    _workers: list[WorkerHandle] = attrs.field(factory=list)

    def _ensure(self) -> Portal:
        with self._lock:
            if self._portal is None:
                self._portal = Portal()
            return self._portal

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._ensure().run(coro)

    def start(self, work: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> WorkerHandle:
        """Run ``work(stop)`` on the private loop until ``stop`` is set by the handle."""
        portal = self._ensure()
        stop = asyncio.Event()
        handle = WorkerHandle(portal.submit(work(stop)), stop, portal.loop)
        self._workers.append(handle)
        return handle

    def close(self, last: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Stop the workers, run ``last()`` on the loop (closing its connections), stop it."""
        for handle in self._workers:
            handle.stop()
        self._workers.clear()
        portal, self._portal = self._portal, None
        if portal is not None:
            portal.run(last())
            portal.close()
