"""A real ``unipost serve`` process on 127.0.0.1, over an outbox seeded with every kind of record.

The seed goes through the public surface: the dispatcher writes the records
(``enqueue`` / ``publish``), and the Store protocol then puts some of them into
the states a live system reaches (failed, ambiguous, blocked, expired, a used
fallback), with their attempt logs. Channels are real: two site feeds and
webhooks, one to a receiver in this process, one to a closed port.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pytest

import unipost
from unipost.api import build_dispatcher
from unipost.config import load_config
from unipost.outbox import Attempt, State
from unipost.serve.settings import Scope, hash_token, new_token, token_entry

HOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK_URL_TOKEN = "hooktoken-7f3a9c2e51"  # the webhook URL's own secret
SCOPES = {
    "full": [Scope.PUBLISH, Scope.READ, Scope.OPERATE],
    "reader": [Scope.READ],
    "publisher": [Scope.PUBLISH],
    "operator": [Scope.OPERATE],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def free_tcp_port() -> int:
    return free_port()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append(body)
        answer = json.dumps({"id": f"msg-{len(self.received)}"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="session")
def hook_receiver() -> Iterator[str]:
    """A webhook receiver on 127.0.0.1 that accepts every delivery."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook?token={HOOK_URL_TOKEN}"
    server.shutdown()
    server.server_close()


@attrs.frozen(kw_only=True)
class Seeded:
    """Ids of the seeded records, by what they show."""

    delivered: str
    fallback_primary: str
    fallback_used: str
    failed: str
    ambiguous: str
    blocked: str
    expired: str
    scheduled: str


CONFIG = """
[outbox]
path = "{outbox}"

[channels.site]
type = "site"
directory = "{root}/site"
site_url = "http://127.0.0.1:8000/"

[channels.blog]
type = "site"
directory = "{root}/blog"
site_url = "http://127.0.0.1:8001/"

[channels.hook]
type = "webhook"
url = {{ env = "SERVE_TEST_HOOK_URL" }}
secret = {{ env = "SERVE_TEST_HOOK_SECRET" }}

[channels.down]
type = "webhook"
url = {{ env = "SERVE_TEST_DOWN_URL" }}
secret = {{ env = "SERVE_TEST_HOOK_SECRET" }}

[routes]
announce = {{ first_of = ["down", "blog"] }}
"""


def _attempt(record_id: str, n: int, at: float, **fields: Any) -> Attempt:
    return Attempt(record_id=record_id, n=n, started_at=at, duration=0.12, **fields)


def seed(config_path: Path) -> Seeded:
    """Write one post per interesting state into the configured outbox."""
    dispatcher = build_dispatcher(load_config(config_path))
    store = dispatcher.store
    now = time.time()
    try:
        delivered = dispatcher.publish(
            unipost.Post(text="Open today 9-5", id="seed-delivered"), ["site", "blog"], deadline=20
        )
        assert delivered.ok, str(delivered)

        def only(post: unipost.Post, to: Any) -> list[Any]:
            dispatcher.enqueue(post, to)
            return sorted(store.query(post_id=post.id), key=lambda r: r.path)

        primary, used = only(
            unipost.Post(text="New pastries", id="seed-fallback"), unipost.first_of("down", "blog")
        )
        primary.state, primary.moved_on, primary.attempts = State.FAILED, True, 2
        primary.last_class, primary.last_error = "not_sent", "connection refused"
        primary.updated_at = now - 1800
        store.save(primary, attempt=_attempt(primary.id, 1, now - 1900, error_class="not_sent"))
        store.save(
            primary,
            attempt=_attempt(
                primary.id, 2, now - 1810, error_class="not_sent", message="connection refused"
            ),
        )
        used.state, used.attempts, used.updated_at = State.DELIVERED, 1, now - 1700
        used.url, used.platform_id = "http://127.0.0.1:8001/posts/new-pastries/", "blog-1"
        store.save(used, attempt=_attempt(used.id, 1, now - 1700))

        (failed,) = only(unipost.Post(text="Cheese day", id="seed-failed"), "hook")
        failed.state, failed.attempts, failed.updated_at = State.FAILED, 2, now - 600
        failed.last_class = "permanent"
        failed.last_error = f"HTTP 400 from {os.environ['SERVE_TEST_HOOK_URL']}: body rejected"
        store.save(
            failed,
            attempt=_attempt(
                failed.id, 1, now - 700, error_class="transient", http_status=503, retry_after=30.0
            ),
        )
        store.save(
            failed,
            attempt=_attempt(
                failed.id,
                2,
                now - 660,
                error_class="permanent",
                http_status=400,
                message="body rejected",
            ),
        )

        (ambiguous,) = only(unipost.Post(text="Bread day", id="seed-ambiguous"), "hook")
        ambiguous.state, ambiguous.attempts, ambiguous.updated_at = State.AMBIGUOUS, 1, now - 300
        ambiguous.last_class = "ambiguous"
        ambiguous.last_error = "read timeout after the request was sent"
        store.save(ambiguous, attempt=_attempt(ambiguous.id, 1, now - 300, error_class="ambiguous"))

        (blocked,) = only(unipost.Post(text="Cake day", id="seed-blocked"), "down")
        blocked.state, blocked.attempts, blocked.updated_at = State.BLOCKED, 1, now - 200
        blocked.last_class, blocked.last_error = "auth", "HTTP 401: token expired"
        store.save(
            blocked, attempt=_attempt(blocked.id, 1, now - 200, error_class="auth", http_status=401)
        )

        (expired,) = only(unipost.Post(text="Pie day", id="seed-expired"), "blog")
        expired.state, expired.updated_at = State.EXPIRED, now - 100
        expired.last_error = "gave up after its TTL"
        store.save(expired)

        at = dt.datetime.fromtimestamp(now, dt.UTC) + dt.timedelta(days=3)
        (scheduled, *_rest) = only(
            unipost.Post(text="Christmas hours", id="seed-scheduled", publish_at=at),
            ["site", "blog"],
        )
        return Seeded(
            delivered=delivered.outcomes[0].record_id or "",
            fallback_primary=primary.id,
            fallback_used=used.id,
            failed=failed.id,
            ambiguous=ambiguous.id,
            blocked=blocked.id,
            expired=expired.id,
            scheduled=scheduled.id,
        )
    finally:
        dispatcher.close()


@attrs.define(kw_only=True)
class Server:
    """A running ``unipost serve`` and what it was started with."""

    url: str
    root: Path
    tokens: dict[str, str]
    seeded: Seeded
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def secrets(self) -> list[str]:
        """What must never appear in a response: channel secrets, tokens and their hashes."""
        tokens = list(self.tokens.values())
        return [HOOK_SECRET, HOOK_URL_TOKEN, *tokens, *(hash_token(t) for t in tokens)]

    def client(self, token: str | None = "full") -> httpx.Client:  # noqa: S107 - a label
        headers = {} if token is None else {"Authorization": f"Bearer {self.tokens[token]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"unipost serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(url + "/v1/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"unipost serve did not become ready in {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def start_server(tmp_path_factory: pytest.TempPathFactory, hook_receiver: str) -> Iterator[Any]:
    """``start_server(name, *extra_args)``: a seeded outbox and a server over it."""
    started: list[Server] = []

    def start(name: str, *extra: str) -> Server:
        root = tmp_path_factory.mktemp(f"serve-{name}")
        tokens = {label: new_token() for label in SCOPES}
        (root / "tokens.toml").write_text(
            "\n".join(token_entry(label, tokens[label], SCOPES[label]) for label in SCOPES)
        )
        config = root / "unipost.toml"
        config.write_text(CONFIG.format(outbox=root / "outbox.sqlite3", root=root))
        env = {
            **os.environ,
            "SERVE_TEST_HOOK_URL": hook_receiver,
            "SERVE_TEST_DOWN_URL": f"http://127.0.0.1:{free_port()}/down?token={HOOK_URL_TOKEN}",
            "SERVE_TEST_HOOK_SECRET": HOOK_SECRET,
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("SERVE_TEST_")})
        seeded = seed(config)
        port = free_port()
        log = root / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "unipost",
                    "--config",
                    str(config),
                    "serve",
                    "--tokens",
                    str(root / "tokens.toml"),
                    "--port",
                    str(port),
                    "--deadline",
                    "5",
                    *extra,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        server = Server(
            url=f"http://127.0.0.1:{port}",
            root=root,
            tokens=tokens,
            seeded=seeded,
            process=process,
            log=log,
        )
        started.append(server)
        _wait_ready(server.url, process, log)
        return server

    yield start
    for server in started:
        server.stop()
