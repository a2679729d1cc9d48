"""#14.5: servers that ignore Idempotency-Key are reconciled by reading statuses back.

The instance documents below have the shape each server software publishes:
Pleroma/Akkoma name themselves as ``<Mastodon version> (compatible; Pleroma
<version>)`` (Pleroma docs, "Differences in Mastodon API responses");
Pixelfed does the same and documents that it ignores the key (pixelfed/docs
PR #91); GoToSocial names itself in ``source_url`` and had no key support when
it was requested (superseriousbusiness/gotosocial issue #2723).
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpx import HTTPXMock
from unipost_mastodon import MastodonChannel
from unipost_mastodon._instance import key_problem

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.testing import EventRecorder, VirtualClock

from .fake_instance import BASE, Instance

MASTODON = {"version": "4.3.2", "source_url": "https://github.com/mastodon/mastodon"}
GLITCH = {"version": "4.3.2+glitch", "source_url": "https://github.com/glitch-soc/mastodon"}
PLEROMA = {"version": "2.7.2 (compatible; Pleroma 2.6.3)"}
AKKOMA = {"version": "2.7.2 (compatible; Akkoma 3.13.2)"}
PIXELFED = {"version": "3.5.3 (compatible; Pixelfed 0.12.3)"}
GOTOSOCIAL = {
    "version": "0.17.3+git-4d3f6f2",
    "source_url": "https://github.com/superseriousbusiness/gotosocial",
}


@pytest.mark.parametrize("document", [MASTODON, GLITCH, PLEROMA, AKKOMA, {"version": "3.3.0"}])
def test_software_that_keeps_the_key_is_trusted(document: dict[str, str]) -> None:
    assert key_problem(document) is None


@pytest.mark.parametrize(
    ("document", "named"),
    [(PIXELFED, "Pixelfed 0.12.3"), (GOTOSOCIAL, "gotosocial 0.17.3"), ({}, "does not say")],
)
def test_other_software_is_not_trusted(document: dict[str, str], named: str) -> None:
    problem = key_problem(document)
    assert problem is not None
    assert named in problem


def _dispatcher(clock: VirtualClock, recorder: EventRecorder, store: Any = None) -> Dispatcher:
    channel = MastodonChannel.from_settings("m", {"instance": BASE, "token": "t0k3n-1234"})
    return Dispatcher(
        channels={"m": channel}, store=store or MemoryStore(), clock=clock, observers=[recorder]
    )


def test_a_lost_answer_on_a_server_that_ignores_keys_is_looked_up_not_resent(
    httpx_mock: HTTPXMock,
) -> None:
    clock = VirtualClock()
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    for day in range(3):  # the same text on earlier days: never taken for this one
        server.add("Open 9-5 today", clock.now() - 86_400 * (day + 1))
    server.lose_answers = 1
    recorder = EventRecorder()
    with _dispatcher(clock, recorder) as dispatcher:
        report = dispatcher.publish(Post(text="Open 9-5 today", id="hours"), "m", deadline=120)
    assert report.ok, report
    assert server.posts == 1  # not resent on the key's promise
    assert len(server.statuses) == 4
    assert report["m"].platform_id == server.statuses[-1]["id"]
    assert server.listings >= 1
    ignored = recorder.of("idempotency.key_ignored")
    assert len(ignored) == 1
    assert "gotosocial" in str(ignored[0].fields["reason"])


def test_on_mastodon_the_same_key_resends_without_lookups(httpx_mock: HTTPXMock) -> None:
    clock = VirtualClock()
    server = Instance(httpx_mock, clock, MASTODON, honours_key=True)
    server.lose_answers = 1
    recorder = EventRecorder()
    with _dispatcher(clock, recorder) as dispatcher:
        report = dispatcher.publish(Post(text="Open 9-5 today", id="hours"), "m", deadline=120)
    assert report.ok, report
    assert server.posts == 2  # the resend carried the same key...
    assert len(server.statuses) == 1  # ...and Mastodon answered with the first status
    assert server.listings == 0
    assert not recorder.of("idempotency.key_ignored")


def test_a_process_that_died_mid_create_is_reconciled_not_resent_after_restart(
    httpx_mock: HTTPXMock,
) -> None:
    """The restarted engine does not know the software yet: the flow stops the resend."""
    clock = VirtualClock()
    server = Instance(httpx_mock, clock, PIXELFED, honours_key=False)
    store = MemoryStore()
    with _dispatcher(clock, EventRecorder(), store) as first:
        first.enqueue(Post(text="Fresh croissants at 7", id="bread"), "m")
    (record,) = store.query()
    # The first process took the record, its create was applied, then it died.
    assert store.begin_attempt(record.id, "dead-worker", clock.now() + 5, clock.now()) is not None
    server.add("Fresh croissants at 7", clock.now())
    clock.advance(30)
    recorder = EventRecorder()
    with _dispatcher(clock, recorder, store) as restarted:
        restarted.drain(until=clock.now() + 120)
    (record,) = store.query()
    assert record.state is State.DELIVERED, record
    assert server.posts == 0
    assert len(server.statuses) == 1
    assert record.platform_id == server.statuses[0]["id"]
    assert len(recorder.of("idempotency.key_ignored")) == 1
