"""Two whole-system properties: an outage costs probes, not retries; a fan-out is concurrent."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.dispatch.invariants import Rig
from unipost import Dispatcher, MemoryStore, Post, ReportStatus, State, all_of, first_of
from unipost.channels.webhook import WebhookChannel
from unipost.classify import error_for_exception
from unipost.clock import SystemClock
from unipost.testing import FakeServer, fake_channel


def refused() -> Any:
    request = httpx.Request("POST", "https://graph.facebook.com/v21.0/me/feed")
    return error_for_exception(httpx.ConnectError("[Errno 111] Connection refused"), request)


def test_meta_outage_costs_five_failures_plus_probes(make_rig: Callable[..., Rig]) -> None:
    """100 posts to first_of(facebook, email) while Meta refuses every connection: at most
    5 failed requests plus one probe per open interval reach Meta, every post reaches email,
    and the whole run takes bounded virtual time."""
    facebook = fake_channel("facebook", domain="meta", server=FakeServer(default=refused()))
    mail = fake_channel("email", domain="smtp.example")
    rig = make_rig([facebook, mail])

    async def hundred() -> list[Any]:
        reports = []
        for i in range(100):
            reports.append(
                await rig.publish(Post(text="Open 9-5", id=f"o{i}"), first_of("facebook", "email"))
            )
            await rig.clock.sleep(1.0)  # one post a second, as a shop's system would send them
        return reports

    reports = asyncio.run(hundred())
    assert all(r.ok for r in reports)
    assert len(mail.server.posts) == 100
    assert all(r["facebook"].state is State.SKIPPED for r in reports)
    transitions = [e.fields["to"] for e in rig.recorder.of("breaker.transition")]
    probes = transitions.count("half_open")
    assert transitions[0] == "open"
    assert len(facebook.server.attempts) <= 5 + probes
    # 30 s open, doubling: 100 s of posts see at most a handful of probes
    assert 1 <= probes <= 3
    assert rig.elapsed() <= 100 * 1.0 + 5.0  # no post waited for Meta beyond its first retries
    rig.check(settled=True)


class _Hold(BaseHTTPRequestHandler):
    """Holds each webhook request until all expected requests are in flight, then 200 ms."""

    server: _FanOutServer

    def do_POST(self) -> None:
        server = self.server
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            if server.in_flight >= server.expected:
                server.all_arrived.set()
        server.all_arrived.wait(timeout=10)
        threading.Event().wait(0.2)
        body = json.dumps({"id": self.path.rsplit("/", 1)[-1]}).encode()
        with server.lock:
            server.in_flight -= 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test asserts on counters, not on access logs."""


class _FanOutServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 refuses a burst of 50 connects

    def __init__(self, expected: int) -> None:
        super().__init__(("127.0.0.1", 0), _Hold)
        self.expected = expected
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.all_arrived = threading.Event()


@pytest.fixture
def fan_out_server() -> Iterator[_FanOutServer]:
    server = _FanOutServer(expected=50)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_fan_out_to_50_webhooks_is_concurrent(fan_out_server: _FanOutServer) -> None:
    """One publish to 50 webhook channels on a loopback server that holds every request:
    the server sees all 50 in flight at once (its counter, not a timing, says so)."""
    secret = "whsec_" + base64.b64encode(b"fan-out-signing-key-0123456789").decode()
    port = fan_out_server.server_address[1]
    channels = {
        f"hook{i}": WebhookChannel(
            id=f"hook{i}", url=f"http://127.0.0.1:{port}/hooks/{i}", secret=secret
        )
        for i in range(50)
    }
    with Dispatcher(channels=channels, store=MemoryStore(), clock=SystemClock()) as dispatcher:
        report = dispatcher.publish(
            Post(text="Everything 20% off today", id="fan-out"), all_of(*channels), deadline=20
        )
    assert report.status is ReportStatus.SUCCEEDED, str(report)
    assert fan_out_server.max_in_flight == 50
    assert sorted(o.platform_id or "" for o in report.outcomes) == sorted(str(i) for i in range(50))
