"""A worker process for the long-outage test, on a clock that runs ``speed`` times faster.

Every process computes the same simulated time from the real one (``t0`` at
real ``r0``), so two "machines" agree on it as synchronised clocks would. A
worker builds its dispatcher, says ``ready``, and starts once the test sends
the real time ``r0`` at which the simulation begins (on its stdin): a slow
start on a busy machine must not eat into the simulated outage.
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

#: Simulated seconds per real second: three hours in 45 s.
SPEED = 240.0
#: How long a request may really take before it is cut, whatever the simulated deadline.
REAL_FLOOR = 5.0
#: The attempt timeout (and so every lease), in simulated seconds: 10 real seconds.
LIVENESS = 2 * REAL_FLOOR * SPEED
#: How often an idle worker polls, in simulated seconds (1/8 of a real second).
POLL = 30.0


class ScaledClock:
    """Simulated time runs ``speed`` times faster than real time, from ``t0`` at real ``r0``.

    Waits scale; the requests do not: they are real, and a busy CI machine can
    stall an event loop for a second, which is four simulated minutes. So a
    request is never cut sooner than :data:`REAL_FLOOR` real seconds, and the
    dispatchers are given an attempt timeout (hence leases) longer than that.
    """

    def __init__(self, t0: float, r0: float, speed: float = SPEED) -> None:
        self.t0, self.r0, self.speed = t0, r0, speed

    def now(self) -> float:
        return self.t0 + (time.time() - self.r0) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def timeout(self, seconds: float) -> AbstractAsyncContextManager[object]:
        return asyncio.timeout(max(REAL_FLOOR, seconds / self.speed))


class MetaChannel(KeyChannel):
    name: ClassVar[str] = "meta-test"  # its own failure domain


class EmailChannel(KeyChannel):
    name: ClassVar[str] = "email-test"


def make_dispatcher(
    outbox: str,
    schema: str,
    redis: str,
    meta: str,
    email: str,
    clock: ScaledClock,
    owner: str = "publisher",
) -> Dispatcher:
    """The same configuration for the publisher and every worker, over one outbox and Redis."""
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
        owner=owner,
        inline=RetryPolicy(attempts=3, patience=60.0),
        background=RetryPolicy(attempts=None, base=30.0, cap=600.0, patience=60.0),
        attempt_timeout=LIVENESS,
        lease_margin=LIVENESS / 10,
        publication_lease=LIVENESS,
    )


async def work(dispatcher: Dispatcher) -> None:
    """Deliver until SIGTERM (the test's stop), finishing the step in progress."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await dispatcher.arun_worker(stop=stop, poll=POLL)
    await dispatcher.aclose()


def main() -> None:
    outbox, schema, redis, meta, email, owner = sys.argv[1:7]
    clock = ScaledClock(0.0, 0.0)
    dispatcher = make_dispatcher(outbox, schema, redis, meta, email, clock, owner)
    print("ready", flush=True)
    clock.t0 = clock.r0 = float(sys.stdin.readline())
    try:
        asyncio.run(work(dispatcher))
    finally:
        dispatcher.store.close()


if __name__ == "__main__":
    main()
