"""A three-hour Meta outage, simulated 240 times faster, with four workers on two "machines".

The workers are separate processes sharing the PostgreSQL outbox and a Redis
shared state; posts arrive through the whole outage. A shared breaker lets
only its threshold and one probe per open interval reach the dead platform,
however many workers there are; every post goes to its fallback meanwhile,
and those whose route wants Meta too reach it once Meta is back (the success
of the breaker's probe wakes them, whichever process made it).
"""

from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from unipost import Post, State, all_of, first_of
from unipost.records import Record
from unipost.testing.servers import PostgresServer, RedisServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from outage_worker import SPEED, ScaledClock, make_dispatcher  # noqa: E402

pytestmark = pytest.mark.integration
OUTAGE = 3 * 3600.0  # simulated seconds
POSTS = 200
OPEN = (State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING)


class Platform:
    """Creates posts (once per Idempotency-Key); answers 503 to everything until ``up_at``."""

    def __init__(self) -> None:
        self.up_at = 0.0  # real time
        self.lock = threading.Lock()
        self.refused = 0
        self.accepted: collections.Counter[str] = collections.Counter()  # 2xx per key
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                with platform.lock:
                    down = time.time() < platform.up_at
                    if down:
                        platform.refused += 1
                    else:
                        platform.accepted[key] += 1
                status, body = (503, b'{"error":"down"}') if down else (200, b'{"id":"1"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops bursts of connects
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def platforms() -> Iterator[tuple[Platform, Platform]]:
    meta, email = Platform(), Platform()
    yield meta, email
    meta.close()
    email.close()


def _stop(workers: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM every worker (each finishes its step) and return what each wrote to stderr."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    errors = []
    for worker in workers:
        try:
            errors.append(worker.communicate(timeout=60)[1])
        except subprocess.TimeoutExpired:
            worker.kill()
            errors.append(worker.communicate()[1])
    return errors


def test_a_three_hour_outage_reaches_meta_at_most_45_times(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    platforms: tuple[Platform, Platform],
) -> None:
    meta, email = platforms
    schema = "outage_" + uuid.uuid4().hex[:10]
    urls = [postgres_server.url, schema, redis_server.url, meta.url, email.url]
    clock = ScaledClock(0.0, 0.0)
    publisher = make_dispatcher(*urls, clock)  # type: ignore[arg-type]
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "outage_worker.py"), *urls, f"machine{n // 2}-w{n % 2}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)  # two "machines" of two workers
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != "ready":
                pytest.fail(f"a worker did not start: {_stop(workers)}")
        r0 = time.time() + 0.5  # the outage starts now, for every process alike
        clock.t0 = clock.r0 = r0
        meta.up_at = r0 + OUTAGE / SPEED
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(f"{r0!r}\n")
            worker.stdin.flush()
        for n in range(POSTS):  # one post every 54 simulated seconds, through the outage
            while clock.now() < r0 + n * OUTAGE / POSTS:
                time.sleep(0.02)
            route = first_of("meta", "email") if n % 2 else all_of("meta", "email")
            publisher.enqueue(Post(id=f"outage-{n}", text=f"Post {n}"), route)
        while time.time() < meta.up_at:
            time.sleep(0.05)
        during = meta.refused
        deadline = time.time() + 90
        while publisher.store.query(states=OPEN) and time.time() < deadline:
            time.sleep(0.25)
        records = publisher.store.query(limit=1000)
    finally:
        errors = _stop(workers)
        publisher.close()
    for worker, error in zip(workers, errors, strict=True):
        assert worker.returncode == 0, error

    assert 5 <= during <= 45, f"{during} requests reached Meta while it was down"
    assert meta.refused == during, "Meta refused requests after it recovered"
    by_post: dict[str, dict[str, Record]] = collections.defaultdict(dict)
    for record in records:
        by_post[record.post_id][record.channel] = record
    assert len(by_post) == POSTS
    wanted_on_meta = set()
    for n in range(POSTS):
        post = by_post[f"outage-{n}"]
        assert post["email"].state is State.DELIVERED, (n, post["email"])
        if n % 2 == 0:  # all_of: Meta too, once it was back
            assert post["meta"].state is State.DELIVERED, (n, post["meta"])
            wanted_on_meta.add(post["meta"].delivery_key)
        else:  # first_of: the fallback took it, so Meta must not have it as well
            assert post["meta"].state is not State.DELIVERED, (n, post["meta"])
    assert len(email.accepted) == POSTS
    assert set(meta.accepted) == wanted_on_meta
