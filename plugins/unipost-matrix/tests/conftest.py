"""A real Synapse on 127.0.0.1 for the integration tests, installed on first use.

The homeserver comes from ``scripts/ci/install-synapse.sh`` (PyPI ``matrix-synapse`` in a
venv under ``.cache/synapse``); each test session writes its own config, starts Synapse on a
free port, registers a user with the shared secret, logs in, creates a room, and stops the
server at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from unipost.redact import forget_secrets

DATA = Path(__file__).parent / "data"
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
REPO = Path(__file__).resolve().parents[3]
INSTALLER = REPO / "scripts" / "ci" / "install-synapse.sh"
SYNAPSE_DIR = Path(os.environ.get("UNIPOST_SYNAPSE_DIR", REPO / ".cache" / "synapse"))
STARTUP = 90.0  # seconds; Synapse is ready in about 2 s on an idle machine


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def error(name: str) -> dict[str, Any]:
    entry = ERRORS[name]
    return {"status_code": entry["status"], "json": entry["body"]}


@attrs.frozen
class Account:
    user_id: str
    token: str


@attrs.frozen
class Synapse:
    """A running homeserver, its admin-registered accounts and a room of the first."""

    base: str
    alice: Account
    bob: Account
    room_id: str

    def get(self, path: str, token: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {token}"})

    def login(self, user: str, password: str) -> str:
        """A new access token (a new device) for ``user``."""
        return _login(self.base, user, password).token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _python() -> Path:
    python = SYNAPSE_DIR / "venv" / "bin" / "python"
    if not python.exists():
        subprocess.run(["bash", str(INSTALLER), str(SYNAPSE_DIR)], check=True, timeout=900)
    return python


def _config(work: Path, port: int, secret: str) -> Path:
    config = work / "homeserver.yaml"
    config.write_text(
        f"""server_name: "localhost"
pid_file: {work}/homeserver.pid
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {work}/homeserver.db
media_store_path: {work}/media_store
signing_key_path: {work}/localhost.signing.key
log_config: {work}/log.yaml
registration_shared_secret: "{secret}"
macaroon_secret_key: "{secrets.token_hex(16)}"
form_secret: "{secrets.token_hex(16)}"
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
url_preview_enabled: false
enable_metrics: false
rc_message: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
"""
    )
    (work / "log.yaml").write_text(
        f"""version: 1
formatters: {{precise: {{format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}}}
handlers: {{file: {{class: logging.FileHandler, filename: {work}/synapse.log, formatter: precise}}}}
root: {{level: WARNING, handlers: [file]}}
disable_existing_loggers: false
"""
    )
    return config


def _register(python: Path, base: str, secret: str, user: str, password: str) -> Account:
    tool = python.parent / "register_new_matrix_user"
    subprocess.run(
        [str(tool), "-u", user, "-p", password, "--no-admin", "-k", secret, base],
        check=True,
        timeout=60,
        capture_output=True,
    )
    return _login(base, user, password)


def _login(base: str, user: str, password: str) -> Account:
    login = httpx.post(
        f"{base}/_matrix/client/v3/login",
        json={
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
        },
    )
    login.raise_for_status()
    body = login.json()
    return Account(user_id=body["user_id"], token=body["access_token"])


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    python = _python()
    work = tmp_path_factory.mktemp("synapse")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    secret = secrets.token_hex(16)
    config = _config(work, port, secret)
    module = ["-m", "synapse.app.homeserver", "--config-path", str(config)]
    subprocess.run(
        [str(python), *module, "--generate-keys"],
        check=True,
        timeout=120,
        cwd=work,
        capture_output=True,
    )
    process = subprocess.Popen(
        [str(python), *module], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                if httpx.get(f"{base}/_matrix/client/versions", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = (work / "synapse.log").read_text() if (work / "synapse.log").exists() else ""
                pytest.fail(f"Synapse did not start on {base}: {log[-2000:]}")
            time.sleep(0.25)
        alice = _register(python, base, secret, "alice", "alice-pass-123")
        bob = _register(python, base, secret, "bob", "bob-pass-123")
        room = httpx.post(
            f"{base}/_matrix/client/v3/createRoom",
            headers={"Authorization": f"Bearer {alice.token}"},
            json={"name": "Bakery news", "preset": "private_chat"},
        )
        room.raise_for_status()
        yield Synapse(base=base, alice=alice, bob=bob, room_id=room.json()["room_id"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
