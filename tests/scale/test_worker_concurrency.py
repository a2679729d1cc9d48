"""``unipost worker --concurrency N`` on a PostgreSQL outbox, through the real CLI."""

from __future__ import annotations

import collections
import os
import signal
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

from unipost import Post, State
from unipost.api import build_dispatcher
from unipost.cli import main
from unipost.config import load_config
from unipost.testing.servers import PostgresServer

pytestmark = pytest.mark.integration
SECRET = "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQ="


class Receiver:
    """A webhook endpoint on 127.0.0.1 that counts deliveries by ``webhook-id``."""

    def __init__(self) -> None:
        self.seen: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    seen[self.headers["webhook-id"]] += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def config_file(
    postgres_server: PostgresServer,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A unipost.toml on a database of its own in the test cluster, with one webhook channel."""
    import psycopg

    database = "w_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")  # type: ignore[arg-type]
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + database
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_URL", receiver.url)
    path = tmp_path / "unipost.toml"
    path.write_text(
        f'[outbox]\nurl = "{url}"\n\n[channels.hook]\ntype = "webhook"\n'
        'url = { env = "HOOK_URL" }\nsecret = { env = "HOOK_SECRET" }\n',
        encoding="utf-8",
    )
    return path


def _enqueue(config_file: Path, n: int) -> list[str]:
    dispatcher = build_dispatcher(load_config(config_file))
    try:
        for i in range(n):
            dispatcher.enqueue(Post(id=f"w-{i}", text=f"Post {i}"), ["hook"])
        return [r.delivery_key for r in dispatcher.store.query(limit=5000)]
    finally:
        dispatcher.close()


def _states(config_file: Path) -> collections.Counter[State]:
    dispatcher = build_dispatcher(load_config(config_file))
    try:
        return collections.Counter(r.state for r in dispatcher.store.query(limit=5000))
    finally:
        dispatcher.close()


def _cli(config_file: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "unipost", "--config", str(config_file), "worker", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_three_worker_processes_deliver_each_record_once(
    config_file: Path, receiver: Receiver
) -> None:
    keys = _enqueue(config_file, 300)
    worker = _cli(config_file, "--concurrency", "3", "--once")
    _out, err = worker.communicate(timeout=180)
    assert worker.returncode == 0, err
    assert _states(config_file) == {State.DELIVERED: 300}
    assert set(receiver.seen) == set(keys)
    assert set(receiver.seen.values()) == {1}


def test_sigterm_stops_every_worker_process(config_file: Path, receiver: Receiver) -> None:
    keys = _enqueue(config_file, 50)
    worker = _cli(config_file, "--concurrency", "2", "--poll", "0.2")
    try:
        assert worker.stdout is not None
        assert "2 workers delivering from postgresql://" in worker.stdout.readline()
        deadline = time.monotonic() + 120
        while len(receiver.seen) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, err
    assert set(receiver.seen.values()) == {1}
    assert _states(config_file) == {State.DELIVERED: 50}


def test_concurrency_needs_a_shared_outbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "unipost.toml"
    config.write_text('[outbox]\npath = "memory"\n', encoding="utf-8")
    assert main(["--config", str(config), "worker", "--concurrency", "2"]) == 2
    assert "--concurrency: needs N ≥ 1 and a durable outbox" in capsys.readouterr().err
