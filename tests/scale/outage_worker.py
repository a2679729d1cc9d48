"""A worker process for the long-outage test, on a clock that runs ``speed`` times faster.

Every process computes the same simulated time from the real one (``t0`` at
real ``r0``), so two "machines" agree on it as synchronised clocks would.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "outbox"))

from crash_channels import KeyChannel

from unipost import Dispatcher
from unipost.outbox import Store
from unipost.postgres_store import PostgresStore
from unipost.retry import RetryPolicy


class ScaledClock:
    def __init__(self, t0: float, r0: float, speed: float) -> None:
        self.t0, self.r0, self.speed = t0, r0, speed

    def now(self) -> float:
        return self.t0 + (time.time() - self.r0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(max(0.0, seconds) / self.speed)


class MetaChannel(KeyChannel):
    name: ClassVar[str] = "meta-test"  # its own failure domain


class EmailChannel(KeyChannel):
    name: ClassVar[str] = "email-test"


def make_dispatcher(
    outbox: str, schema: str, redis: str, meta: str, email: str, clock: ScaledClock
) -> Dispatcher:
    store: Store = PostgresStore(outbox, schema=schema, pool_size=4)
    if redis:
        from unipost.redis_state import RedisState
        from unipost.store_proxy import DelegatingStore

        store = DelegatingStore(store, shared=RedisState(redis, prefix=schema))
    return Dispatcher(
        channels={
            "meta": MetaChannel(id="meta", base_url=meta),
            "email": EmailChannel(id="email", base_url=email),
        },
        store=store,
        clock=clock,
        inline=RetryPolicy(attempts=3, patience=60.0),
        background=RetryPolicy(attempts=None, base=30.0, cap=600.0, patience=60.0),
    )


async def work(dispatcher: Dispatcher) -> None:
    """Deliver until SIGTERM (the test's stop), finishing the step in progress."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await dispatcher.arun_worker(stop=stop, poll=5.0)
    await dispatcher.aclose()


def main() -> None:
    outbox, schema, redis, meta, email, t0, r0, speed = sys.argv[1:9]
    clock = ScaledClock(float(t0), float(r0), float(speed))
    dispatcher = make_dispatcher(outbox, schema, redis, meta, email, clock)
    print("ready", flush=True)
    try:
        asyncio.run(work(dispatcher))
    finally:
        dispatcher.store.close()


if __name__ == "__main__":
    main()
