"""The Report a publish returns: readable, checkable, raisable, and JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from unipost import DeliveryFailed, Post, ReportStatus, State, first_of
from unipost.errors import Ambiguous, Permanent, Transient
from unipost.testing import FakeServer

MakeDispatcher = Callable[..., Any]


def test_success_reads_well_and_is_ok(make_dispatcher: MakeDispatcher) -> None:
    dispatcher = make_dispatcher(shop=FakeServer(), news=FakeServer())
    report = dispatcher.publish(Post(text="Open 9-5", id="offer-1"), ["shop", "news"])
    assert report.ok
    assert report.status is ReportStatus.SUCCEEDED
    assert report.raise_for_errors() is report
    lines = str(report).splitlines()
    assert lines[0] == "post offer-1 (revision 1): succeeded [in-memory outbox: not durable]"
    assert lines[1].split() == ["✓", "shop", "delivered", "https://fake.example/shop/p1"]
    assert lines[2].split() == ["✓", "news", "delivered", "https://fake.example/news/p1"]
    assert report["shop"].url == "https://fake.example/shop/p1"
    assert report["shop"].ok
    with pytest.raises(KeyError):
        report["elsewhere"]
    assert report.summary() == "2 delivered"


def test_partial_failure_raises_delivery_failed_with_the_report(
    make_dispatcher: MakeDispatcher,
) -> None:
    refused = FakeServer(script=[Permanent("422 text is too long", status=422)])
    dispatcher = make_dispatcher(shop=FakeServer(), news=refused)
    report = dispatcher.publish(Post(text="Open 9-5", id="offer-2"), ["shop", "news"])
    assert not report.ok
    assert report.status is ReportStatus.PARTIAL
    failed = report["news"]
    assert failed.state is State.FAILED
    assert failed.error_class == "permanent"
    assert "422 text is too long" in (failed.reason or "")
    assert "✗ news" in str(report)
    assert "failed" in str(report)
    with pytest.raises(DeliveryFailed) as caught:
        report.raise_for_errors()
    assert caught.value.report is report
    assert str(caught.value) == "publish partial: 1 delivered, 1 failed"


def test_json_has_states_and_every_attempt(make_dispatcher: MakeDispatcher) -> None:
    flaky = FakeServer(script=[Transient("503 busy", status=503), None])
    dispatcher = make_dispatcher(shop=flaky)
    report = dispatcher.publish(Post(text="Open 9-5", id="offer-3"), "shop")
    data = json.loads(report.to_json())
    assert data["post_id"] == "offer-3"
    assert data["status"] == "succeeded"
    assert data["durable"] is False
    [outcome] = data["outcomes"]
    assert outcome["channel"] == "shop"
    assert outcome["state"] == "delivered"
    assert outcome["url"] == "https://fake.example/shop/p1"
    attempts = outcome["attempts"]
    assert [a["n"] for a in attempts] == [1, 2]
    assert attempts[0]["error_class"] == "transient"
    assert attempts[0]["http_status"] == 503
    assert "503 busy" in attempts[0]["message"]
    assert attempts[1]["error_class"] is None
    assert json.loads(json.dumps(report.to_dict())) == data
    assert json.loads(dispatcher.report("offer-3").to_json())["outcomes"] == data["outcomes"]


def test_pending_and_ambiguous_are_shown_as_such(make_dispatcher: MakeDispatcher) -> None:
    later = FakeServer(script=[Transient("503 down", status=503, retry_after=3600)])
    dispatcher = make_dispatcher(slow=later)
    pending = dispatcher.publish(Post(text="Open 9-5", id="offer-4"), "slow")
    assert pending.status is ReportStatus.PENDING
    assert pending["slow"].state is State.RETRY_WAIT
    assert pending["slow"].next_attempt_at is not None
    line = str(pending).splitlines()[1]
    assert line.lstrip().startswith("… slow")
    assert "pending" in line
    assert "next try" in line
    with pytest.raises(DeliveryFailed, match="publish pending"):
        pending.raise_for_errors()

    lost = FakeServer(script=[Ambiguous("ReadTimeout during POST (may have been applied)")] * 5)
    other = make_dispatcher(shaky=lost, backup=FakeServer())
    report = other.publish(Post(text="Open 9-5", id="offer-5"), first_of("shaky", "backup"))
    assert report.status is ReportStatus.AMBIGUOUS
    assert report["shaky"].state is State.AMBIGUOUS
    assert report["backup"].state is State.BLOCKED, "held: shaky may have posted"
    text = str(report)
    assert "? shaky" in text
    assert "ambiguous" in text
    assert "! backup" in text
    assert "outbox resolve" in text
    assert json.loads(report.to_json())["status"] == "ambiguous"


def test_a_replayed_publish_says_it_sent_nothing(
    make_dispatcher: MakeDispatcher, clock: Any
) -> None:
    server = FakeServer()
    dispatcher = make_dispatcher(shop=server)
    first = dispatcher.publish(Post(text="Open 9-5", id="daily-1"), "shop")
    assert not first.replayed
    clock.advance(3600)
    again = dispatcher.publish(Post(text="Open 9-5", id="daily-1"), "shop")
    assert again.replayed
    assert again.ok
    assert "— already published on " in str(again).splitlines()[0]
    assert "UTC, nothing sent now" in str(again).splitlines()[0]
    assert json.loads(again.to_json())["replayed"] is True
    assert len(server.posts) == 1


def test_a_superseded_alternative_keeps_its_cause(make_dispatcher: MakeDispatcher) -> None:
    down = FakeServer(script=[Transient("503 busy", status=503)] * 10)
    dispatcher = make_dispatcher(meta=down, mail=FakeServer())
    report = dispatcher.publish(Post(text="Open 9-5", id="fb-1"), first_of("meta", "mail"))
    line = next(o.line() for o in report.outcomes if o.channel == "meta")
    assert report["mail"].ok
    assert "transient" in line
    assert "HTTP 503" in line
    assert "\n" not in line
