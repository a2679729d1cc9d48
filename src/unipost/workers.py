"""``unipost worker --concurrency N``: N worker processes on one shared outbox.

Each process builds its own dispatcher from the same ``unipost.toml`` and
runs the background lane; the outbox's leases (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, a compare-and-set on SQLite) make sure a record is sent by one of
them only. Processes, not threads: the engine is one event loop per process,
so N processes use N cores. The parent only supervises: Ctrl-C or SIGTERM
stops every child after its current step.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import sys
from types import FrameType

__all__ = ["run_workers"]


def _child(config: str | None, poll: float, once: bool, number: int) -> None:
    from unipost.api import build_dispatcher
    from unipost.config import load_config

    dispatcher = build_dispatcher(load_config(config))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            if once:
                while not stop.is_set() and await dispatcher.arun_due():
                    pass
                return
            await dispatcher.arun_worker(stop=stop, poll=poll)
        finally:
            await dispatcher.aclose()

    asyncio.run(run())


def run_workers(
    config: str | None, *, concurrency: int, poll: float, once: bool, location: str
) -> int:
    """Run ``concurrency`` worker processes until they stop; 0 if every one ended cleanly."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    children = [
        context.Process(
            target=_child, args=(config, poll, once, n), name=f"unipost-worker-{n}", daemon=False
        )
        for n in range(concurrency)
    ]
    for child in children:
        child.start()
    if not once:
        print(
            f"{concurrency} workers delivering from {location} (Ctrl-C to stop)",
            flush=True,
        )

    def forward(_signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child finishes its step, then stops

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        for child in children:
            while True:
                try:
                    child.join()
                    break
                except KeyboardInterrupt:  # the children got the same Ctrl-C: wait for them
                    continue
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [c.name for c in children if c.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        print(f"unipost: worker process(es) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
