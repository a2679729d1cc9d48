"""No token, password or webhook URL in any repr, log line, report, exception or CLI output.

Channels are configured from environment variables with known secrets; then
posts succeed and fail (platforms that echo the secret back in their error
bodies included), and everything unipost produced is collected and searched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import pytest
from pytest_httpx import HTTPXMock

import unipost.plugins
from unipost import (
    Capabilities,
    Channel,
    Context,
    DeliveryFailed,
    Post,
    Prepared,
    Receipt,
    load_config,
    secret,
)
from unipost import cli as unipost_cli
from unipost.api import build_dispatcher
from unipost.channel import Flow
from unipost.errors import DeliveryError
from unipost.hookspecs import hookimpl
from unipost.plugins import PluginHost
from unipost.testing import EventRecorder, set_testing

HOOK_TOKEN = "t0k3n-Sup3rS3cret-9"
HOOK_URL = f"https://hooks.bakery.example/in/{HOOK_TOKEN}"
SIGNING_KEY = base64.b64encode(b"thirty-two bytes of signing key!").decode()
HOOK_SECRET = "whsec_" + SIGNING_KEY
SMTP_PASSWORD = "pa55-w0rd-smtp!"
BEARER = "tok_live_9f8e7d6c5b4a3"
API_URL = "https://api.chirp.example/v2/posts"
SECRETS = (HOOK_URL, HOOK_TOKEN, HOOK_SECRET, SIGNING_KEY, SMTP_PASSWORD, BEARER)


@attrs.frozen(kw_only=True)
class ChirpChannel(Channel):
    """A bearer-token API, as most platforms are."""

    name: ClassVar[str] = "chirp"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=280)
    token: str = secret()

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request(
            "POST",
            API_URL,
            json={"status": prepared.text},
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert response is not None
        return Receipt(platform_id=str(response.json()["id"]))

    def check_flow(self, ctx: Context) -> Flow[str]:
        response = yield httpx.Request(
            "GET", API_URL, headers={"Authorization": f"Bearer {self.token}"}
        )
        assert response is not None
        return "token accepted"


def _register(register: Any) -> None:
    register(ChirpChannel)


# pluggy keeps plugins in a set: a module object is hashable, a SimpleNamespace is not.
PLUGIN = types.ModuleType("test_plugin")
PLUGIN.unipost_register_channels = hookimpl(_register)  # type: ignore[attr-defined]

CONFIG = """
[outbox]
path = "{tmp}/outbox.sqlite3"

[channels.site]
type = "site"
directory = "{tmp}/site"

[channels.hook]
type = "webhook"
url = {{ env = "S_HOOK_URL" }}
secret = {{ env = "S_HOOK_SECRET" }}

[channels.chirp]
type = "chirp"
token = {{ env = "S_BEARER" }}

[channels.news]
type = "email"
host = "127.0.0.1"
port = {port}
security = "tls"
from_addr = "news@bakery.example"
username = "news@bakery.example"
password = {{ env = "S_SMTP_PASSWORD" }}
to = ["one@customers.example"]
timeout = 2
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    host = PluginHost(entry_points=[])
    host.register_plugin(PLUGIN, "chirp", distribution="tests")
    monkeypatch.setattr(unipost.plugins, "_default", host)
    config = CONFIG.format(tmp=tmp_path, port=free_port())
    (tmp_path / "unipost.toml").write_text(config, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.setenv("S_HOOK_URL", HOOK_URL)
    monkeypatch.setenv("S_HOOK_SECRET", HOOK_SECRET)
    monkeypatch.setenv("S_BEARER", BEARER)
    monkeypatch.setenv("S_SMTP_PASSWORD", SMTP_PASSWORD)
    with set_testing():
        yield tmp_path


def arrange_platforms(httpx_mock: HTTPXMock) -> None:
    """Successes first, then failures whose bodies echo the secrets back."""
    httpx_mock.add_response(url=HOOK_URL, method="POST", json={"id": "evt_1"})
    httpx_mock.add_response(url=API_URL, method="POST", json={"id": 101})
    httpx_mock.add_response(
        url=HOOK_URL,
        method="POST",
        status_code=400,
        text=f"signature did not verify with {HOOK_SECRET} at {HOOK_URL}",
        is_reusable=True,
    )
    httpx_mock.add_response(
        url=API_URL,
        method="POST",
        status_code=401,
        json={"error": f"The access token {BEARER} is invalid", "sent": f"Bearer {BEARER}"},
        is_reusable=True,
    )
    httpx_mock.add_response(
        url=API_URL,
        method="GET",
        status_code=401,
        text=f"unknown token={BEARER}",
        is_reusable=True,
    )
    httpx_mock.add_exception(
        httpx.ConnectError(f"cannot connect to {HOOK_URL}"),
        url=HOOK_URL,
        method="GET",
        is_reusable=True,
    )


def assert_clean(text: str) -> None:
    for value in SECRETS:
        assert value not in text, f"secret {value[:6]}… leaked"


def test_nothing_leaks_through_the_api(
    project: Path, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    arrange_platforms(httpx_mock)
    recorder = EventRecorder()
    config = load_config()
    dispatcher = build_dispatcher(config, observers=[recorder])
    seen: list[str] = [repr(config), repr(dispatcher)]
    seen.extend(repr(channel) + str(channel) for channel in config.channels.values())
    try:
        good = dispatcher.publish(Post(text="Open 9-5", id="good"), ["site", "hook", "chirp"])
        assert good.ok, str(good)
        bad = dispatcher.publish(Post(text="Open 9-5", id="bad"), ["hook", "chirp", "news"])
        assert not bad.ok
        assert bad["hook"].error_class == "permanent"
        assert bad["chirp"].error_class == "auth"
        assert bad["news"].error_class == "not_sent"
        for report in (good, bad, dispatcher.report("bad")):
            seen += [str(report), repr(report), report.to_json()]
            seen += [repr(outcome) for outcome in report.outcomes]
        with pytest.raises(DeliveryFailed) as failed:
            bad.raise_for_errors()
        seen += [str(failed.value), repr(failed.value)]
        for channel_id in ("hook", "chirp"):
            with pytest.raises(DeliveryError) as caught:
                dispatcher.check(channel_id)
            seen += [str(caught.value), repr(caught.value), repr(caught.value.detail)]
        seen += [repr(record) for record in dispatcher.store.query()]
    finally:
        dispatcher.close()
    seen += [event.message() + repr(event) for event in recorder.events]
    seen += [caplog.text, *(r.getMessage() for r in caplog.records)]

    everything = "\n".join(seen)
    assert "HTTP Request: POST" in caplog.text, "httpx's request log lines were captured"
    assert "[REDACTED]" in everything, "the echoed secrets were there, and were replaced"
    assert_clean(everything)
    outbox = b"".join(p.read_bytes() for p in project.glob("outbox.sqlite3*"))
    assert_clean(outbox.decode("utf-8", "replace"))


def test_nothing_leaks_through_the_cli(
    project: Path,
    httpx_mock: HTTPXMock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    arrange_platforms(httpx_mock)
    outputs: list[str] = []
    codes: list[int] = []
    for argv in (
        ["publish", "Open 9-5", "--to", "site,hook,chirp", "--id", "good"],
        ["publish", "Open 9-5", "--to", "hook,chirp,news", "--id", "bad", "--json"],
        ["outbox", "show", "bad"],
        ["outbox", "show", "bad", "--json"],
        ["outbox", "list", "--json"],
        ["outbox", "list"],
        ["channels"],
        ["channels", "--json"],
        ["check"],
        ["check", "--json", "hook", "chirp"],
    ):
        codes.append(unipost_cli.main(argv))
        out, err = capsys.readouterr()
        outputs += [out, err]
    assert codes == [0, 4, 0, 0, 0, 0, 0, 0, 1, 1], "bad: chirp blocked, news retrying → pending"
    bad = json.loads(outputs[2])
    assert {o["channel"]: o["error_class"] for o in bad["outcomes"]} == {
        "hook": "permanent",
        "chirp": "auth",
        "news": "not_sent",
    }
    outputs += [caplog.text]
    assert "HTTP Request: GET" in caplog.text
    assert_clean("\n".join(outputs))


def test_a_usage_error_never_shows_the_secret(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret value that fails validation is not echoed in the error either."""
    monkeypatch.setenv("S_HOOK_URL", f"hooks.bakery.example/in/{HOOK_TOKEN}")
    code = unipost_cli.main(["publish", "hi", "--to", "hook"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("unipost: channels.hook: url must be an absolute http(s) URL")
    assert_clean(out + err)


# -- a webhook whose token is in its URL, and a receiver that drops the connection -------------

PATH_TOKEN = "Qz7xK2pL9mW4vT8n"
QUERY_TOKEN = "s1g-8d7c6b5a4f3e"


@pytest.fixture
def dropping_receiver() -> Iterator[int]:
    """A loopback server that reads each request and closes the connection without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def test_a_path_token_never_leaks_when_the_receiver_drops_the_connection(
    project: Path,
    dropping_receiver: int,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook_url = f"http://127.0.0.1:{dropping_receiver}/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"
    monkeypatch.setenv("S_HOOK_URL", hook_url)
    secrets = (PATH_TOKEN, QUERY_TOKEN, f"/hooks/{PATH_TOKEN}")
    outputs: list[str] = []
    for argv in (
        ["publish", "Open 9-5", "--to", "hook", "--id", "drop", "-vv"],
        ["publish", "Open 9-5", "--to", "hook", "--id", "drop2", "--json", "--deadline", "2"],
        ["outbox", "list"],
        ["outbox", "list", "--json"],
        ["outbox", "show", "drop"],
        ["outbox", "show", "drop", "--json"],
        ["worker", "--once", "--json"],
        ["worker", "--once", "-vv"],
        ["channels", "--json"],
        ["preview", "hi", "--to", "hook", "--json"],
        ["check", "hook", "--json"],
        ["check", "hook"],
    ):
        unipost_cli.main(argv)
        out, err = capsys.readouterr()
        outputs += [out, err]
    everything = "\n".join(outputs)
    assert "ambiguous" in everything or "not_sent" in everything, "the drop was reported"
    assert "127.0.0.1" in everything, "where it went is still said, without path or query"
    for value in secrets:
        assert value not in everything, f"{value[:6]}… leaked"
    outbox = b"".join(p.read_bytes() for p in project.glob("outbox.sqlite3*"))
    for value in secrets:
        assert value.encode() not in outbox, f"{value[:6]}… is in the outbox file"
