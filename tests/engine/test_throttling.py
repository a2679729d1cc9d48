"""#14.1–2: a throttled platform gets a real back-off, never more requests.

A minute of throttling on the virtual clock, through the real plugins and a
dispatcher (inline publish, then the worker): the platform receives at most
the inline attempt budget, plus nothing more within the minute.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_bluesky import BlueskyChannel
from unipost_mastodon import MastodonChannel
from unipost_meta import FacebookChannel

from unipost import Dispatcher, MemoryStore, Post
from unipost.channel import Channel
from unipost.retry import INLINE
from unipost.testing import VirtualClock

BUDGET = INLINE.attempts or 0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def throttled(clock: VirtualClock) -> Iterator[Any]:
    made: list[Dispatcher] = []

    def run(channel: Channel) -> None:
        dispatcher = Dispatcher(
            channels={channel.id: channel}, store=MemoryStore(), clock=clock, seed=3
        )
        made.append(dispatcher)
        start = clock.now()
        report = dispatcher.publish(
            Post(text="Open 9-5 today", id="hours"), channel.id, deadline=60
        )
        assert not report.ok
        dispatcher.drain(until=start + 60)
        assert clock.now() <= start + 61

    yield run
    for dispatcher in made:
        dispatcher.close()


def _past(clock: VirtualClock, seconds: float) -> float:
    return clock.now() - seconds


def test_mastodon_429_with_a_reset_in_the_past_is_not_a_tight_loop(
    httpx_mock: HTTPXMock, clock: VirtualClock, throttled: Any
) -> None:
    base = "https://social.example"
    reset = dt.datetime.fromtimestamp(_past(clock, 30), dt.UTC).isoformat()
    httpx_mock.add_response(
        url=f"{base}/api/v2/instance",
        json={
            "version": "4.3.2",
            "configuration": {
                "statuses": {
                    "max_characters": 500,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                }
            },
        },
        is_optional=True,
        is_reusable=True,
    )
    httpx_mock.add_response(
        method="POST",
        url=f"{base}/api/v1/statuses",
        status_code=429,
        headers={"X-RateLimit-Reset": reset},
        json={"error": "Too many requests"},
        is_reusable=True,
    )
    throttled(MastodonChannel.from_settings("mastodon", {"instance": base, "token": "tok-123456"}))
    posts = httpx_mock.get_requests(method="POST")
    assert 1 <= len(posts) <= BUDGET, f"{len(posts)} POSTs in a minute of throttling"


def test_bluesky_create_session_429_is_paid_for_once_per_attempt(
    httpx_mock: HTTPXMock, clock: VirtualClock, throttled: Any
) -> None:
    pds = "https://pds.example"
    httpx_mock.add_response(
        url=f"{pds}/xrpc/com.atproto.server.createSession",
        status_code=429,
        headers={"RateLimit-Reset": str(int(_past(clock, 5)))},
        json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        is_reusable=True,
    )
    settings = {"handle": "bakery.example", "app_password": "abcd-efgh-ijkl-mnop", "base_url": pds}
    throttled(BlueskyChannel.from_settings("bluesky", settings))
    sessions = httpx_mock.get_requests(url=f"{pds}/xrpc/com.atproto.server.createSession")
    assert 1 <= len(sessions) <= BUDGET, f"{len(sessions)} createSession calls in a minute"


def test_graph_throttling_without_usage_headers_backs_off(
    httpx_mock: HTTPXMock, throttled: Any
) -> None:
    """Meta code 4/17/32/613 without a 100 % usage header: Meta's own guidance is to stop."""
    httpx_mock.add_response(
        method="POST",
        status_code=400,
        json={
            "error": {
                "message": "(#4) Application request limit reached",
                "type": "OAuthException",
                "code": 4,
                "is_transient": True,
                "fbtrace_id": "A1",
            }
        },
        is_reusable=True,
    )
    throttled(
        FacebookChannel.from_settings(
            "facebook", {"page_id": "1234567890", "token": "EAAtoken12345"}
        )
    )
    feed = [r for r in httpx_mock.get_requests() if r.method == "POST"]
    assert len(feed) == 1, f"{len(feed)} POST /feed in a minute of Graph throttling"


def test_a_cut_safe_read_is_not_ambiguous() -> None:
    """#14.4: only a request that may create makes a cut attempt ambiguous."""
    import asyncio

    from unipost.context import Context

    async def send(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "IN_PROGRESS"}, request=request)

    async def never(_seconds: float) -> None:
        await asyncio.sleep(0)

    ctx = Context(
        delivery_key="k",
        attempt=1,
        post_id="p",
        now=lambda: 0.0,
        deadline=10.0,
        send=send,
        sleep=never,
    )
    asyncio.run(ctx.request(httpx.Request("GET", "https://graph.example/c1")))
    assert not ctx.may_have_applied
    asyncio.run(
        ctx.request(
            httpx.Request(
                "POST", "https://graph.example/c1/publish", extensions={"unipost.safe": True}
            )
        )
    )
    assert not ctx.may_have_applied
    asyncio.run(ctx.request(httpx.Request("POST", "https://graph.example/feed")))
    assert ctx.may_have_applied


def test_a_create_cut_while_connecting_is_not_ambiguous() -> None:
    """A create cut while its connection is being set up never left: the cut is "not sent".

    Real sockets on 127.0.0.1: a listener whose accept queue is full (its
    SYNs go unanswered, so the connect hangs), and one that reads the whole
    request and never answers (it may have been applied).
    """
    import asyncio
    import socket
    import threading

    from unipost.context import Context

    sockets: list[socket.socket] = []

    def full_queue() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(0)
        sockets.append(sock)
        for _ in range(3):  # fill the queue; later connects wait for a SYN-ACK
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(sock.getsockname())
            sockets.append(filler)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/posts"

    def silent() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sockets.append(sock)

        def serve() -> None:
            with contextlib.suppress(OSError):
                conn, _ = sock.accept()
                sockets.append(conn)  # kept open, never answered
                conn.recv(65536)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{sock.getsockname()[1]}/posts"

    async def cut(url: str) -> bool:
        async with httpx.AsyncClient(timeout=30.0) as client:

            async def send(request: httpx.Request) -> httpx.Response:
                return await client.send(request)

            ctx = Context(
                delivery_key="k",
                attempt=1,
                post_id="p",
                now=lambda: 0.0,
                deadline=10.0,
                send=send,
                sleep=asyncio.sleep,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await ctx.request(httpx.Request("POST", url, json={"text": "hi"}))
            return ctx.may_have_applied

    try:
        assert asyncio.run(cut(full_queue())) is False
        assert asyncio.run(cut(silent())) is True
    finally:
        for sock in sockets:
            sock.close()
