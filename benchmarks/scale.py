"""Records delivered per second by 1, 2 and 4 worker processes on PostgreSQL, against one SQLite worker.

    python -m uv run --all-packages python benchmarks/scale.py [--records 2000] [--workers 1,2,4]

It starts a throwaway PostgreSQL cluster (``unipost.testing.servers``, default
settings) and the local endpoint
``server.py`` (answers at once, in its own process). For each setting it
enqueues ``--records`` posts to one HTTP channel, starts the worker processes,
lets them all begin at one signal, and times until every record is delivered.
Process start-up is not timed. Each delivery is checked against the endpoint's
request count, so a lost or doubled request fails the run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import uuid
from multiprocessing import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from outbox import BenchChannel
from server import ServerProcess

from unipost import Dispatcher, Post, State
from unipost.outbox import Store
from unipost.testing.servers import PostgresServer

OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING)
ROOT = Path(__file__).resolve().parent.parent


def _store(target: str, schema: str) -> Store:
    if target.startswith("postgresql://"):
        from unipost.postgres_store import PostgresStore

        return PostgresStore(target, schema=schema, pool_size=4)
    from unipost.sqlite_store import SQLiteStore

    return SQLiteStore(target)


def _dispatcher(target: str, schema: str, endpoint: str) -> Dispatcher:
    return Dispatcher(
        channels={"b": BenchChannel(id="b", endpoint=endpoint)}, store=_store(target, schema)
    )


def _work(
    target: str, schema: str, endpoint: str, ready: EventType, go: EventType, cpu: Queue[float]
) -> None:
    """One worker process: the plain worker loop until nothing is left to deliver."""
    dispatcher = _dispatcher(target, schema, endpoint)

    async def run() -> None:
        while dispatcher.store.query(states=OPEN, limit=1):
            if await dispatcher.arun_due(limit=200) == 0:
                await asyncio.sleep(0.05)
        await dispatcher.aclose()

    ready.set()
    go.wait()
    before = time.process_time()
    asyncio.run(run())
    cpu.put(time.process_time() - before)
    dispatcher.store.close()


def _server_cpu(postgres: PostgresServer | None) -> float:
    """CPU seconds used so far by the PostgreSQL server and its finished backends."""
    if postgres is None:
        return 0.0
    pid = (postgres.directory / "data" / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _measure(
    target: str, endpoint: str, records: int, workers: int, postgres: PostgresServer | None = None
) -> tuple[float, float, float]:
    """Records delivered per second (wall clock); worker and server CPU ms per record."""
    schema = "bench_" + uuid.uuid4().hex[:10]
    dispatcher = _dispatcher(target, schema, endpoint)
    for n in range(records):
        dispatcher.enqueue(Post(id=f"scale-{n}", text=f"Offer {n}"), "b")
    dispatcher.close()
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    readies = [context.Event() for _ in range(workers)]
    cpu: Queue[float] = context.Queue()
    processes = [
        context.Process(target=_work, args=(target, schema, endpoint, readies[n], go, cpu))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    for ready in readies:
        if not ready.wait(120):
            raise RuntimeError("a worker process did not start")
    started, server_before = time.perf_counter(), _server_cpu(postgres)
    go.set()
    seconds = sum(cpu.get(timeout=600) for _ in processes)
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a worker process failed ({process.exitcode})")
    elapsed = time.perf_counter() - started
    time.sleep(0.5 if postgres else 0)  # the workers' backends exit and are reaped
    server_seconds = _server_cpu(postgres) - server_before
    store = _store(target, schema)
    delivered = store.query(states=[State.DELIVERED], limit=10 * records)
    store.close()
    if len(delivered) != records:
        raise RuntimeError(f"only {len(delivered)} of {records} delivered")
    return records / elapsed, 1000 * seconds / records, 1000 * server_seconds / records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    rows: list[tuple[str, int, tuple[float, float, float]]] = []
    postgres = PostgresServer(installer=ROOT / "scripts" / "ci" / "install-postgres.sh").start()
    try:
        with ServerProcess() as server, tempfile.TemporaryDirectory() as folder:
            endpoint = server.url("/0/200/posts")
            before = server.count()
            sqlite = str(Path(folder) / "outbox.sqlite3")
            rows.append(("sqlite (WAL)", 1, _measure(sqlite, endpoint, args.records, 1)))
            # synchronous_commit=off matches SQLite's WAL + synchronous=NORMAL: a commit is
            # not flushed to disk before it returns (a power cut can lose the last ones;
            # the database stays consistent). The default (on) row shows the flush's price.
            relaxed = postgres.url + "?options=-c%20synchronous_commit%3Doff"
            for n in counts:
                rate = _measure(relaxed, endpoint, args.records, n, postgres)
                rows.append(("pg sync=off", n, rate))
            rate = _measure(postgres.url, endpoint, args.records, 1, postgres)
            rows.append(("pg sync=on", 1, rate))
            sent = server.count() - before
            if sent != args.records * len(rows):
                raise RuntimeError(f"{sent} requests for {args.records * len(rows)} records")
    finally:
        postgres.stop()
    load = os.getloadavg()[0]
    print(
        f"{args.records} records per row, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average at the end {load:.1f}"
    )
    print(
        f"{'store':<14} {'workers':>8} {'delivered/s':>12} {'worker CPU ms/rec':>18} "
        f"{'server CPU ms/rec':>18}"
    )
    for label, n, (rate, cpu, server_cpu) in rows:
        print(f"{label:<14} {n:>8} {rate:>12.0f} {cpu:>18.2f} {server_cpu:>18.2f}")


if __name__ == "__main__":
    main()
