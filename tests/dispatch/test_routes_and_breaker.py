"""Nested routes report the right status; the breaker's probe, isolation and reset."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import unipost
from tests.dispatch.invariants import Rig
from unipost import Post, ReportStatus, SharedFailureDomainWarning, State, all_of, first_of
from unipost.breaker import BreakerState
from unipost.classify import error_for_status
from unipost.errors import NotSent
from unipost.testing import FakeServer, fake_channel

MakeRig = Callable[..., Rig]


def http(status: int) -> Any:
    return error_for_status(httpx.Response(status))


def test_nested_first_of_inside_all_of(make_rig: MakeRig) -> None:
    """all_of(site, first_of(facebook, mastodon)): a 400 from Facebook falls back inside."""
    site = fake_channel("site", domain="site")
    fb = fake_channel("facebook", domain="meta", server=FakeServer(script=[http(400)]))
    masto = fake_channel("mastodon", domain="social.example")
    rig = make_rig([site, fb, masto])
    report = asyncio.run(
        rig.publish(Post(text="x", id="n1"), all_of("site", first_of("facebook", "mastodon")))
    )
    assert report.status is ReportStatus.SUCCEEDED
    assert {o.channel: o.state for o in report.outcomes} == {
        "site": State.DELIVERED,
        "facebook": State.FAILED,
        "mastodon": State.DELIVERED,
    }
    rig.check(settled=True)


def test_all_of_alternative_that_partly_failed_falls_back(make_rig: MakeRig) -> None:
    """first_of(all_of(a, b), c): b fails for good, so the group cannot succeed and c is tried."""
    a = fake_channel("a", domain="a")
    b = fake_channel("b", domain="b", server=FakeServer(script=[http(403)]))
    c = fake_channel("c", domain="c")
    rig = make_rig([a, b, c])
    report = asyncio.run(rig.publish(Post(text="x", id="n2"), first_of(all_of("a", "b"), "c")))
    assert report.status is ReportStatus.SUCCEEDED
    assert report["c"].state is State.DELIVERED
    assert report["a"].state is State.DELIVERED  # nothing is rolled back
    rig.check(settled=True)


def test_pending_alternative_is_reported_with_its_next_try(make_rig: MakeRig) -> None:
    """first_of(a, b) with both down: the report is pending and says when each comes back."""
    a = fake_channel("a", domain="a", server=FakeServer(default=http(503)))
    b = fake_channel("b", domain="b", server=FakeServer(default=http(503)))
    rig = make_rig([a, b])
    report = asyncio.run(rig.publish(Post(text="x", id="n3"), first_of("a", "b")))
    assert report.status is ReportStatus.PENDING
    for outcome in report.outcomes:
        assert outcome.state is State.RETRY_WAIT
        assert outcome.next_attempt_at is not None
        assert outcome.next_attempt_at > rig.clock.now()
        assert "pending" in outcome.line()
    rig.check()


def test_shared_failure_domain_warns(make_rig: MakeRig) -> None:
    fb = fake_channel("facebook", domain="meta")
    ig = fake_channel("instagram", domain="meta")
    rig = make_rig([fb, ig])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(rig.publish(Post(text="x", id="n4"), first_of("facebook", "instagram")))
    assert [w.category for w in caught] == [SharedFailureDomainWarning]
    assert "meta" in str(caught[0].message)


def test_half_open_probe_is_the_health_check(make_rig: MakeRig) -> None:
    """After the open time one health check runs; while it fails no delivery is attempted,
    and the open time doubles; when it passes the breaker closes and the post goes out."""
    down = FakeServer(script=[NotSent("refused")] * 5)
    down.health = [NotSent("refused"), None]
    fb = fake_channel("facebook", domain="meta", server=down, health_check=True)
    rig = make_rig([fb])
    for i in range(2):
        asyncio.run(rig.publish(Post(text="x", id=f"h{i}"), "facebook"))
    breaker = rig.dispatcher.breakers["meta"]
    assert breaker.state is BreakerState.OPEN
    assert len(down.attempts) == 5
    asyncio.run(rig.drain(3600))
    opened_at = rig.recorder.of("breaker.transition")[0].at
    assert len(down.checks_at) == 2
    assert down.checks_at[0] == pytest.approx(opened_at + 30, abs=1.5)
    assert down.checks_at[1] - down.checks_at[0] >= 60  # the open time doubled
    assert breaker.state is BreakerState.CLOSED
    assert rig.report("h0").ok
    assert rig.report("h1").ok
    assert len(down.attempts) == 7  # the five failures, then one delivery per post
    moves = [(e.fields["from"], e.fields["to"]) for e in rig.recorder.of("breaker.transition")]
    assert moves == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    rig.check(settled=True)


def test_isolate_and_reset_by_hand(make_rig: MakeRig) -> None:
    """An isolated domain gets no request and first_of moves on; reset closes it again."""
    fb = fake_channel("facebook", domain="meta")
    mail = fake_channel("email", domain="smtp")
    rig = make_rig([fb, mail])
    rig.dispatcher.breakers.isolate("meta", until=rig.clock.now() + 3600)
    report = asyncio.run(rig.publish(Post(text="x", id="i1"), first_of("facebook", "email")))
    assert report.ok
    assert fb.server.attempts == []
    assert report["facebook"].state is State.SKIPPED
    rig.dispatcher.breakers.reset("meta")
    again = asyncio.run(rig.publish(Post(text="x", id="i2"), "facebook"))
    assert again.ok
    moves = [e.fields["to"] for e in rig.recorder.of("breaker.transition")]
    assert moves == ["isolated", "closed"]
    rig.check(settled=True)


@pytest.mark.parametrize("min_success", [None, 2])
def test_all_of_min_success_counts(make_rig: MakeRig, min_success: int | None) -> None:
    chans = [fake_channel(n, domain=n) for n in "abc"]
    chans[2].server.script.append(http(400))
    rig = make_rig(chans)
    report = asyncio.run(
        rig.publish(Post(text="x", id="m"), all_of("a", "b", "c", min_success=min_success))
    )
    assert report.status is ReportStatus.PARTIAL  # c failed for good either way
    rig.check(settled=True)


def test_a_superseded_alternative_still_being_reconciled_is_settled_not_resent() -> None:
    """first_of(a, b): a may have posted (lookup pending) when b delivers; a's lookups finish.

    Absent twice then means "never posted" and, since b delivered, a ends skipped —
    it is neither left un-driven forever nor resent.
    """
    from unipost.channel import Capabilities, Idempotency
    from unipost.errors import Ambiguous
    from unipost.testing import FakeServer, VirtualClock, fake_channel
    from unipost.testing.fake import fails

    slow = FakeServer(script=[fails(Ambiguous("read timeout after the body was sent"))])
    fast = FakeServer()
    clock = VirtualClock()
    dispatcher = unipost.Dispatcher(
        channels={
            "a": fake_channel(
                "a",
                server=slow,
                domain="a",
                capabilities=Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP),
            ),
            "b": fake_channel("b", server=fast, domain="b"),
        },
        store=unipost.MemoryStore(),
        clock=clock,
        seed=5,
    )
    try:
        report = dispatcher.publish(
            unipost.Post(text="hi", id="s-1"), to=unipost.first_of("a", "b", patience=1.0)
        )
        assert report["b"].state is unipost.State.DELIVERED
        dispatcher.drain(until=clock.now() + 3600)
        final = dispatcher.report("s-1")
    finally:
        dispatcher.close()
    assert final["a"].state is unipost.State.SKIPPED, str(final)
    assert final.ok
    assert slow.lookups == 2
    assert len(slow.attempts) == 1  # never resent
    assert slow.posts == {}
    assert len(fast.posts) == 1


def test_a_temporary_block_waits_instead_of_failing() -> None:
    """Forbidden with a retry_after (Meta 368: blocked for a while) parks the record, then retries."""
    from unipost.errors import Forbidden
    from unipost.testing import FakeServer, VirtualClock, fake_channel
    from unipost.testing.fake import fails

    blocked = FakeServer(
        script=[fails(Forbidden("temporarily blocked", platform_code=368, retry_after=3600))]
    )
    clock = VirtualClock()
    dispatcher = unipost.Dispatcher(
        channels={"a": fake_channel("a", server=blocked, domain="a")},
        store=unipost.MemoryStore(),
        clock=clock,
        seed=2,
    )
    try:
        started = clock.now()
        report = dispatcher.publish(unipost.Post(text="hi", id="blocked-1"), to="a")
        assert report["a"].state is unipost.State.RETRY_WAIT
        assert report["a"].next_attempt_at is not None
        assert report["a"].next_attempt_at - started >= 3600
        dispatcher.drain(until=started + 7200)
        final = dispatcher.report("blocked-1")
    finally:
        dispatcher.close()
    assert final["a"].state is unipost.State.DELIVERED
    assert [a.error_class for a in final["a"].attempts] == ["forbidden", None]
    assert final["a"].attempts[1].started_at - started >= 3600
