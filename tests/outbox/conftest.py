"""Local HTTP platforms on 127.0.0.1 for the outbox's process tests, and their channels."""

from __future__ import annotations

import collections
import importlib.util
import json
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"outbox_{name}", HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


channels = _load("crash_channels")


class PostServer:
    """A platform that creates posts; optionally replays a seen ``Idempotency-Key``.

    ``creates`` counts the posts created per client marker: any value above 1
    is a duplicate a reader would see.
    """

    def __init__(self, *, dedupe: bool) -> None:
        self.dedupe = dedupe
        self.lock = threading.Condition()
        self.creates: collections.Counter[str] = collections.Counter()
        self.requests_by_key: collections.Counter[str] = collections.Counter()
        self.by_marker: dict[str, str] = {}
        self.by_key: dict[str, str] = {}
        self.media: dict[str, str] = {}
        self.workers: set[str] = set()
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the pooled client expects
            disable_nagle_algorithm = True  # headers and body leave at once, no 40 ms stall

            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                marker = query["marker"][0]
                with server.lock:
                    server.hits += 1
                    server.lock.notify_all()
                    found = server.by_marker.get(marker)
                self._answer({"found": found is not None, "id": found})

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                raw = self.rfile.read(length)
                if len(raw) < length:
                    return  # the client died mid-request: nothing was applied
                body = json.loads(raw)
                key = self.headers.get("Idempotency-Key")
                with server.lock:
                    server.hits += 1
                    server.lock.notify_all()
                    server.workers.add(self.headers.get("X-Worker", ""))
                    if key is not None:
                        server.requests_by_key[key] += 1
                    if server.dedupe and key is not None and key in server.by_key:
                        post_id = server.by_key[key]  # replay: the first answer again
                    else:
                        marker = body["marker"]
                        server.creates[marker] += 1
                        post_id = str(sum(server.creates.values()))
                        server.by_marker[marker] = post_id
                        if key is not None:
                            server.by_key[key] = post_id
                        if "media_sha256" in body:
                            server.media[marker] = body["media_sha256"]
                self._answer({"id": post_id})

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops bursts of connects
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client killed mid-request is what the crash test does

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait_for_hits(self, count: int, timeout: float) -> None:
        with self.lock:
            self.lock.wait_for(lambda: self.hits >= count, timeout)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def key_server() -> Iterator[PostServer]:
    server = PostServer(dedupe=True)
    yield server
    server.close()


@pytest.fixture
def lookup_server() -> Iterator[PostServer]:
    server = PostServer(dedupe=False)
    yield server
    server.close()


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def spawn() -> Any:
    """``spawn("crash_child.py", *args)``: a script of this folder in a fresh interpreter."""
    return _spawn


@pytest.fixture
def test_channels() -> ModuleType:
    """The ``crash_channels`` module: KeyChannel, LookupChannel, make_dispatcher."""
    return channels
