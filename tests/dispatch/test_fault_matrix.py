"""The fault matrix of ``reference/resilience.md`` part B, one test per row, on virtual time.

Each test scripts fake platforms (``unipost.testing.FakeServer``), publishes,
and asserts attempt counts, timings, final states and what the servers saw;
``rig.check()`` then asserts the six invariants I1–I6 (``invariants.py``).
Errors are built from real HTTP responses by ``unipost.classify`` where the
row is about a status or header.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from tests.dispatch.invariants import Rig
from unipost import Capabilities, Idempotency, Limit, Post, ReportStatus, all_of, first_of
from unipost.breaker import BreakerState
from unipost.classify import error_for_exception, error_for_status
from unipost.errors import (
    Ambiguous,
    AuthFailed,
    DeliveryError,
    DuplicateSignal,
    IdempotencyConflict,
    NotSent,
    QuotaExhausted,
    RateLimited,
)
from unipost.outbox import State
from unipost.retry import RetryPolicy
from unipost.testing import FakeServer, fake_channel
from unipost.testing.fake import connect_timeout, fails, hang

T = TypeVar("T")
MakeRig = Callable[..., Rig]
KEY = Capabilities(text_limit=500, idempotency=Idempotency.KEY, idempotency_window=3600)
LOOKUP = Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP)
KEY_AND_LOOKUP = Capabilities(
    text_limit=500, idempotency=Idempotency.KEY | Idempotency.LOOKUP, idempotency_window=3600
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def http(status: int, headers: dict[str, str] | None = None, body: str = "") -> DeliveryError:
    """The error unipost's classifier makes of this response."""
    response = httpx.Response(status, headers=headers or {}, text=body)
    error = error_for_status(response)
    assert error is not None
    return error


def connect_error() -> DeliveryError:
    request = httpx.Request("POST", "https://graph.example/v1/feed")
    return error_for_exception(httpx.ConnectError("connection refused"), request)


def read_timeout() -> DeliveryError:
    request = httpx.Request("POST", "https://api.example/sendMessage")
    return error_for_exception(httpx.ReadTimeout("timed out"), request)


def post(n: int | str = 1, text: str = "We're open today 9-5!") -> Post:
    return Post(text=text, id=f"post-{n}")


def states(report: Any) -> dict[str, State]:
    return {o.channel: o.state for o in report.outcomes}


class MaxJitter(random.Random):
    """Randomness pinned to the top of every range: the longest backoff the policy allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_row_01_503_503_then_200(make_rig: MakeRig) -> None:
    """#1 | Primary 503, 503, then 200 | 3 attempts; waits ≤ 0.5 s and ≤ 1.0 s; `delivered`;
    1 post; breaker closed; quota −10, then +5 on success."""
    a = fake_channel("a", domain="a", server=FakeServer(script=[http(503), http(503)]))
    rig = make_rig([a])
    budget = rig.dispatcher.engine.budget("a")
    tokens: list[tuple[str, int]] = []
    rig.dispatcher.observers.append(
        lambda e: (
            tokens.append((e.name, budget.tokens))
            if e.name in ("retry.scheduled", "delivered")
            else None
        )
    )
    report = run(rig.publish(post(), "a"))
    assert report.status is ReportStatus.SUCCEEDED
    assert states(report) == {"a": State.DELIVERED}
    first, second, third = rig.times("a")
    assert first == 0.0
    assert 0 < second - first <= 0.5
    assert 0 < third - second <= 1.0
    assert len(a.server.posts) == 1
    assert rig.dispatcher.breakers["a"].state is BreakerState.CLOSED
    assert tokens == [("retry.scheduled", 495), ("retry.scheduled", 490), ("delivered", 495)]
    assert [x.error_class for x in report["a"].attempts] == ["transient", "transient", None]
    rig.check(settled=True)


def test_row_02_429_retry_after_2_shared_not_before(make_rig: MakeRig) -> None:
    """#2 | Primary 429 with `Retry-After: 2` | 2nd attempt at t ∈ [2.0, 2.2] s; `delivered`;
    breaker untouched; a concurrent publish to the same account also waits for the shared
    `not_before`."""
    a = fake_channel("a", domain="a", server=FakeServer(script=[http(429, {"Retry-After": "2"})]))
    rig = make_rig([a])

    async def both() -> list[Any]:
        async def later() -> Any:
            await rig.clock.sleep(0.5)
            return await rig.publish(post(2), "a")

        return list(await asyncio.gather(rig.publish(post(1), "a"), later()))

    first, second = run(both())
    assert first.ok
    assert second.ok
    t_first, *rest = rig.times("a")
    assert t_first == 0.0
    assert len(rest) == 2
    assert all(2.0 <= t <= 2.2 for t in rest), rest  # the retry and the other post both waited
    assert [x.error_class for x in first["a"].attempts] == ["rate_limited", None]
    assert second["a"].attempts[0].started_at - rig.t0 >= 2.0
    breaker = rig.dispatcher.breakers["a"]
    assert breaker.state is BreakerState.CLOSED
    assert rig.recorder.of("breaker.transition") == []
    assert rig.recorder.of("ratelimit.wait")  # the second post waited for the limit
    assert len(a.server.posts) == 2
    rig.check(settled=True)


def test_row_03_retry_after_date_beyond_deadline_defers(make_rig: MakeRig) -> None:
    """#3 | 429 with `Retry-After` set to an HTTP-date 90 s ahead, deadline 30 s | No inline
    sleep; `publish` returns ≤ 30 s with Report `pending`, `next_attempt_at` = date (+≤10 %);
    the worker delivers; 2 attempts total."""
    server = FakeServer()
    a = fake_channel("a", domain="a", server=server)
    rig = make_rig([a])
    when = email.utils.format_datetime(
        dt.datetime.fromtimestamp(rig.clock.now() + 90, dt.UTC), usegmt=True
    )
    response = httpx.Response(429, headers={"Retry-After": when})
    error = error_for_status(response, now=rig.clock.now())
    assert isinstance(error, RateLimited)
    server.script.append(error)
    report = run(rig.publish(post(), "a", deadline=30))
    assert rig.elapsed() < 1.0  # no inline sleep
    assert rig.clock.slept == 0.0
    assert report.status is ReportStatus.PENDING
    next_at = report["a"].next_attempt_at
    assert next_at is not None
    assert rig.t0 + 90 <= next_at <= rig.t0 + 99
    rig.check()
    run(rig.drain(3600))
    final = rig.report(post().id)
    assert final.status is ReportStatus.SUCCEEDED
    assert [x.error_class for x in final["a"].attempts] == ["rate_limited", None]
    assert rig.times("a")[1] == pytest.approx(next_at - rig.t0)
    assert len(server.attempts) == 2
    rig.check(settled=True)


def test_row_04_retry_after_beyond_ttl_fails_and_falls_back(make_rig: MakeRig) -> None:
    """#4 | 429 with `Retry-After: 172800` (beyond 24 h TTL) inside `first_of(A,B)` | A
    `failed(rate_limited)` after 1 attempt; B attempted at once and `delivered`."""
    a = fake_channel(
        "a", domain="a", server=FakeServer(script=[http(429, {"Retry-After": "172800"})])
    )
    b = fake_channel("b", domain="b")
    rig = make_rig([a, b])
    report = run(rig.publish(post(), first_of("a", "b")))
    assert report.status is ReportStatus.SUCCEEDED
    assert states(report) == {"a": State.FAILED, "b": State.DELIVERED}
    assert report["a"].error_class == "rate_limited"
    assert rig.times("a") == [0.0]
    assert rig.times("b") == [0.0]
    rig.check(settled=True)


def test_row_05_malformed_retry_after_uses_backoff(make_rig: MakeRig) -> None:
    """#5 | `Retry-After: soon` (malformed) then 200 | Header ignored; back-off with the
    429 floor (2 s, plus at most 10 % spread: an unknown wait is never a tight loop, #14.1);
    `delivered`."""
    error = http(429, {"Retry-After": "soon"})
    assert error.retry_after is None
    a = fake_channel("a", domain="a", server=FakeServer(script=[error]))
    rig = make_rig([a])
    report = run(rig.publish(post(), "a"))
    assert report.ok
    first, second = rig.times("a")
    assert 2.0 <= second - first <= 2.2
    rig.check(settled=True)


def test_row_06_connect_error_retried_without_reconcile(make_rig: MakeRig) -> None:
    """#6 | `ConnectError` on POST create (no key, no lookup), then 200 | Retried with no
    reconcile call; 2 attempts; 1 post."""
    error = connect_error()
    assert isinstance(error, NotSent)
    a = fake_channel("a", domain="a", server=FakeServer(script=[error]))
    rig = make_rig([a])
    report = run(rig.publish(post(), "a"))
    assert report.ok
    assert len(a.server.attempts) == 2
    assert a.server.lookups == 0
    assert len(a.server.posts) == 1
    assert not rig.recorder.of("ambiguous")
    rig.check(settled=True)


def test_row_07_reset_after_body_sent_same_key_replays(make_rig: MakeRig) -> None:
    """#7 | Mastodon: connection reset after the body was sent; the server had created the
    status | Retry waits ≥ 5 s and carries the *same* Idempotency-Key; the server replays;
    1 status; `delivered`."""
    request = httpx.Request("POST", "https://social.example/api/v1/statuses")
    error = error_for_exception(httpx.ReadError("connection reset"), request)
    assert isinstance(error, Ambiguous)
    m = fake_channel("mastodon", capabilities=KEY, domain="social.example")
    m.server.script.append(error)  # may_have_applied: the fake server created the status
    rig = make_rig([m])
    report = run(rig.publish(post(), "mastodon"))
    assert report.ok
    first, second = rig.times("mastodon")
    assert second - first >= 5.0
    assert len({k for _c, k in m.server.attempts}) == 1  # both attempts carried one key
    assert len(m.server.posts) == 1
    assert report["mastodon"].platform_id == "p1"  # the replayed original
    rig.check(settled=True)


def test_row_08_read_timeout_lookup_found(make_rig: MakeRig) -> None:
    """#8 | Facebook-like (LOOKUP): `ReadTimeout` on POST, server *did* create |
    `reconciling`; lookups at +5 s (Found); no 2nd create; `delivered` with `platform_ref`
    from the lookup; 1 post."""
    fb = fake_channel("facebook", capabilities=LOOKUP, domain="meta")
    fb.server.script.append(read_timeout())  # applied
    rig = make_rig([fb])
    report = run(rig.publish(post(), "facebook"))
    assert report.ok
    assert len(fb.server.attempts) == 1
    assert [t - rig.t0 for t in fb.server.lookups_at] == [5.0]
    assert (
        report["facebook"].platform_id
        == fb.server.posts[rig.record(post().id, "facebook").delivery_key]
    )
    assert [e.fields["action"] for e in rig.recorder.of("ambiguous")] == ["reconcile"]
    assert len(fb.server.posts) == 1
    rig.check(settled=True)


def test_row_09_read_timeout_lookup_absent_twice_then_create(make_rig: MakeRig) -> None:
    """#9 | Same as #8 but the server did *not* create | 2 lookups `Absent` (+5 s, +30 s),
    then the create is retried; `delivered`; 1 post."""
    fb = fake_channel("facebook", capabilities=LOOKUP, domain="meta")
    fb.server.script.append(fails(read_timeout()))
    rig = make_rig([fb])
    report = run(rig.publish(post(), "facebook", deadline=60))
    assert report.ok
    assert [t - rig.t0 for t in fb.server.lookups_at] == [5.0, 30.0]
    assert rig.times("facebook") == [0.0, 30.0]
    assert len(fb.server.posts) == 1
    rig.check(settled=True)


def test_row_10_none_channel_read_timeout_is_held(make_rig: MakeRig) -> None:
    """#10 | Telegram-like (NONE): `ReadTimeout` on sendMessage | 1 request; `ambiguous`
    (terminal); `ambiguous` event; `first_of` does not fall over; Report status `ambiguous`."""
    tg = fake_channel("telegram", domain="telegram", server=FakeServer(script=[read_timeout()]))
    email_ = fake_channel("email", domain="smtp")
    rig = make_rig([tg, email_])
    report = run(rig.publish(post(), first_of("telegram", "email")))
    assert report.status is ReportStatus.AMBIGUOUS
    assert report["telegram"].state is State.AMBIGUOUS
    assert len(tg.server.attempts) == 1
    assert email_.server.attempts == []
    assert report["email"].state is State.BLOCKED  # held until a person settles telegram
    assert [e.fields["action"] for e in rig.recorder.of("ambiguous")] == ["hold"]
    rig.check()


def test_row_11_on_ambiguous_retry_marks_possible_duplicate(make_rig: MakeRig) -> None:
    """#11 | #10 with `on_ambiguous="retry"` | 2nd send; `delivered`; `possible_duplicate=True`
    in the Outcome."""
    tg = fake_channel("telegram", domain="telegram", server=FakeServer(script=[read_timeout()]))
    rig = make_rig([tg], retry_ambiguous=frozenset({"telegram"}))
    report = run(rig.publish(post(), "telegram"))
    assert report.ok
    assert len(tg.server.attempts) == 2
    assert report["telegram"].possible_duplicate is True
    assert tg.server.creates(rig.record(post().id, "telegram").delivery_key) == 2
    rig.check(settled=True)


def test_row_12_malformed_200_is_ambiguous_then_lookup(make_rig: MakeRig) -> None:
    """#12 | 200 with malformed JSON (or an HTML maintenance page) on a LOOKUP platform |
    Classified `ambiguous`, never retried blindly; lookup Found → `delivered`."""
    fb = fake_channel("facebook", capabilities=LOOKUP, domain="meta")
    fb.server.script.append(Ambiguous("HTTP 200 but the body is not JSON: <html>maintenance"))
    rig = make_rig([fb])
    report = run(rig.publish(post(), "facebook"))
    assert report.ok
    assert len(fb.server.attempts) == 1
    assert fb.server.lookups == 1
    assert len(fb.server.posts) == 1
    rig.check(settled=True)


def test_row_13_duplicate_signal_on_retry_reconciles(make_rig: MakeRig) -> None:
    """#13 | Meta 506 "duplicate post" on the retry after an ambiguous attempt |
    `duplicate_signal`; lookup → `delivered`; no 3rd create."""
    fb = fake_channel("facebook", capabilities=KEY_AND_LOOKUP, domain="meta")
    fb.server.script += [
        Ambiguous("HTTP 500 after the post was sent", status=500),  # applied
        DuplicateSignal("(#506) Duplicate status message", status=400, platform_code=506),
    ]
    rig = make_rig([fb])
    report = run(rig.publish(post(), "facebook"))
    assert report.ok
    assert len(fb.server.attempts) == 2  # no third create
    assert fb.server.lookups == 1
    assert [a.error_class for a in report["facebook"].attempts] == ["ambiguous", "duplicate_signal"]
    assert report["facebook"].platform_id == "p1"
    rig.check(settled=True)


def test_row_15_all_503_first_of_pending_then_expired(make_rig: MakeRig) -> None:
    """#15 | All channels 503 in `first_of(a,b,c)`, deadline 30 s | ≤ 3 attempts per channel;
    returns before the deadline (≤ 30.25 s); Report `pending`; background lane continues;
    after TTL all `expired`, report `failed`, `on_expired` fired once per record; no record
    missing."""
    chans = [fake_channel(n, domain=n, server=FakeServer(default=http(503))) for n in "abc"]
    rig = make_rig(chans)
    ttl = dt.timedelta(hours=2)
    p = Post(text="Closed today", id="p15", ttl=ttl)
    report = run(rig.publish(p, first_of("a", "b", "c"), deadline=30))
    assert report.status is ReportStatus.PENDING
    assert all(len(c.server.attempts) <= 3 for c in chans)
    assert all(len(c.server.attempts) >= 1 for c in chans)
    rig.check()
    before = sum(len(c.server.attempts) for c in chans)
    run(rig.drain(3 * 3600))
    assert sum(len(c.server.attempts) for c in chans) > before  # the background lane went on
    final = rig.report("p15")
    assert final.status is ReportStatus.FAILED
    assert set(states(final).values()) == {State.EXPIRED}
    expired = rig.recorder.of("expired")
    assert sorted(e.channel for e in expired if e.channel) == ["a", "b", "c"]
    assert all(t - rig.t0 < ttl.total_seconds() for c in chans for t in c.server.sent_at)
    rig.check(settled=True)


def test_row_16_meta_outage_single_process(make_rig: MakeRig) -> None:
    """#16 | Meta outage: Facebook, Instagram and WhatsApp refuse connections for 3 h; 200
    posts queued; 4 workers; `RedisState` | Breaker `meta` opens after 5 failures; requests
    to Meta during the outage ≤ 5 + 4 (in flight when it opens) + 25 probes (not 200×n);
    after recovery all 200 `delivered`, 200 posts, 0 duplicates, none `expired`.

    Single-process equivalent: unipost has no RedisState yet, so the breaker is the one
    in-process breaker of the dispatcher, and "4 workers" is a bulkhead of 4 per domain.
    """
    outage_end = 1_800_000_000.0 + 3 * 3600

    def refusing(clock: Any) -> Any:
        async def step(_prepared: Any, ctx: Any) -> Any:
            await ctx.sleep(0.05)  # a refused connect takes a moment
            if ctx.now() < outage_end:
                raise connect_error()
            return None

        return step

    names = ("facebook", "instagram", "whatsapp")
    chans = [fake_channel(n, domain="meta", server=FakeServer()) for n in names]
    rig = make_rig(chans, per_domain=4)
    for c in chans:
        c.server.default = refusing(rig.clock)
    for i in range(200):
        rig.enqueue(post(i), names[i % 3])
    run(rig.drain(3 * 3600 + 1800))
    during = sum(1 for c in chans for t in c.server.sent_at if t < outage_end)
    transitions = [e.fields["to"] for e in rig.recorder.of("breaker.transition")]
    assert transitions[0] == "open"
    probes = transitions.count("half_open")
    assert probes <= 25
    assert during <= 5 + 4 + probes
    assert max(c.server.max_in_flight for c in chans) <= 4
    for i in range(200):
        assert rig.report(post(i).id).status is ReportStatus.SUCCEEDED
    assert sum(len(c.server.posts) for c in chans) == 200
    assert not rig.recorder.of("expired")
    rig.check(settled=True)


def test_row_19_auth_failure_blocks_then_reauthorize(make_rig: MakeRig) -> None:
    """#19 | 401 on post 4 of 10 to one account; refresh fails | Exactly 4 send requests plus
    1 refresh; posts 4–10 `blocked` (not failed); `first_of` routes fall back; after
    `reauthorize()` posts 4–10 delivered once each.

    The refresh is the plugin's business inside its flow (channels never retry themselves
    beyond one refresh); the fake counts it.
    """
    refreshes: list[float] = []

    async def expired_token(_prepared: Any, ctx: Any) -> Any:
        refreshes.append(ctx.now())  # the plugin tries one refresh, which fails too
        raise AuthFailed("HTTP 401: token expired; refresh rejected", status=401)

    acct = fake_channel("mastodon", domain="social.example")
    mail = fake_channel("email", domain="smtp")
    acct.server.script += [None, None, None, expired_token]
    rig = make_rig([acct, mail])

    async def go() -> list[Any]:
        return [await rig.publish(post(i), "mastodon") for i in range(1, 11)]

    reports = run(go())
    assert len(acct.server.attempts) == 4
    assert len(refreshes) == 1
    assert [r.status for r in reports[:3]] == [ReportStatus.SUCCEEDED] * 3
    assert all(r["mastodon"].state is State.BLOCKED for r in reports[3:])
    fallback = run(rig.publish(post(11), first_of("mastodon", "email")))
    assert fallback.ok
    assert fallback["email"].ok
    assert len(acct.server.attempts) == 4  # the blocked account got no request
    assert rig.dispatcher.reauthorize("mastodon") == 7
    run(rig.drain(600))
    for i in range(4, 11):
        assert rig.report(post(i).id).ok
    assert len(acct.server.attempts) == 11
    assert len(acct.server.posts) == 10
    assert rig.report(post(11).id)["mastodon"].state is State.SKIPPED
    rig.check(settled=True)


def test_row_20_auth_refresh_succeeds(make_rig: MakeRig) -> None:
    """#20 | 401, refresh succeeds | Post 4 retried once with the new token; all 10 delivered;
    11 send requests.

    The plugin refreshes and resends inside one attempt (its flow catches the AuthFailed the
    core throws into it); the server sees both sends.
    """
    acct = fake_channel("mastodon", domain="social.example")
    sends: list[str] = []

    async def refreshed(_prepared: Any, ctx: Any) -> Any:
        sends.append("401")  # first send: 401; the flow refreshes and sends again
        acct.server.sent_at.append(ctx.now())
        acct.server.attempts.append(("mastodon", ctx.delivery_key))
        return None

    acct.server.script += [None, None, None, refreshed]
    rig = make_rig([acct])

    async def go() -> list[Any]:
        return [await rig.publish(post(i), "mastodon") for i in range(1, 11)]

    reports = run(go())
    assert all(r.ok for r in reports)
    assert len(acct.server.sent_at) == 11
    assert len(acct.server.posts) == 10
    assert not rig.recorder.of("blocked")


def test_row_24_double_publish_replays(make_rig: MakeRig) -> None:
    """#24 | `publish(post)` called twice (double click) with the same id and revision |
    1 record, 1 post; the 2nd Report replays the 1st."""
    a = fake_channel("a", domain="a")
    rig = make_rig([a])
    first = run(rig.publish(post(), "a"))
    second = run(rig.publish(post(), "a"))
    assert len(rig.records()) == 1
    assert len(a.server.attempts) == 1
    assert second.status is first.status is ReportStatus.SUCCEEDED
    assert second.outcomes == first.outcomes
    rig.check(settled=True)


def test_row_25_same_revision_other_text_conflicts(make_rig: MakeRig) -> None:
    """#25 | Same post id and revision, different text | `IdempotencyConflict` raised;
    0 requests."""
    a = fake_channel("a", domain="a")
    rig = make_rig([a])
    run(rig.publish(post(1, "Open 9-5"), "a"))
    with pytest.raises(IdempotencyConflict):
        run(rig.dispatcher.apublish(post(1, "Open 10-6"), "a"))
    assert len(a.server.attempts) == 1  # the first publish only; the conflict sent nothing
    assert len(rig.records()) == 1
    rig.check(settled=True)


def test_row_26_two_workers_one_lease(make_rig: MakeRig) -> None:
    """#26 | Two workers claim one due record | Exactly 1 obtains the lease; 1 request.

    Two dispatchers (two workers) over one outbox and one platform, in one process.
    """
    a = fake_channel("a", domain="a", server=FakeServer(default=hang(2.0)))
    rig = make_rig([a])
    from unipost import Dispatcher

    other = Dispatcher(
        channels=rig.channels, store=rig.dispatcher.store, clock=rig.clock, observers=[rig.recorder]
    )
    rig.enqueue(post(), "a")

    async def both() -> None:
        await asyncio.gather(rig.dispatcher.arun_due(), other.arun_due())

    run(both())
    assert len(a.server.attempts) == 1
    assert rig.report(post().id).ok
    rig.check(settled=True)


def test_row_27_key_window_passed_uses_lookup(make_rig: MakeRig) -> None:
    """#27 | Mastodon record in `retry_wait` for 70 min after an ambiguous attempt | Key
    window (1 h) passed → plugin uses LOOKUP before any resend."""
    m = fake_channel("mastodon", capabilities=KEY_AND_LOOKUP, domain="social.example")
    m.server.script += [fails(read_timeout()), fails(read_timeout()), fails(read_timeout())]
    rig = make_rig([m])
    rig.dispatcher.breakers.configure(failure_threshold=100)
    report = run(rig.publish(post(), "mastodon"))
    assert report.status is ReportStatus.PENDING
    sends_inline = len(m.server.attempts)
    assert m.server.lookups == 0  # within the window the key makes resending safe
    record = rig.record(post().id, "mastodon")
    rig.clock.advance(70 * 60)
    record.next_attempt_at = rig.clock.now()
    rig.dispatcher.store.save(record)
    run(rig.dispatcher.arun_due())
    assert len(m.server.attempts) == sends_inline  # no resend past the window...
    assert m.server.lookups == 1  # ...a lookup first
    run(rig.drain(600))
    assert m.server.lookups == 2  # Absent twice, then the create is retried
    assert len(m.server.attempts) == sends_inline + 1
    assert rig.report(post().id).ok
    assert len(m.server.posts) == 1
    rig.check(settled=True)


def test_row_28_permanent_400_falls_back(make_rig: MakeRig) -> None:
    """#28 | Bluesky 400 (text > 300 graphemes) in `first_of(bsky, mastodon)` | 1 Bluesky
    attempt, `failed(permanent)`; Mastodon `delivered`; breaker untouched."""
    bsky = fake_channel("bsky", domain="bsky.social", server=FakeServer(script=[http(400)]))
    masto = fake_channel("mastodon", domain="social.example")
    rig = make_rig([bsky, masto])
    report = run(rig.publish(post(), first_of("bsky", "mastodon")))
    assert report.ok
    assert states(report) == {"bsky": State.FAILED, "mastodon": State.DELIVERED}
    assert report["bsky"].error_class == "permanent"
    assert len(bsky.server.attempts) == 1
    assert rig.dispatcher.breakers["bsky.social"].state is BreakerState.CLOSED
    assert not rig.recorder.of("breaker.transition")
    rig.check(settled=True)


def test_row_29_all_of_partial(make_rig: MakeRig) -> None:
    """#29 | `all_of(website, facebook)`; Facebook 400 | Website `delivered`, Facebook `failed`
    after 1 attempt; Report `partial`; nothing rolled back."""
    site = fake_channel("website", domain="site")
    fb = fake_channel("facebook", domain="meta", server=FakeServer(script=[http(400)]))
    rig = make_rig([site, fb])
    report = run(rig.publish(post(), all_of("website", "facebook")))
    assert report.status is ReportStatus.PARTIAL
    assert states(report) == {"website": State.DELIVERED, "facebook": State.FAILED}
    assert len(fb.server.attempts) == 1
    assert len(site.server.posts) == 1  # nothing rolled back
    rig.check(settled=True)


def test_row_30_min_success_keeps_trying_the_rest(make_rig: MakeRig) -> None:
    """#30 | `all_of(a, b, min_success=1)`; a always 503, b 200 | Report `succeeded` at
    return; a stays `retry_wait`, keeps trying in the background until TTL, then `expired`."""
    a = fake_channel("a", domain="a", server=FakeServer(default=http(503)))
    b = fake_channel("b", domain="b")
    rig = make_rig([a, b])
    p = Post(text="hi", id="p30", ttl=dt.timedelta(hours=1))
    report = run(rig.publish(p, all_of("a", "b", min_success=1)))
    assert report.status is ReportStatus.SUCCEEDED
    assert states(report) == {"a": State.RETRY_WAIT, "b": State.DELIVERED}
    inline = len(a.server.attempts)
    assert inline == 3
    rig.check()
    run(rig.drain(2 * 3600))
    assert len(a.server.attempts) > inline
    final = rig.report("p30")
    assert states(final) == {"a": State.EXPIRED, "b": State.DELIVERED}
    assert final.status is ReportStatus.PARTIAL  # min_success met, but one target failed
    rig.check(settled=True)


def test_row_31_slow_connect_moves_on_after_patience(make_rig: MakeRig) -> None:
    """#31 | Slow primary (connect hangs) and fast fallback in `first_of(slow, fast,
    patience=10 s)`, deadline 30 s | Slow classed `not_sent` after its connect timeout (5 s)
    or patience; fast `delivered` by ≤ 12 s; slow `skipped`; 1 post in total."""
    slow = fake_channel("slow", domain="slow", server=FakeServer(default=connect_timeout(5.0)))
    fast = fake_channel("fast", domain="fast")
    rig = make_rig([slow, fast])
    report = run(rig.publish(post(), first_of("slow", "fast", patience=10), deadline=30))
    assert report.ok
    assert states(report) == {"slow": State.SKIPPED, "fast": State.DELIVERED}
    assert all(a.error_class == "not_sent" for a in report["slow"].attempts)
    (t_fast,) = rig.times("fast")
    assert 10.0 <= t_fast <= 12.0
    assert len(slow.server.posts) + len(fast.server.posts) == 1
    assert rig.elapsed() <= 12.0
    rig.check(settled=True)


def test_row_33_declared_rate_limit_paces_sends(make_rig: MakeRig) -> None:
    """#33 | 100 Telegram sends to different chats at once | ≥ 3.3 s virtual time; 0 × 429.

    The 30/s bot limit the channel declares paces the sends; the per-group half of the row
    needs per-chat buckets, which the core does not key yet.
    """
    caps = Capabilities(text_limit=4096, limits=(Limit(rate=30, per=1.0, burst=1, name="bot"),))
    tg = fake_channel("telegram", capabilities=caps, domain="telegram")
    rig = make_rig([tg])

    async def all_at_once() -> list[Any]:
        return list(await asyncio.gather(*(rig.publish(post(i), "telegram") for i in range(100))))

    reports = run(all_at_once())
    assert all(r.ok for r in reports)
    times = rig.times("telegram")
    assert len(times) == 100
    assert max(times) >= 99 / 30 - 1e-6  # ≥ 3.3 s: 30 a second, none early
    for start in times:
        assert len([t for t in times if start <= t < start + 1.0 - 1e-6]) <= 30
    assert all([x.error_class for x in r["telegram"].attempts] == [None] for r in reports)
    rig.check(settled=True)


def test_row_34_global_429_pauses_the_token(make_rig: MakeRig) -> None:
    """#34 | Discord 429 with `X-RateLimit-Global: true`, `retry_after` 1.5 | All channels on
    that token pause 1.5 s; no request inside the window."""
    limited = RateLimited("You are being rate limited (global)", status=429, retry_after=1.5)
    d1 = fake_channel(
        "discord-a", domain="discord", credential="bot", server=FakeServer(script=[limited])
    )
    d2 = fake_channel("discord-b", domain="discord", credential="bot")
    rig = make_rig([d1, d2])

    async def go() -> list[Any]:
        async def other() -> Any:
            await rig.clock.sleep(0.2)
            return await rig.publish(post(2), "discord-b")

        return list(await asyncio.gather(rig.publish(post(1), "discord-a"), other()))

    first, second = run(go())
    assert first.ok
    assert second.ok
    t0, t1 = rig.times("discord-a")
    (t2,) = rig.times("discord-b")
    assert t0 == 0.0
    assert 1.5 <= t1 <= 1.65
    assert t2 >= 1.5
    rig.check(settled=True)


def test_row_35_quota_exhausted_falls_back(make_rig: MakeRig) -> None:
    """#35 | Instagram `content_publishing_limit` 50/50 | No `media_publish` request;
    `quota_exhausted`; rescheduled to the window end or falls back in `first_of`.

    The plugin reads the quota and raises QuotaExhausted before publishing; the fake server
    counts that read as the attempt.
    """
    ig = fake_channel(
        "instagram",
        domain="meta",
        server=FakeServer(
            script=[fails(QuotaExhausted("50 of 50 posts in 24 h", retry_after=7200))]
        ),
    )
    mail = fake_channel("email", domain="smtp")
    rig = make_rig([ig, mail])
    report = run(rig.publish(post(), first_of("instagram", "email")))
    assert report.ok
    assert ig.server.posts == {}
    assert report["instagram"].state is State.SKIPPED
    assert report["instagram"].attempts[0].error_class == "quota_exhausted"
    alone = run(rig.publish(post(2), "instagram"))
    assert alone.status is ReportStatus.PENDING or alone.ok
    rig.check()


def test_row_36_retry_budget_stops_immediate_retries(make_rig: MakeRig) -> None:
    """#36 | 1000 concurrent `publish()` calls, platform 503 to everything, breaker disabled
    (quota test) | Immediate retries stop after ≤ 100 (500 tokens / 5); later calls get 1
    inline attempt each and are deferred (`pending`)."""
    a = fake_channel("a", domain="a", server=FakeServer(default=http(503)))
    rig = make_rig([a])
    rig.dispatcher.breakers.configure(failure_threshold=10**9, min_calls=10**9)

    async def storm() -> list[Any]:
        return list(await asyncio.gather(*(rig.publish(post(i), "a") for i in range(1000))))

    reports = run(storm())
    retries = len(a.server.attempts) - 1000
    assert 0 < retries <= 100
    assert rig.dispatcher.engine.budget("a").tokens < 5
    assert all(r.status is ReportStatus.PENDING for r in reports)
    assert rig.recorder.of("retry.budget_exhausted")
    rig.check()


def test_row_37_deadline_clips_backoff(make_rig: MakeRig) -> None:
    """#37 | Deadline 2 s, first backoff would be 4 s | No sleep beyond the deadline;
    returns ≤ 2.25 s; record `retry_wait`."""
    a = fake_channel("a", domain="a", server=FakeServer(script=[http(503)]))
    rig = make_rig([a], inline=RetryPolicy(base=4.0), rng=MaxJitter())
    report = run(rig.publish(post(), "a", deadline=2))
    assert report.status is ReportStatus.PENDING
    assert report["a"].state is State.RETRY_WAIT
    assert report["a"].next_attempt_at == pytest.approx(rig.t0 + 4.0)
    assert rig.elapsed() <= 2.25
    assert len(a.server.attempts) == 1
    rig.check()


def test_row_38_secrets_in_error_body_are_redacted(make_rig: MakeRig) -> None:
    """#38 | Platform error body echoes `access_token=EAAB…` and an Authorization header |
    Logs, Report and metrics contain `[REDACTED]`; the token substring appears in 0 captured
    lines."""
    token = "EAABwzLixnjYBO7ZAsecretsecret"
    body = f'{{"error": "bad request for access_token={token}", "echo": "Authorization: Bearer {token}"}}'
    a = fake_channel(
        "facebook", domain="meta", server=FakeServer(script=[http(400, body=body)]), token=token
    )
    rig = make_rig([a], secrets=(token, "EAABwzLixnjYBO7"))
    report = run(rig.publish(post(), "facebook"))
    assert report["facebook"].state is State.FAILED
    assert "[REDACTED]" in (report["facebook"].reason or "")
    assert any("[REDACTED]" in line for line in rig.log_lines())
    rig.check(settled=True)


def test_row_39_cancelled_caller_loses_nothing(make_rig: MakeRig) -> None:
    """#39 | Caller's asyncio task cancelled mid-attempt | Record `ambiguous` (if bytes were
    sent) or `retry_wait`; never lost; the worker continues."""
    m = fake_channel("mastodon", capabilities=KEY, domain="social.example")
    m.server.script.append(hang(10.0))
    rig = make_rig([m])

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(rig.publish(post(), "mastodon"))
        await rig.clock.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(cancel_midway())
    record = rig.record(post().id, "mastodon")
    assert record.state is State.RETRY_WAIT  # the key makes a resend safe; nothing is lost
    run(rig.drain(600))
    assert rig.report(post().id).ok
    assert len(m.server.posts) == 1
    assert len(m.server.attempts) == 2  # resent with the same key
    rig.check(settled=True)
