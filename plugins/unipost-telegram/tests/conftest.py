"""Shared helpers: Bot API URLs, real error bodies, and the spec checker for requests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from unipost.redact import forget_secrets

DATA = Path(__file__).parent / "data"
SPEC = json.loads((DATA / "telegram-bot-api-subset.json").read_text())
ERRORS: dict[str, Any] = json.loads((DATA / "errors.json").read_text())
TOKEN = "123456:AAH-test-token-telegram_0123456789"
API = f"https://api.telegram.org/bot{TOKEN}"


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Any:
    yield
    forget_secrets()


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def message(message_id: int, chat: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A Message as the Bot API returns it for a public channel."""
    chat = chat or {
        "id": -1001234567890,
        "title": "Bakery news",
        "username": "bakery_news",
        "type": "channel",
    }
    return {"message_id": message_id, "date": 1764770000, "chat": chat, **extra}


def error(name: str) -> dict[str, Any]:
    """``status_code`` and ``json`` of a real error body from ``data/errors.json``."""
    entry = ERRORS[name]
    return {"status_code": entry["status"], "json": entry["body"]}


def call_params(request: httpx.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The parameters of a Bot API call (JSON or multipart) and its uploaded files."""
    if request.method == "GET":  # the Bot API takes a query string too
        return dict(request.url.params), {}
    body = request.read()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return json.loads(body), {}
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if content_type.startswith("multipart/form-data"):
        parsed = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in parsed.iter_parts():
            name = str(part.get_param("name", header="content-disposition"))
            payload = part.get_payload(decode=True)
            if part.get_filename():
                files[name] = payload
            else:
                params[name] = payload.decode()
    return params, files


def _type_ok(spec_type: str, value: Any, *, form: bool) -> bool:
    """Does ``value`` have the spec's type? Form values are strings (objects as JSON)."""
    if spec_type.startswith("Array of "):
        if form and isinstance(value, str):
            value = json.loads(value)
        inner = spec_type.removeprefix("Array of ")
        return isinstance(value, list) and all(_type_ok(inner, item, form=False) for item in value)
    if spec_type == "Integer":
        if form and isinstance(value, str):
            return value.lstrip("-").isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    if spec_type == "String":
        return isinstance(value, str)
    if spec_type == "Boolean":
        return (
            value in ("true", "false")
            if form and isinstance(value, str)
            else isinstance(value, bool)
        )
    if spec_type == "InputFile":
        return False  # files travel as multipart parts, never as a parameter value
    if spec_type in SPEC["types"]:
        if form and isinstance(value, str):
            value = json.loads(value)
        return isinstance(value, dict) and not check_object(SPEC["types"][spec_type], value)
    return False  # a type outside the subset (InputMediaAudio...): the channel never sends one


def check_object(spec: dict[str, Any], value: dict[str, Any], *, form: bool = False) -> list[str]:
    """Problems of ``value`` against a method's or type's fields (empty: valid)."""
    fields = {f["name"]: f for f in spec.get("fields", [])}
    problems = [f"unknown field {name!r}" for name in value if name not in fields]
    for name, field in fields.items():
        if name not in value:
            if field["required"]:
                problems.append(f"missing required {name!r}")
            continue
        if not any(_type_ok(t, value[name], form=form) for t in field["types"]):
            problems.append(f"{name!r} is not {' or '.join(field['types'])}: {value[name]!r}")
    return problems


def check_call(request: httpx.Request) -> dict[str, Any]:
    """Validate one Bot API request against the spec; return its parameters."""
    method = request.url.path.rsplit("/", 1)[-1]
    assert method in SPEC["methods"], f"{method} is not in the spec subset"
    spec = SPEC["methods"][method]
    params, files = call_params(request)
    form = not request.headers.get("content-type", "").startswith("application/json")
    fields = {f["name"]: f for f in spec.get("fields", [])}
    uploaded = {name for name in files if name in fields}
    for name in uploaded:  # a file part named like a field must be an InputFile field
        assert "InputFile" in fields[name]["types"], f"{method}.{name} cannot be a file"
    problems = [
        p
        for p in check_object(spec, params, form=form)
        if p not in {f"missing required {name!r}" for name in uploaded}
    ]
    assert not problems, f"{method}: {problems}"
    media = params.get("media", [])
    for entry in json.loads(media) if isinstance(media, str) else media:
        if entry["media"].startswith("attach://"):  # other parts are attach:// targets
            assert entry["media"].removeprefix("attach://") in files, f"no part for {entry}"
    return params


# -- telegram-test-api: a third-party fake of the Bot API (text methods only) -----------

REPO = Path(__file__).resolve().parents[3]
INSTALLER = REPO / "scripts" / "ci" / "install-telegram-test-api.sh"
FAKE_DIR = Path(
    os.environ.get("UNIPOST_TELEGRAM_TEST_API_DIR", REPO / ".cache" / "telegram-test-api")
)
SERVER_JS = """
const TelegramServer = require('telegram-test-api');
const port = parseInt(process.argv[2], 10);
const server = new TelegramServer({ port, host: '127.0.0.1', storage: 'RAM', storeTimeout: 60 });
server.start().then(() => console.log('listening'));
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
"""


@pytest.fixture(scope="session")
def telegram_test_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """telegram-test-api on a free 127.0.0.1 port; yields its base URL."""
    if not (FAKE_DIR / "node_modules" / "telegram-test-api").exists():
        subprocess.run(["bash", str(INSTALLER), str(FAKE_DIR)], check=True, timeout=600)
    work = tmp_path_factory.mktemp("telegram-test-api")
    (work / "server.js").write_text(SERVER_JS)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "NODE_PATH": str(FAKE_DIR / "node_modules")}
    with (work / "server.log").open("wb") as log:
        process = subprocess.Popen(
            ["node", str(work / "server.js"), str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"listening" not in (work / "server.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"telegram-test-api did not start: {(work / 'server.log').read_text()}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
