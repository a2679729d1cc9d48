"""The must-show: Meta's status feed reports a major outage, and nothing is sent to Meta.

Real parts only: the Meta plugin's Facebook channel (pointed at a local
stand-in for Graph that counts what reaches it), the e-mail channel against
a real SMTP server (aiosmtpd) on 127.0.0.1, and metastatus.com's
``orgs.json`` served by a local status server with ETag and Last-Modified.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from unipost_meta import FacebookChannel
from unipost_meta.status import METASTATUS_URL, status_sources

from tests.status.conftest import FeedServer, Page, document
from unipost import Dispatcher, MemoryStore, Post, State, first_of
from unipost.breaker import BreakerState
from unipost.channels.email import EmailChannel
from unipost.clock import SystemClock
from unipost.events import Event
from unipost.status_poll import StatusSettings
from unipost.testing import EventRecorder, VirtualClock

pytestmark = pytest.mark.integration

ORGS = "/data/orgs.json"


class _Graph(BaseHTTPRequestHandler):
    """Stands in for graph.facebook.com and counts every request that reaches it."""

    server: _GraphServer

    def _answer(self, body: dict[str, Any]) -> None:
        with self.server.lock:
            self.server.requests.append(f"{self.command} {self.path.split('?')[0]}")
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(
            {
                "id": "1234567890",
                "name": "Bakery",
                "permalink_url": "https://www.facebook.com/1234567890/posts/42",
            }
        )

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self._answer({"id": "1234567890_42"})

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test counts requests."""


class _GraphServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Graph)
        self.lock = threading.Lock()
        self.requests: list[str] = []


@pytest.fixture
def graph() -> Iterator[_GraphServer]:
    server = _GraphServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 OK queued"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


def channels(graph: _GraphServer, smtp_port: int) -> dict[str, Any]:
    facebook = FacebookChannel(
        id="facebook", page_id="1234567890", token="EAAG-page-token-for-tests",
        base_url=f"http://127.0.0.1:{graph.server_address[1]}",
    )  # fmt: skip
    mail = EmailChannel(
        id="email", host="127.0.0.1", port=smtp_port, security="none",
        from_addr="Bakery <news@bakery.example>", to=("bob@example.test",),
    )  # fmt: skip
    return {"facebook": facebook, "email": mail}


def meta_feed(feeds: FeedServer, facebook: FacebookChannel) -> Any:
    """The source the Meta plugin declares for a real Facebook channel, served locally."""
    real = FacebookChannel(id="real", page_id=facebook.page_id, token="EAAG-page-token-for-tests")
    (declared,) = status_sources(real, "graph-api")
    assert declared.url == METASTATUS_URL
    return type(declared)(
        domain=declared.domain, url=feeds.url(ORGS), format=declared.format,
        label=declared.label, components=declared.components,
    )  # fmt: skip


def test_a_reported_meta_outage_sends_nothing_to_meta_and_delivers_by_email(
    feeds: FeedServer, graph: _GraphServer, smtp: tuple[int, _Mailbox]
) -> None:
    port, mailbox = smtp
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json"), etag='"major-1"'))
    targets = channels(graph, port)
    clock = VirtualClock()
    recorder = EventRecorder()
    dispatcher = Dispatcher(
        channels=targets, store=MemoryStore(), clock=clock, observers=[recorder],
        status_sources=[meta_feed(feeds, targets["facebook"])],
        status=StatusSettings(interval=300),
    )  # fmt: skip

    async def scenario() -> None:
        # The worker's poller reads the feed before any post is made.
        await dispatcher.status_poller.poll_due()
        assert dispatcher.breakers["meta"].state is BreakerState.OPEN
        transition = recorder.of("breaker.transition")[0].fields
        assert (transition["from"], transition["to"]) == ("closed", "open")
        report = await dispatcher.apublish(
            Post(text="Fresh croissants until noon", id="p1"), first_of("facebook", "email")
        )
        assert report.ok, str(report)
        assert graph.requests == []  # not one request reached Meta
        assert len(mailbox.messages) == 1
        assert "Fresh croissants until noon" in mailbox.messages[0].get_body().get_content()
        assert report["facebook"].state is State.SKIPPED
        assert report["facebook"].line() == (
            "- facebook       skipped    superseded: email delivered; before that: Meta reports "
            "a major outage of the Graph API (Graph API: High disruptions) since 14:02 UTC"
        )
        assert recorder.of("status.advisory")[0].fields["severity"] == "major"

        # Meta says all is well again: the advice goes, the breaker stays open.
        feeds.serve(ORGS, Page(body=document("metastatus-orgs-ok.json"), etag='"ok-2"'))
        clock.advance(300)
        await dispatcher.status_poller.poll_due()
        data = dispatcher.breakers["meta"].data
        assert data.state is BreakerState.OPEN
        assert data.advisory == ""
        assert graph.requests == []
        assert feeds.requests(ORGS)[1].headers["if-none-match"] == '"major-1"'

        # Only a real delivery closes it: the next post to Facebook is the half-open probe.
        probe = await dispatcher.apublish(Post(text="Open 9-5", id="p2"), "facebook")
        assert probe.ok, str(probe)
        assert dispatcher.breakers["meta"].state is BreakerState.CLOSED
        assert "POST /v23.0/1234567890/feed" in graph.requests

    try:
        asyncio.run(scenario())
    finally:
        dispatcher.close()


def test_the_worker_polls_the_feeds_while_it_delivers(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json")))
    facebook = FacebookChannel(
        id="facebook", page_id="1234567890", token="EAAG-page-token-for-tests"
    )
    advised = threading.Event()

    def observe(event: Event) -> None:
        if event.name == "status.advisory":
            advised.set()

    dispatcher = Dispatcher(
        channels={"facebook": facebook}, store=MemoryStore(), clock=SystemClock(),
        status_sources=[meta_feed(feeds, facebook)], observers=[observe],
    )  # fmt: skip

    async def run() -> None:
        async with dispatcher.worker(poll=0.05):
            assert await asyncio.to_thread(advised.wait, 10)

    try:
        asyncio.run(run())
    finally:
        dispatcher.close()
    assert len(feeds.requests(ORGS)) == 1
    assert dispatcher.breakers["meta"].data.advised_open
