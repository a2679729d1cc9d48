"""A request costs no import: nothing is searched on ``sys.path`` once the pool is warm.

httpcore runs ``import sniffio`` for every request and carries on when the module is
missing; Python does not remember a failed import, so each one scans every
``sys.path`` entry again — half the CPU of a broadcast message (docs/performance.md).
unipost depends on ``sniffio`` for that reason; this test fails if any import search
creeps back into the request path, through a real socket to a server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import httpx
import pytest

from unipost._http import HttpPool


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a platform's API serves

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b'{"sid":"SM1"}'
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test counts import searches, not requests."""


class _Searches(importlib.abc.MetaPathFinder):
    """Notes every module name the import system is asked to find, and finds none."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        self.names.append(fullname)
        return None


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/Messages.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_warm_request_searches_for_no_module(server_url: str) -> None:
    pool = HttpPool()
    searches = _Searches()

    async def send(count: int) -> None:
        for n in range(count):
            request = httpx.Request("POST", server_url, data={"To": f"+1555000{n:04d}"})
            response = await pool.send("sms", request, remaining=10.0)
            assert response.status_code == 201

    async def run() -> None:
        try:
            await send(3)  # warm: the connection, and whatever imports httpx does once
            sys.meta_path.insert(0, searches)
            try:
                await send(20)
            finally:
                sys.meta_path.remove(searches)
        finally:
            await pool.aclose()

    asyncio.run(run())
    assert searches.names == []
