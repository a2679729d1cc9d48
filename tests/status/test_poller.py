"""The poller against a local status server: conditional, bounded, never too often."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.status.conftest import FeedServer, Page, document
from unipost import Dispatcher, MemoryStore
from unipost.breaker import BreakerState
from unipost.status_feeds import StatusSource
from unipost.status_poll import StatusSettings
from unipost.testing import EventRecorder, VirtualClock, fake_channel

ORGS = "/data/orgs.json"
LAST_MODIFIED = "Thu, 03 Dec 2026 14:02:11 GMT"


def meta_source(feeds: FeedServer, *products: str) -> StatusSource:
    return StatusSource(
        domain="meta",
        url=feeds.url(ORGS),
        format="metastatus",
        label="Meta",
        components=products or ("graph-api",),
    )


def build(sources: list[StatusSource], **settings: Any) -> tuple[Dispatcher, EventRecorder]:
    recorder = EventRecorder()
    dispatcher = Dispatcher(
        channels={"facebook": fake_channel("facebook", domain="meta")},
        store=MemoryStore(),
        clock=VirtualClock(),
        observers=[recorder],
        status_sources=sources,
        status=StatusSettings(**settings),
    )
    return dispatcher, recorder


def every_minute_for(dispatcher: Dispatcher, seconds: int) -> None:
    """Ask the poller once a (virtual) minute; it decides what is due."""
    clock = dispatcher.clock
    assert isinstance(clock, VirtualClock)

    async def run() -> None:
        for _ in range(seconds // 60):
            await dispatcher.status_poller.poll_due()
            clock.advance(60)

    asyncio.run(run())


def test_conditional_requests_use_the_last_etag_and_last_modified(feeds: FeedServer) -> None:
    page = Page(
        body=document("metastatus-orgs-ok.json"), etag='"orgs-v1"', last_modified=LAST_MODIFIED
    )
    feeds.serve(ORGS, page)
    dispatcher, recorder = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 900)
    sent = feeds.requests(ORGS)
    assert len(sent) == 3  # t = 0, 300, 600
    assert "if-none-match" not in sent[0].headers
    for later in sent[1:]:
        assert later.headers["if-none-match"] == '"orgs-v1"'
        assert later.headers["if-modified-since"] == LAST_MODIFIED
    assert dispatcher.status_poller.feeds[0].requests[1] == {
        "If-None-Match": '"orgs-v1"',
        "If-Modified-Since": LAST_MODIFIED,
    }
    assert len(recorder.of("status.reading")) == 1  # 304s change nothing
    dispatcher.close()


def test_last_modified_alone_is_used_when_there_is_no_etag(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-ok.json"), last_modified=LAST_MODIFIED))
    dispatcher, _ = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 600)
    second = feeds.requests(ORGS)[1].headers
    assert second["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in second
    dispatcher.close()


def test_the_interval_max_age_and_retry_after_set_the_pace(feeds: FeedServer) -> None:
    # An hour with a 5-minute interval: 12 requests, however often the poller is asked.
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-ok.json")))
    dispatcher, _ = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 3600)
    assert len(feeds.requests(ORGS)) == 12
    dispatcher.close()
    # The feed asks for 15 minutes (Cache-Control: max-age=900): 4 requests in the hour.
    feeds.reset()
    cached = Page(
        body=document("metastatus-orgs-ok.json"), headers={"Cache-Control": "public, max-age=900"}
    )
    feeds.serve(ORGS, cached)
    dispatcher, _ = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 3600)
    assert len(feeds.requests(ORGS)) == 4
    dispatcher.close()
    # A 503 with Retry-After: 1800 is asked again only after half an hour.
    feeds.reset()
    feeds.serve(ORGS, Page(body=b"busy", status=503, headers={"Retry-After": "1800"}))
    dispatcher, recorder = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 3600)
    assert len(feeds.requests(ORGS)) == 2
    assert recorder.of("status.error")[0].fields["error"] == "HTTP 503"
    dispatcher.close()
    # A configured interval below the floor is lifted to min_interval.
    feeds.reset()
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-ok.json")))
    dispatcher, _ = build([meta_source(feeds)], interval=10, min_interval=120)
    every_minute_for(dispatcher, 600)
    assert len(feeds.requests(ORGS)) == 5
    dispatcher.close()


def test_one_request_serves_every_source_on_the_same_url(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json")))
    sources = [meta_source(feeds, "graph-api"), meta_source(feeds, "whatsapp-business-api")]
    dispatcher, recorder = build(sources, interval=300)
    every_minute_for(dispatcher, 60)
    assert len(feeds.requests(ORGS)) == 1
    assert {e.fields["severity"] for e in recorder.of("status.reading")} == {"major", "minor"}
    (advisory,) = recorder.of("status.advisory")
    assert advisory.fields["severity"] == "major"  # the domain takes its worst source
    assert dispatcher.breakers["meta"].state is BreakerState.OPEN
    dispatcher.close()


def test_an_oversized_answer_is_dropped_unread(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=b"[" + b" " * 4096 + b"]"))
    dispatcher, recorder = build([meta_source(feeds)], max_bytes=1024)
    every_minute_for(dispatcher, 60)
    assert "over the limit" in recorder.of("status.error")[0].fields["error"]
    assert dispatcher.status_poller.readings == {}
    assert dispatcher.breakers["meta"].state is BreakerState.CLOSED
    dispatcher.close()


def test_a_server_that_does_not_answer_its_health_check_is_down(feeds: FeedServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    health = StatusSource(
        domain="social.example", url=f"http://127.0.0.1:{port}/health", format="health",
        label="social.example",
    )  # fmt: skip
    feeds.serve("/health", Page(body=b"OK", content_type="text/plain"))
    fine = StatusSource(
        domain="pds.example", url=feeds.url("/health"), format="health", label="pds.example"
    )
    dispatcher, _ = build([health, fine])
    every_minute_for(dispatcher, 60)
    assert dispatcher.breakers["social.example"].state is BreakerState.OPEN
    assert "no answer from the server" in dispatcher.breakers["social.example"].data.advisory_note
    assert dispatcher.breakers["pds.example"].state is BreakerState.CLOSED
    dispatcher.close()


def test_a_whatsapp_numbers_standing_is_an_event_not_a_breaker(feeds: FeedServer) -> None:
    path = "/v23.0/106540352242922?fields=health_status"
    feeds.serve(path, Page(body=document("whatsapp-health-blocked.json")))
    number = StatusSource(
        domain="meta", url=feeds.url(path), format="whatsapp-number",
        label="WhatsApp number 106540352242922", scope="account", channel="whatsapp",
        headers={"Authorization": "Bearer EAAG-test-token"},
    )  # fmt: skip
    dispatcher, recorder = build([number])
    every_minute_for(dispatcher, 60)
    assert feeds.requests(path)[0].headers["authorization"] == "Bearer EAAG-test-token"
    (event,) = recorder.of("status.account")
    assert event.channel == "whatsapp"
    assert event.fields["severity"] == "major"
    assert "BLOCKED" in event.fields["note"]
    assert dispatcher.breakers["meta"].state is BreakerState.CLOSED
    assert not recorder.of("status.advisory")
    dispatcher.close()


def test_feeds_that_are_turned_off_are_never_fetched(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json")))
    for settings in ({"off": ["Meta"]}, {"enabled": False}):
        dispatcher, _ = build([meta_source(feeds)], **settings)
        every_minute_for(dispatcher, 600)
        assert dispatcher.status_poller.feeds == []
        dispatcher.close()
    assert feeds.requests(ORGS) == []


def test_workers_sharing_an_outbox_take_turns(feeds: FeedServer, tmp_path: Any) -> None:
    """Two worker processes on one SQLite outbox: one request per interval between them,
    and the advice one of them wrote is what the other's publishes see."""
    from unipost.sqlite_store import SQLiteStore

    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json")))
    clock = VirtualClock()
    workers = [
        Dispatcher(
            channels={"facebook": fake_channel("facebook", domain="meta")},
            store=SQLiteStore(tmp_path / "outbox.sqlite3"),
            clock=clock,
            status_sources=[meta_source(feeds)],
            status=StatusSettings(interval=300),
        )
        for _ in range(2)
    ]

    async def run() -> None:
        for _ in range(60):  # an hour, each worker asked every minute
            for worker in workers:
                await worker.status_poller.poll_due()
            clock.advance(60)

    try:
        asyncio.run(run())
        assert len(feeds.requests(ORGS)) == 12
        assert workers[1].breakers["meta"].data.advised_open
    finally:
        for worker in workers:
            worker.close()


def test_an_operators_reset_stands_until_the_feed_says_something_new(feeds: FeedServer) -> None:
    feeds.serve(ORGS, Page(body=document("metastatus-orgs-major.json"), etag='"a"'))
    dispatcher, recorder = build([meta_source(feeds)], interval=300)
    every_minute_for(dispatcher, 60)
    assert dispatcher.breakers["meta"].state is BreakerState.OPEN
    dispatcher.breakers.reset("meta")
    every_minute_for(dispatcher, 600)  # two more polls, the same outage: no re-opening
    assert dispatcher.breakers["meta"].state is BreakerState.CLOSED
    assert len(recorder.of("status.advisory")) == 1
    dispatcher.close()
