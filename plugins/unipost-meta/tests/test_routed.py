"""Meta down, customers still reached: ``first_of(facebook, email)`` through the dispatcher.

The Graph API answers error code 2 ("service temporarily unavailable") to
every call; the ``meta`` breaker opens after five failures and every later
post goes straight to the e-mail alternative — a real SMTP server on
127.0.0.1 — without another request to Meta.
"""

from __future__ import annotations

import email
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from unipost_meta import FacebookChannel

from unipost import Dispatcher, MemoryStore, Post, first_of
from unipost.breaker import BreakerState
from unipost.channels.email import EmailChannel
from unipost.testing import EventRecorder, VirtualClock

GRAPH = re.compile(r"^https://graph\.facebook\.com/.*")
CODE_2 = {
    "error": {
        "message": "Service temporarily unavailable",
        "type": "FacebookApiException",
        "code": 2,
        "is_transient": True,
        "fbtrace_id": "AbCdEf",
    }
}


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 queued"


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int]]:
    handler = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_meta_outage_breaker_opens_and_email_delivers(
    httpx_mock: Any, inbox: tuple[_Inbox, int]
) -> None:
    handler, port = inbox
    httpx_mock.add_response(url=GRAPH, status_code=500, json=CODE_2, is_reusable=True)
    facebook = FacebookChannel.from_settings(
        "facebook", {"page_id": "1234567890", "token": "EAAtoken123456"}
    )
    mail = EmailChannel.from_settings(
        "email-list",
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_addr": "shop@bakery.example",
            "to": ["ann@example.com"],
        },
    )
    recorder = EventRecorder()
    clock = VirtualClock()
    dispatcher = Dispatcher(
        channels={"facebook": facebook, "email-list": mail},
        store=MemoryStore(),
        clock=clock,
        observers=[recorder],
        seed=11,
    )
    started = clock.now()
    try:
        reports = [
            dispatcher.publish(
                Post(text=f"Fresh bread batch {n}", id=f"bread-{n}"),
                to=first_of("facebook", "email-list"),
            )
            for n in range(10)
        ]
    finally:
        dispatcher.close()

    assert all(r.ok for r in reports), "\n".join(map(str, reports))
    assert all(r["email-list"].ok for r in reports)
    assert len(handler.messages) == 10
    assert sorted(m["Subject"] for m in handler.messages) == sorted(
        f"Fresh bread batch {n}" for n in range(10)
    )
    graph_requests = httpx_mock.get_requests()
    assert 5 <= len(graph_requests) <= 6, [
        str(r.url) for r in graph_requests
    ]  # 5 failures, at most one probe
    assert dispatcher.breakers["meta"].state in (BreakerState.OPEN, BreakerState.HALF_OPEN)
    transitions = [e.fields for e in recorder.of("breaker.transition")]
    assert {"domain": "meta", "from": "closed", "to": "open"}.items() <= transitions[0].items()
    for report in reports[3:]:  # once open: no request to Meta at all, straight to email
        assert report["facebook"].attempts == ()
        assert report["facebook"].state.value == "skipped"
    assert clock.now() - started < 60, "the outage must not cost the waiting of every timeout"
