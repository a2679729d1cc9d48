"""Fixtures: a running mastodon-mock (a third-party fake of the Mastodon API)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class MockServer:
    """A started mastodon-mock with one account, and its user token."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.token}"})


def _executable() -> list[str]:
    found = shutil.which("mastodon_mock", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("mastodon-mock is not installed: run `python -m uv sync --all-packages`")
    return [found]


@pytest.fixture(scope="session")
def mastodon_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockServer]:
    """mastodon-mock on a free 127.0.0.1 port, with an app, a user and its token (the real flow)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("mastodon-mock") / "server.log"
    command = [
        *_executable(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--domain",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/instance", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mastodon-mock did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        app = httpx.post(
            base + "/api/v1/apps",
            data={
                "client_name": "unipost",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": "read write",
            },
        ).json()
        app_token = httpx.post(
            base + "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read write",
            },
        ).json()["access_token"]
        account = httpx.post(
            base + "/api/v1/accounts",
            headers={"Authorization": f"Bearer {app_token}"},
            data={
                "username": "alice",
                "email": "alice@example.test",
                "password": "alice-pass-123",
                "agreement": "true",
            },
        ).json()
        yield MockServer(base, account["access_token"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
