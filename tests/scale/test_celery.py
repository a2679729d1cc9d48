"""A real Celery worker (Redis broker, PostgreSQL outbox) delivers each record exactly once.

The worker runs as its own process group (``celery worker -B``: two pool
processes and the beat enqueuer), and is SIGKILLed mid-run in the second test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from unipost import Dispatcher, Post, State
from unipost.postgres_store import PostgresStore
from unipost.testing.servers import PostgresServer, RedisServer

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.integration
OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING, State.BLOCKED)


class Worker:
    """``celery -A celery_app worker -B`` in its own session, so a kill takes all of it."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.env = env
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.directory / f"worker-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "celery_app", "worker", "-B",
                "--pool=prefork", "--concurrency=2", "--loglevel=WARNING",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--schedule", str(self.directory / f"beat-{self.starts}"),
                "--hostname", f"unipost-test-{self.starts}@%h",
            ],
            cwd=HERE,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()

    def kill(self) -> None:
        """SIGKILL the whole worker: main process, pool children and beat, with no warning."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:]
            for p in sorted(self.directory.glob("worker-*.log"))
        )


@pytest.fixture
def setup(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    key_server: Any,
    lookup_server: Any,
    test_channels: ModuleType,
    tmp_path: Path,
) -> Iterator[tuple[Dispatcher, Worker]]:
    schema = "celery_" + uuid.uuid4().hex[:12]
    db = 1 + int(uuid.uuid4().int % 14)  # a broker database of its own: no leftover tasks
    env = {
        **os.environ,
        "UNIPOST_TEST_BROKER": f"redis://127.0.0.1:{redis_server.port}/{db}",
        "UNIPOST_TEST_OUTBOX": postgres_server.url,
        "UNIPOST_TEST_SCHEMA": schema,
        "UNIPOST_TEST_KEY_URL": key_server.url,
        "UNIPOST_TEST_LOOKUP_URL": lookup_server.url,
    }
    subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "-n", str(db), "FLUSHDB"], check=True
    )
    store = PostgresStore(postgres_server.url, schema=schema)
    dispatcher = Dispatcher(
        channels={
            "key": test_channels.KeyChannel(id="key", base_url=key_server.url),
            "lookup": test_channels.LookupChannel(id="lookup", base_url=lookup_server.url),
        },
        store=store,
    )
    worker = Worker(env, tmp_path)
    yield dispatcher, worker
    worker.stop()
    dispatcher.close()
    store.close()


def _enqueue(dispatcher: Dispatcher, n: int) -> None:
    for i in range(n):
        dispatcher.enqueue(Post(id=f"celery-{i}", text=f"Post {i}"), ["key", "lookup"])


def _wait_until_settled(dispatcher: Dispatcher, worker: Worker, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while dispatcher.store.query(states=OPEN, limit=1):
        assert worker.process is not None
        assert worker.process.poll() is None, worker.log()
        assert time.monotonic() < deadline, f"records still open\n{worker.log()}"
        time.sleep(0.2)


def _assert_each_delivered_once(
    dispatcher: Dispatcher, key_server: Any, lookup_server: Any
) -> None:
    records = dispatcher.store.query(limit=5000)
    assert len(records) == 1000
    assert {r.state for r in records} == {State.DELIVERED}
    keys = {r.delivery_key for r in records if r.channel == "key"}
    assert set(key_server.creates) == keys  # every post created ...
    assert set(key_server.creates.values()) == {1}  # ... once
    markers = {r.delivery_key for r in records if r.channel == "lookup"}
    assert set(lookup_server.creates) == markers
    assert set(lookup_server.creates.values()) == {1}


def test_a_celery_worker_delivers_1000_records_once(
    setup: tuple[Dispatcher, Worker], key_server: Any, lookup_server: Any
) -> None:
    dispatcher, worker = setup
    _enqueue(dispatcher, 500)
    worker.start()
    _wait_until_settled(dispatcher, worker, timeout=240)
    _assert_each_delivered_once(dispatcher, key_server, lookup_server)
    assert set(key_server.requests_by_key.values()) == {1}  # not even a replayed request


def test_sigkilled_three_times_the_celery_worker_loses_and_duplicates_nothing(
    setup: tuple[Dispatcher, Worker], key_server: Any, lookup_server: Any
) -> None:
    dispatcher, worker = setup
    _enqueue(dispatcher, 500)
    worker.start()
    for kill_at in (150, 400, 650):
        key_server.wait_for_hits(kill_at // 2, timeout=120)
        lookup_server.wait_for_hits(kill_at // 2, timeout=120)
        assert dispatcher.store.query(states=OPEN, limit=1)  # killed mid-run, work left
        worker.kill()
        worker.start()
    _wait_until_settled(dispatcher, worker, timeout=300)
    _assert_each_delivered_once(dispatcher, key_server, lookup_server)
    assert worker.starts == 4
