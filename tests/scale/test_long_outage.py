"""A three-hour Meta outage, simulated 240 times faster, with four workers on two "machines".

The workers are separate processes sharing the PostgreSQL outbox and a Redis
shared state; posts arrive through the whole outage. A shared breaker lets
only its threshold and one probe per open interval reach the dead platform,
however many workers there are; every post goes to its fallback meanwhile,
and those whose route wants Meta too reach it once Meta is back.
"""

from __future__ import annotations

import collections
import os
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
from unipost.testing.servers import PostgresServer, RedisServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from outage_worker import ScaledClock, make_dispatcher  # noqa: E402

pytestmark = pytest.mark.integration
SPEED = 240.0
OUTAGE = 3 * 3600.0  # simulated seconds
POSTS = 200


class Platform:
    """Creates posts (once per Idempotency-Key); answers 503 to everything until ``up_at``."""

    def __init__(self, up_at: float = 0.0) -> None:
        self.up_at = up_at
        self.lock = threading.Lock()
        self.refused = 0
        self.creates: collections.Counter[str] = collections.Counter()
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
                    elif key not in platform.creates:
                        platform.creates[key] += 1
                status, body = (503, b'{"error":"down"}') if down else (200, b'{"id":"1"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
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


def test_a_three_hour_outage_reaches_meta_at_most_45_times(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    platforms: tuple[Platform, Platform],
    tmp_path: Path,
) -> None:
    meta, email = platforms
    schema = "outage_" + uuid.uuid4().hex[:10]
    r0 = time.time() + 3.0  # the outage starts once the workers are up
    meta.up_at = r0 + OUTAGE / SPEED
    args = [
        postgres_server.url, schema, redis_server.url, meta.url, email.url,
        str(r0), str(r0), str(SPEED),
    ]  # fmt: skip
    clock = ScaledClock(r0, r0, SPEED)
    publisher = make_dispatcher(*args[:5], clock)  # type: ignore[arg-type]
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "outage_worker.py"), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "UNIPOST_MACHINE": str(n // 2)},  # two "machines" of two
        )
        for n in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.communicate()[1]
        while time.time() < r0:
            time.sleep(0.05)
        for n in range(POSTS):  # one post every 54 simulated seconds, through the outage
            route = first_of("meta", "email") if n % 2 else all_of("meta", "email")
            publisher.enqueue(Post(id=f"outage-{n}", text=f"Post {n}"), route)
            while clock.now() < r0 + (n + 1) * OUTAGE / POSTS:
                time.sleep(0.02)
        during = meta.refused
        deadline = time.time() + 90
        while time.time() < deadline:
            open_records = publisher.store.query(
                states=(State.PENDING, State.SENDING, State.RETRY_WAIT, State.RECONCILING)
            )
            if not open_records:
                break
            time.sleep(0.2)
        records = publisher.store.query(limit=1000)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.communicate()
        publisher.close()
    assert during <= 45, f"{during} requests reached Meta while it was down"
    assert meta.refused == during
    by_post = collections.defaultdict(dict)
    for record in records:
        by_post[record.post_id][record.channel] = record
    assert len(by_post) == POSTS
    for n in range(POSTS):
        post = by_post[f"outage-{n}"]
        assert post["email"].state is State.DELIVERED, (n, post["email"])
        if n % 2 == 0:  # all_of: Meta too, once it was back
            assert post["meta"].state is State.DELIVERED, (n, post["meta"])
    assert set(email.creates.values()) == {1}
    assert len(email.creates) == POSTS
    assert set(meta.creates.values()) == {1}
    assert len(meta.creates) >= POSTS // 2
