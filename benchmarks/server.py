"""A local HTTP/1.1 test endpoint whose latency and answers are set by the request path.

``/<delay_ms>/<status>/<anything>`` answers ``status`` after ``delay_ms``
(``/<delay_ms>/<status>/whatsapp/…`` with a WhatsApp Cloud API send result, whose
message id the WhatsApp channel requires);
``/hang/<anything>`` reads the request and never answers (the connection is
held until the client gives up). ``GET /_count`` returns how many requests
were answered or held so far, so a benchmark can prove every request arrived.

It is one asyncio protocol, keep-alive aware, with a 4096-deep listen
backlog: 1,000 held requests are really held at once, in one thread. Run it
as its own process (:class:`ServerProcess`) so its CPU is not the client's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

_BODY = b'{"ok":true}'
_WHATSAPP = (
    b'{"messaging_product":"whatsapp","contacts":[{"input":"15550000000",'
    b'"wa_id":"15550000000"}],"messages":[{"id":"wamid.HBgLMTU1NTAwMDAwMDAVAgARGBI"}]}'
)
_REASONS = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error"}


class _Counter:
    requests = 0


class _Endpoint(asyncio.Protocol):
    """Parses pipelined requests from one connection and answers each in order."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[tuple[str, str, bool] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.task = asyncio.get_running_loop().create_task(self._answer())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            length = 0
            close = False
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            method, target, _version = head[0].split(" ", 2)
            self.queue.put_nowait((method, target, close))

    async def _answer(self) -> None:
        assert self.transport is not None
        while True:
            item = await self.queue.get()
            if item is None:
                return
            _method, target, close = item
            parts = target.split("?", 1)[0].strip("/").split("/")
            if parts[0] == "_count":
                self._write(200, str(_Counter.requests).encode(), close)
                continue
            _Counter.requests += 1
            if parts[0] == "hang":
                await asyncio.Event().wait()  # held until the client closes the connection
            delay_ms = int(parts[0]) if parts[0].isdigit() else 0
            status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            whatsapp = len(parts) > 2 and parts[2] == "whatsapp"
            self._write(status, _WHATSAPP if whatsapp else _BODY, close)
            if close:
                self.transport.close()
                return

    def _write(self, status: int, body: bytes, close: bool) -> None:
        assert self.transport is not None
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Endpoint, host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def closed_port(host: str = "127.0.0.1") -> int:
    """A loopback port with nothing listening: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


class ServerProcess:
    """The endpoint in a child process; ``with ServerProcess() as server: server.url(...)``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--host", self.host, "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def count(self) -> int:
        with urllib.request.urlopen(self.url("_count"), timeout=10) as answer:
            return int(answer.read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (127.0.0.0/8)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not args.host.startswith("127."):
        parser.error("the benchmark server only listens on loopback addresses")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
