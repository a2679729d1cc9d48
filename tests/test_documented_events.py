"""Every event ``docs/writing-a-plugin.md`` names is really emitted, and a 429 says
``ratelimit.wait`` (issue 15: the docs named an event a 429 did not emit)."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pytest
from pytest_httpx import HTTPXMock

from unipost import Dispatcher, MemoryStore, Post, first_of
from unipost.credentials import DAY, CredentialStatus, Expiry
from unipost.errors import Ambiguous, AuthFailed, Permanent, Transient
from unipost.plugin import Capabilities, Context, Idempotency
from unipost.testing import (
    EventRecorder,
    FakeChannel,
    FakeServer,
    VirtualClock,
    fake_channel,
    lands_later,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def documented() -> list[str]:
    """The event names listed under ``### unipost_publish_event(event)``."""
    text = (DOCS / "writing-a-plugin.md").read_text(encoding="utf-8")
    section = text.split("### unipost_publish_event(event)", 1)[1]
    listing = section.split("— for metrics", 1)[0]
    return re.findall(r"`([a-z_]+(?:\.[a-z_]+)*)`", listing)


@pytest.fixture
def shout(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(DOCS / "examples"))
    module = __import__("shout_plugin")
    yield module
    sys.modules.pop("shout_plugin", None)


def test_a_429_emits_ratelimit_wait_with_the_platforms_retry_after(
    shout: ModuleType, httpx_mock: HTTPXMock
) -> None:
    url = "https://api.shout.example/statuses"
    httpx_mock.add_response(method="POST", url=url, status_code=429, headers={"Retry-After": "30"})
    httpx_mock.add_response(
        method="POST", url=url, json={"id": 7, "url": "https://shout.example/7"}
    )
    recorder = EventRecorder()
    clock = VirtualClock()
    channel = shout.ShoutChannel(id="shout", token="shout-token-0123456")
    with Dispatcher(
        channels={"shout": channel}, store=MemoryStore(), clock=clock, observers=[recorder]
    ) as dispatcher:
        dispatcher.publish(Post(text="Open at nine", id="p1"), "shout")
        dispatcher.drain(until=clock.now() + 600)  # the 30 s wait is the worker's
        assert dispatcher.report("p1").ok
    [wait] = recorder.of("ratelimit.wait")
    assert wait.fields["retry_after"] == 30.0
    assert wait.fields["status"] == 429
    assert wait.fields["wait_for"] >= 30.0
    assert "retry.scheduled" not in recorder.names(), "a wait for the limit is not a failure"
    assert clock.slept >= 30.0


@attrs.frozen(kw_only=True)
class Expiring(FakeChannel):
    async def check(self, ctx: Context) -> CredentialStatus:
        return CredentialStatus(
            summary="fake",
            expiries=(
                Expiry(credential="old token", at=ctx.now() - DAY),
                Expiry(credential="user token", at=ctx.now() + 2 * DAY),
            ),
        )


def run_every_scenario() -> set[str]:
    """One small scenario per kind of event, all observed by one recorder."""
    recorder = EventRecorder()
    clock = VirtualClock()
    lookup_caps = Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP)
    deleting_caps = Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP, deletes=True)
    keyed_caps = Capabilities(text_limit=500, idempotency=Idempotency.KEY | Idempotency.LOOKUP)

    async def keyless_server(_prepared: Any, ctx: Context) -> None:
        ctx.key_ignored("this server is not known to honour Idempotency-Key")

    servers = {
        "flaky": FakeServer(script=[Transient("503", status=503)]),
        "broken": FakeServer(script=[Permanent("400 bad request", status=400)]),
        "revoked": FakeServer(script=[AuthFailed("401 token revoked", status=401)]),
        "unsure": FakeServer(script=[Ambiguous("read timeout after sending")]),
        "down": FakeServer(script=[Transient("503", status=503) for _ in range(10)]),
        "slow": FakeServer(script=[Transient("503", status=503) for _ in range(50)]),
        "spare": FakeServer(),
        "keyless": FakeServer(script=[keyless_server]),
        "late": FakeServer(),
    }
    servers["late"].script = [lands_later(servers["late"], 45.0)]  # a resend leaves two posts
    channels: dict[str, Any] = {
        name: fake_channel(name, domain=name, server=server)
        for name, server in servers.items()
        if name not in ("unsure", "keyless", "late")
    }
    channels["late"] = fake_channel(
        "late", domain="late", server=servers["late"], capabilities=deleting_caps
    )
    channels["keyless"] = fake_channel(
        "keyless", domain="keyless", server=servers["keyless"], capabilities=keyed_caps
    )
    channels["unsure"] = fake_channel(
        "unsure", domain="unsure", server=servers["unsure"], capabilities=lookup_caps
    )
    channels["tokens"] = Expiring(id="tokens")
    with Dispatcher(
        channels=channels, store=MemoryStore(), clock=clock, observers=[recorder]
    ) as dispatcher:
        dispatcher.publish(Post(text="a", id="flaky"), "flaky")
        dispatcher.publish(Post(text="b", id="broken"), first_of("broken", "spare"))
        dispatcher.publish(Post(text="c", id="revoked"), "revoked")
        dispatcher.reauthorize("revoked")
        dispatcher.publish(Post(text="d", id="unsure"), "unsure")
        dispatcher.publish(Post(text="k", id="keyless"), "keyless")
        for n in range(6):  # enough failures to open the breaker, then it recovers
            dispatcher.publish(Post(text=f"e{n}", id=f"down{n}"), "down", deadline=1)
        ttl = dt.timedelta(minutes=2)
        dispatcher.publish(Post(text="f", id="slow", ttl=ttl), "slow", deadline=1)
        dispatcher.publish(Post(text="l", id="late"), "late")
        dispatcher.drain(until=clock.now() + 3600)
        [late] = dispatcher.store.query(post_id="late")
        dispatcher.remove_duplicate(late.id)
        dispatcher.check_credentials("tokens")
    return set(recorder.names())


def test_every_documented_event_is_emitted() -> None:
    names = documented()
    assert "ratelimit.wait" in names
    assert len(names) >= 15
    emitted = run_every_scenario() | {"ratelimit.wait"}  # the 429 test above proves this one
    assert set(names) - emitted == set()
