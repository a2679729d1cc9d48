"""A status server on 127.0.0.1 that serves feed documents the way the real ones do.

It answers with ``ETag``, ``Last-Modified`` and ``Cache-Control`` when told
to, honours ``If-None-Match`` / ``If-Modified-Since`` with ``304 Not
Modified``, and records every request (path and headers) so tests can count
them and read the conditional headers that were sent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

DATA = Path(__file__).parent.parent / "data" / "status"


def document(name: str) -> bytes:
    return (DATA / name).read_bytes()


@attrs.define
class Page:
    """What one path answers now."""

    body: bytes
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    content_type: str = "application/json"


@attrs.define
class Seen:
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: FeedServer

    def do_GET(self) -> None:
        server = self.server
        headers = {k.lower(): v for k, v in self.headers.items()}
        with server.lock:
            server.seen.append(Seen(self.path, headers))
            page = server.pages.get(self.path)
        if page is None:
            self._answer(404, b'{"error":"not found"}', {}, "application/json")
            return
        extra = dict(page.headers)
        if page.etag:
            extra["ETag"] = page.etag
        if page.last_modified:
            extra["Last-Modified"] = page.last_modified
        fresh = (page.etag and headers.get("if-none-match") == page.etag) or (
            not page.etag
            and page.last_modified
            and headers.get("if-modified-since") == page.last_modified
        )
        if fresh and page.status == 200:
            self._answer(304, b"", extra, None)
            return
        self._answer(page.status, page.body, extra, page.content_type)

    def _answer(
        self, status: int, body: bytes, headers: dict[str, str], content_type: str | None
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``seen``."""


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.pages: dict[str, Page] = {}
        self.seen: list[Seen] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, page: Page) -> None:
        with self.lock:
            self.pages[path] = page

    def requests(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path == path]

    def reset(self) -> None:
        with self.lock:
            self.pages.clear()
            self.seen.clear()


@pytest.fixture(scope="session")
def _feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def feeds(_feed_server: FeedServer) -> FeedServer:
    _feed_server.reset()
    return _feed_server
