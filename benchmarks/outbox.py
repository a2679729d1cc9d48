"""How fast the durable outbox delivers, and what durability costs per record.

    python benchmarks/outbox.py [--records 2000]

For each store (in-memory, then the SQLite file in WAL mode) it enqueues
``--records`` posts to one HTTP channel and lets the worker deliver them to a
local endpoint that answers at once (``server.py``, in its own process), then
publishes a further ``--records`` posts through the inline lane (``apublish``,
32 at a time). Every delivered record is checked against the endpoint's
request count. The last column is what the SQLite file adds per record over
the in-memory store: the price of surviving a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import attrs
import httpx

sys.path.insert(0, str(Path(__file__).parent))

from server import ServerProcess

from unipost import (
    Capabilities,
    Channel,
    Context,
    Dispatcher,
    Idempotency,
    MemoryStore,
    Post,
    Prepared,
    Receipt,
    State,
)
from unipost.channel import Flow
from unipost.outbox import Store
from unipost.sqlite_store import SQLiteStore


@attrs.frozen(kw_only=True)
class BenchChannel(Channel):
    """One POST per post, with the delivery key as Idempotency-Key."""

    name: ClassVar[str] = "bench"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500, idempotency=Idempotency.KEY)
    endpoint: str

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        yield httpx.Request(
            "POST",
            self.endpoint,
            json={"text": prepared.text},
            headers={"Idempotency-Key": ctx.delivery_key},
        )
        return Receipt(platform_id=ctx.delivery_key[4:16])


async def _measure(store: Store, endpoint: str, records: int) -> tuple[float, float, float]:
    dispatcher = Dispatcher(channels={"b": BenchChannel(id="b", endpoint=endpoint)}, store=store)
    started = time.perf_counter()
    for n in range(records):
        dispatcher.enqueue(Post(id=f"queued-{n}", text=f"Offer {n}"), "b")
    enqueued = time.perf_counter()
    while await dispatcher.arun_due(limit=200):
        pass
    worked = time.perf_counter()
    gate = asyncio.Semaphore(32)

    async def one(n: int) -> None:
        async with gate:
            report = await dispatcher.apublish(Post(id=f"inline-{n}", text=f"Offer {n}"), "b")
            assert report.ok, report

    await asyncio.gather(*(one(n) for n in range(records)))
    published = time.perf_counter()
    delivered = store.query(states=[State.DELIVERED], limit=10 * records)
    assert len(delivered) == 2 * records, f"only {len(delivered)} of {2 * records} delivered"
    await dispatcher.aclose()
    store.close()
    return (
        records / (enqueued - started),
        records / (worked - enqueued),
        records / (published - worked),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    args = parser.parse_args()
    results: dict[str, tuple[float, float, float]] = {}
    with ServerProcess() as server, tempfile.TemporaryDirectory() as folder:
        endpoint = server.url("/0/200/posts")
        stores: dict[str, Store] = {
            "memory": MemoryStore(),
            "sqlite (WAL)": SQLiteStore(Path(folder) / "outbox.sqlite3"),
        }
        before = server.count()
        for label, store in stores.items():
            results[label] = asyncio.run(_measure(store, endpoint, args.records))
        assert server.count() - before == 4 * args.records, "a request went missing"
    print(
        f"{args.records} records per lane, Python {platform.python_version()}, {platform.machine()}"
    )
    print(
        f"{'store':<14} {'enqueue/s':>10} {'worker/s':>10} {'publish/s':>10} {'worker ms/rec':>14} {'+ms vs memory':>14}"
    )
    base = 1000 / results["memory"][1]
    for label, (enqueue, worker, inline) in results.items():
        per = 1000 / worker
        print(
            f"{label:<14} {enqueue:>10.0f} {worker:>10.0f} {inline:>10.0f} {per:>14.2f} {per - base:>14.2f}"
        )


if __name__ == "__main__":
    main()
