"""Relays for the tests: real nostr-relay processes, and a scriptable WebSocket fake.

The real relay is ``nostr-relay`` (PyPI; it checks every event's id and BIP-340
signature before storing it), installed on first use by
``scripts/ci/install-nostr-relay.sh`` into ``.cache/nostr-relay``. The fake answers
what a test scripts (``blocked:``, ``rate-limited:``, silence...) and checks each
event with an independent implementation, rust-nostr (``nostr-sdk``).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nostr_sdk
import pytest
from websockets.asyncio.server import ServerConnection, serve

from unipost.redact import forget_secrets

REPO = Path(__file__).resolve().parents[3]
INSTALLER = REPO / "scripts" / "ci" / "install-nostr-relay.sh"
RELAY_DIR = Path(os.environ.get("UNIPOST_NOSTR_RELAY_DIR", REPO / ".cache" / "nostr-relay"))
STARTUP = 90.0
#: A throwaway key for tests (NIP-06's first test vector is not used: any 32 bytes do).
SECRET_HEX = "7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def independently_valid(event: dict[str, Any]) -> bool:
    """rust-nostr's verdict on an event: its id (NIP-01 serialization) and signature."""
    try:
        parsed = nostr_sdk.Event.from_json(json.dumps(event))
    except Exception:
        return False
    return bool(parsed.verify_id() and parsed.verify_signature())


class FakeRelay:
    """A WebSocket relay in a thread: verifies events, answers ``OK`` as scripted."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.answer = "ok"  # ok | duplicate | blocked | rate-limited | auth-required | silent
        self.received: list[dict[str, Any]] = []
        self.verdicts: list[bool] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FakeRelay:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake relay did not start")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    def reset(self, answer: str = "ok") -> None:
        self.answer = answer
        self.received.clear()
        self.verdicts.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = self._loop.create_future()
        async with serve(self._handle, "127.0.0.1", self.port):
            self._ready.set()
            await self._stop

    async def _handle(self, websocket: ServerConnection) -> None:
        async for frame in websocket:
            message = json.loads(frame)
            if message[0] != "EVENT":
                continue
            event = message[1]
            self.received.append(event)
            valid = independently_valid(event)
            self.verdicts.append(valid)
            if not valid:
                reply = ["OK", event.get("id"), False, "invalid: bad signature or id"]
            elif self.answer == "silent":
                await websocket.send(json.dumps(["NOTICE", "thinking about it"]))
                continue
            elif self.answer == "ok":
                reply = ["OK", event["id"], True, ""]
            elif self.answer == "duplicate":
                reply = ["OK", event["id"], False, "duplicate: already have this event"]
            else:
                reply = ["OK", event["id"], False, f"{self.answer}: scripted by the test"]
            await websocket.send(json.dumps(["NOTICE", "welcome"]))  # noise before the OK
            await websocket.send(json.dumps(reply))


@pytest.fixture(scope="session")
def fake_relay_server() -> Iterator[FakeRelay]:
    relay = FakeRelay().start()
    try:
        yield relay
    finally:
        relay.stop()


@pytest.fixture
def fake_relay(fake_relay_server: FakeRelay) -> FakeRelay:
    fake_relay_server.reset()
    return fake_relay_server


def _relay_binary() -> Path:
    binary = RELAY_DIR / "venv" / "bin" / "nostr-relay"
    if not binary.exists():
        subprocess.run(["bash", str(INSTALLER), str(RELAY_DIR)], check=True, timeout=900)
    return binary


def _start_relay(binary: Path, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    config.write_text(
        f"""DEBUG: false
relay_name: unipost test relay {port}
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{work}/nostr.sqlite3
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
gunicorn:
  bind: 127.0.0.1:{port}
  workers: 1
  loglevel: warning
authentication:
  enabled: false
"""
    )
    with (work / "relay.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [str(binary), "-c", str(config), "serve", "--use-uvicorn"],
            cwd=work,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, f"ws://127.0.0.1:{port}"


def _wait(process: subprocess.Popen[bytes], relay: str, work: Path) -> None:
    url = "http" + relay.removeprefix("ws")
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            info = httpx.get(url, headers={"Accept": "application/nostr+json"}, timeout=2)
            if info.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"nostr-relay did not start: {(work / 'relay.log').read_text()[-2000:]}")
        time.sleep(0.25)


@pytest.fixture(scope="session")
def real_relays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two nostr-relay processes on free 127.0.0.1 ports."""
    binary = _relay_binary()
    base = tmp_path_factory.mktemp("nostr-relay")
    started = [_start_relay(binary, base / f"relay{n}") for n in (1, 2)]
    try:
        for (process, relay), n in zip(started, (1, 2), strict=True):
            _wait(process, relay, base / f"relay{n}")
        yield [relay for _, relay in started]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


async def fetch(relay: str, event_id: str) -> list[dict[str, Any]]:
    """Read events back from a relay with ``REQ`` (ids filter) until ``EOSE``."""
    from websockets.asyncio.client import connect

    found: list[dict[str, Any]] = []
    async with asyncio.timeout(10), connect(relay) as websocket:
        await websocket.send(json.dumps(["REQ", "readback", {"ids": [event_id]}]))
        while True:
            message = json.loads(await websocket.recv())
            if message[0] == "EVENT":
                found.append(message[2])
            elif message[0] == "EOSE":
                return found
