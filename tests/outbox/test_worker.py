"""The background lane on virtual time: scheduling, TTL, patience, lease recovery, embedding."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from unipost import (
    Capabilities,
    Dispatcher,
    Idempotency,
    MemoryStore,
    Post,
    ReportStatus,
    State,
    first_of,
)
from unipost.clock import SystemClock
from unipost.errors import Transient, UsageError
from unipost.sqlite_store import SQLiteStore
from unipost.testing import EventRecorder, FakeServer, VirtualClock, fake_channel


def _down(n: int = 2000) -> FakeServer:
    return FakeServer(script=[Transient("HTTP 503", status=503) for _ in range(n)])


def _at(clock: VirtualClock, seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now() + seconds, dt.UTC)


def test_a_scheduled_post_is_not_attempted_before_its_time(
    make_dispatcher: Any, clock: VirtualClock
) -> None:
    server = FakeServer()
    dispatcher = make_dispatcher(a=server)
    when = _at(clock, 3600)
    post = Post(text="Doors open at nine", publish_at=when, ttl=dt.timedelta(hours=2))
    report = dispatcher.publish(post, "a")
    assert report.status is ReportStatus.PENDING
    assert server.attempts == []
    [record] = dispatcher.store.query()
    assert record.next_attempt_at == when.timestamp()
    assert record.ttl_at == when.timestamp() + 7200  # the TTL counts from the publish time
    dispatcher.drain(until=when.timestamp() - 1)
    assert server.attempts == []
    dispatcher.drain(until=when.timestamp() + 60)
    report = dispatcher.report(post.id)
    assert report.ok
    assert report["a"].attempts[0].started_at >= when.timestamp()


def test_past_its_ttl_a_record_is_expired_and_reported_once(
    make_dispatcher: Any, clock: VirtualClock, recorder: EventRecorder
) -> None:
    server = _down()
    dispatcher = make_dispatcher(a=server)
    post = Post(text="Sale today only", ttl=dt.timedelta(hours=2))
    start = clock.now()
    assert dispatcher.publish(post, "a", deadline=5).status is ReportStatus.PENDING
    dispatcher.drain(until=start + 3 * 3600)
    report = dispatcher.report(post.id)
    assert report.status is ReportStatus.FAILED
    assert report["a"].state is State.EXPIRED
    assert "TTL" in (report["a"].reason or "")
    attempts = report["a"].attempts
    assert len(attempts) > 3  # the background lane kept trying in between
    assert all(a.started_at < start + 7200 for a in attempts)
    assert len(recorder.of("expired")) == 1
    dispatcher.drain(until=clock.now() + 3600)
    assert len(recorder.of("expired")) == 1


def test_two_workers_report_an_expiry_once(tmp_path: Path, clock: VirtualClock) -> None:
    path = tmp_path / "o.db"
    recorders = [EventRecorder(), EventRecorder()]
    workers = [
        Dispatcher(
            channels={"a": fake_channel("a", server=_down())},
            store=SQLiteStore(path),
            clock=clock,
            observers=[recorder],
        )
        for recorder in recorders
    ]
    for n in range(20):
        workers[0].enqueue(Post(id=f"p{n}", text="hi", ttl=dt.timedelta(hours=1)), "a")
    clock.advance(3601)

    async def both() -> None:
        await asyncio.gather(*(w.arun_due() for w in workers))

    asyncio.run(both())
    expired = [e for r in recorders for e in r.of("expired")]
    assert len(expired) == 20
    assert len({e.post_id for e in expired}) == 20
    assert {r.state for r in workers[0].store.query()} == {State.EXPIRED}
    for worker in workers:
        worker.close()


def test_first_of_waits_for_its_patience_in_the_worker_then_moves_on(
    make_dispatcher: Any, clock: VirtualClock, recorder: EventRecorder
) -> None:
    slow, fast = _down(), FakeServer()
    dispatcher = make_dispatcher(a=slow, b=fast)
    post = Post(text="New menu")
    dispatcher.enqueue(post, first_of("a", "b", patience=600))
    start = clock.now()
    asyncio.run(dispatcher.arun_due())
    # b waits for a: it is not due on every poll while a is between attempts
    assert len(slow.attempts) == 1
    assert fast.attempts == []
    assert dispatcher.store.due_publications(clock.now(), 10) == []
    dispatcher.drain(until=start + 7200)
    report = dispatcher.report(post.id)
    assert report.ok
    assert report["b"].state is State.DELIVERED
    assert report["a"].state is State.SKIPPED
    moved_at = report["b"].attempts[0].started_at
    tried_a = [a.started_at for a in report["a"].attempts]
    assert len(tried_a) > 1
    assert max(tried_a) <= moved_at
    assert moved_at <= start + 600  # ... and b was tried once a's patience could not be kept
    assert recorder.of("fallback")


def _kind(way: Idempotency) -> Capabilities:
    return Capabilities(text_limit=500, idempotency=way)


def _crashed(dispatcher: Dispatcher, clock: VirtualClock) -> str:
    """A worker that died mid-attempt: the record is ``sending`` under a lease nobody renews."""
    post = Post(id="crashed", text="We are open")
    dispatcher.enqueue(post, "a")
    [record] = dispatcher.store.query()
    assert dispatcher.store.begin_attempt(record.id, "dead", clock.now() + 30, clock.now())
    return record.delivery_key


@pytest.mark.parametrize("way", [Idempotency.KEY, Idempotency.CLIENT_ID])
def test_recovery_retries_with_the_same_key(clock: VirtualClock, way: Idempotency) -> None:
    server = FakeServer()
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=server, capabilities=_kind(way))},
        store=MemoryStore(),
        clock=clock,
    )
    key = _crashed(dispatcher, clock)
    asyncio.run(dispatcher.arun_due())
    assert server.attempts == []  # the dead worker's lease still holds
    dispatcher.drain(until=clock.now() + 600)
    [record] = dispatcher.store.query()
    assert record.state is State.DELIVERED
    assert record.attempts == 2
    assert server.attempts == [("a", key)]
    dispatcher.close()


@pytest.mark.parametrize("landed", [True, False])
def test_recovery_reconciles_a_lookup_channel(clock: VirtualClock, landed: bool) -> None:
    server = FakeServer()
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=server, capabilities=_kind(Idempotency.LOOKUP))},
        store=MemoryStore(),
        clock=clock,
    )
    key = _crashed(dispatcher, clock)
    if landed:
        server.posts[key] = "p-dead"  # the dead worker's request had reached the platform
    dispatcher.drain(until=clock.now() + 600)
    [record] = dispatcher.store.query()
    assert record.state is State.DELIVERED
    if landed:
        assert server.attempts == []
        assert record.platform_id == "p-dead"
        assert server.lookups == 1
    else:
        assert server.attempts == [("a", key)]
        assert server.lookups == 2
    assert len(server.posts) == 1
    dispatcher.close()


def test_recovery_holds_a_channel_without_idempotency_as_ambiguous(
    clock: VirtualClock, recorder: EventRecorder
) -> None:
    server = FakeServer()
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=server)},
        store=MemoryStore(),
        clock=clock,
        observers=[recorder],
    )
    _crashed(dispatcher, clock)
    dispatcher.drain(until=clock.now() + 600)
    [record] = dispatcher.store.query()
    assert record.state is State.AMBIGUOUS
    assert server.attempts == []
    assert recorder.of("ambiguous")
    assert dispatcher.report("crashed").status is ReportStatus.AMBIGUOUS
    dispatcher.close()


def test_operators_retry_cancel_and_resolve_from_code(
    make_dispatcher: Any, clock: VirtualClock
) -> None:
    server = _down()
    dispatcher = make_dispatcher(a=server, b=FakeServer())
    post = Post(id="op", text="hi", ttl=dt.timedelta(minutes=30))
    dispatcher.publish(post, ["a", "b"], deadline=1)
    dispatcher.drain(until=clock.now() + 3600)
    record = next(r for r in dispatcher.store.query() if r.channel == "a")
    assert record.state is State.EXPIRED
    server.script.clear()  # the platform is back
    retried = dispatcher.retry(record.id)
    assert retried.state is State.RETRY_WAIT
    assert retried.ttl_at > clock.now()
    dispatcher.drain(until=clock.now() + 600)
    assert dispatcher.report("op").ok
    with pytest.raises(UsageError, match="delivered"):
        dispatcher.retry(record.id)
    with pytest.raises(UsageError, match="not ambiguous"):
        dispatcher.resolve(record.id, delivered=True)
    later = Post(id="later", text="hi", publish_at=_at(clock, 600))
    dispatcher.publish(later, "a")
    assert dispatcher.cancel("later") == 1
    assert dispatcher.report("later")["a"].state is State.CANCELLED


def _wait_until(predicate: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        __import__("time").sleep(0.01)
    raise AssertionError("condition not reached")


def test_an_embedded_worker_delivers_on_the_private_loop_and_stops() -> None:
    server = FakeServer()
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=server)}, store=MemoryStore(), clock=SystemClock()
    )
    dispatcher.enqueue(Post(id="bg", text="from the background"), "a")
    worker = dispatcher.start_worker(poll=60.0)
    _wait_until(lambda: dispatcher.report("bg").ok)
    assert worker.running
    worker.stop(timeout=5)  # does not wait out the 60 s poll
    assert not worker.running
    dispatcher.enqueue(Post(id="after", text="nobody delivers this"), "a")
    dispatcher.close()
    assert len(server.attempts) == 1


def test_an_async_application_runs_the_worker_as_a_task() -> None:
    server = FakeServer()
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=server)}, store=MemoryStore(), clock=SystemClock()
    )

    async def app() -> None:
        async with dispatcher.worker(poll=60.0):
            dispatcher.enqueue(Post(id="task", text="hi"), "a")
            for _ in range(1000):
                if dispatcher.report("task").ok:
                    break
                await asyncio.sleep(0.01)
        await dispatcher.aclose()

    asyncio.run(app())
    assert dispatcher.report("task").ok
    assert len(server.attempts) == 1
