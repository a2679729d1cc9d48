"""Regression tests for issue #14 items decided by one rule in the engine or the channel base."""

from __future__ import annotations

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_bluesky import BlueskyChannel
from unipost_mastodon import MastodonChannel

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.errors import Ambiguous, ConfigurationError, ContentRejected
from unipost.testing import FakeServer, VirtualClock, deliver, fake_channel


def test_plain_http_credentials_are_refused_when_the_config_loads() -> None:
    """#14.6: refused at load, naming the channel type's real key — nothing queued."""
    with pytest.raises(ConfigurationError) as caught:
        MastodonChannel.from_settings(
            "shop", {"instance": "http://social.example", "token": "t0k3n-123"}
        )
    assert caught.value.field == "channels.shop.instance"
    assert "https://" in caught.value.fix
    local = MastodonChannel.from_settings(
        "dev", {"instance": "http://127.0.0.1:3000", "token": "t0k3n-123"}
    )
    assert local.instance.startswith("http://127.0.0.1")


def test_an_off_spec_200_is_ambiguous_not_a_crash(httpx_mock: HTTPXMock) -> None:
    """#14.9: a Bluesky 200 without `uri` (a real answer from another endpoint)."""
    xrpc = "https://pds.example/xrpc"
    httpx_mock.add_response(
        url=f"{xrpc}/com.atproto.server.createSession",
        json={"accessJwt": "a", "refreshJwt": "r", "did": "did:plc:x", "handle": "bakery.example"},
    )
    httpx_mock.add_response(url=f"{xrpc}/com.atproto.repo.createRecord", json={"ok": True})
    settings = {
        "handle": "bakery.example",
        "app_password": "abcd-efgh-ijkl-mnop",
        "base_url": "https://pds.example",
    }
    with pytest.raises(Ambiguous, match="uri"):
        deliver(BlueskyChannel.from_settings("bluesky", settings), Post(text="hello"))


def test_an_exception_inside_a_flow_becomes_a_typed_error(httpx_mock: HTTPXMock) -> None:
    """#14.9: any other exception in a flow is classified, never a traceback."""
    from unipost.channel import Context, Prepared, Receipt
    from unipost.context import Flow

    class Sloppy(type(fake_channel("x"))):  # type: ignore[misc]
        __slots__ = ()

        async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
            return await ctx.run(self._flow())

        def _flow(self) -> Flow[Receipt]:
            response = yield httpx.Request("POST", "https://api.example/posts")
            return Receipt(platform_id=response.json()["id"])  # KeyError on an odd answer

    httpx_mock.add_response(json={"status": "queued"})
    dispatcher = Dispatcher(
        channels={"x": Sloppy(id="x")}, store=MemoryStore(), clock=VirtualClock()
    )
    try:
        report = dispatcher.publish(Post(text="hi", id="p"), "x")
    finally:
        dispatcher.close()
    outcome = report["x"]
    assert outcome.state is State.AMBIGUOUS  # a create left: it may exist, held for a person
    assert "KeyError" in str(outcome.reason)


def test_no_attempt_starts_without_time_to_finish_it() -> None:
    """#14.18: an attempt that cannot finish before the deadline is not started."""
    server = FakeServer()
    channel = fake_channel("a", server=server)
    dispatcher = Dispatcher(
        channels={"a": channel}, store=MemoryStore(), clock=VirtualClock(), min_attempt_window=2.0
    )
    try:
        report = dispatcher.publish(Post(text="hi", id="p"), "a", deadline=1.0)
    finally:
        dispatcher.close()
    assert server.attempts == []
    assert report["a"].state is State.PENDING  # untouched: the worker sends it


def test_a_thread_has_a_cap_on_its_parts(httpx_mock: HTTPXMock) -> None:
    """#14.13: 70,000 characters would be 150 Mastodon parts: refused before sending."""
    channel = MastodonChannel.from_settings(
        "m", {"instance": "https://social.example", "token": "t0k3n-123"}
    )
    with pytest.raises(ContentRejected, match="max_parts") as caught:
        channel.prepare(Post(text="word " * 14_000))
    assert caught.value.field == "m.text"
    roomy = MastodonChannel.from_settings(
        "m", {"instance": "https://social.example", "token": "t0k3n-123", "max_parts": 20}
    )
    assert 10 < len(roomy.prepare(Post(text="word " * 1_400)).parts) <= 20
