"""#14.14–20: processes sharing one outbox share breakers, drive each publication once,
move on from a dead primary at once, and catch up as soon as it recovers.

Two dispatchers with their own owners on one SQLite file stand for two
processes (a ``unipost publish`` and a worker); the clock is virtual. The
multi-process version with real processes is in ``test_outage_processes.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unipost import Dispatcher, Post, State, first_of
from unipost.breaker import BreakerState
from unipost.errors import Transient
from unipost.sqlite_store import SQLiteStore
from unipost.testing import FakeServer, VirtualClock, fake_channel


def down(n: int = 1000) -> list[Any]:
    return [Transient("503 Service Unavailable", status=503) for _ in range(n)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    clock = VirtualClock()
    primary = FakeServer(script=down())
    fallback = FakeServer()
    made: list[Dispatcher] = []

    def process(**settings: Any) -> Dispatcher:
        channels = {
            "primary": fake_channel("primary", domain="primary", server=primary),
            "fallback": fake_channel("fallback", domain="fallback", server=fallback),
        }
        dispatcher = Dispatcher(
            channels=channels,
            store=SQLiteStore(tmp_path / "outbox.sqlite3"),
            clock=clock,
            seed=len(made),
            **settings,
        )
        made.append(dispatcher)
        return dispatcher

    class Rig:
        pass

    r = Rig()
    r.clock, r.primary, r.fallback, r.process = clock, primary, fallback, process  # type: ignore[attr-defined]
    yield r
    for dispatcher in made:
        dispatcher.close()


def test_a_breaker_opened_by_one_process_holds_for_the_next(rig: Any) -> None:
    """#14.14/17: each new `unipost publish` process no longer pays its own failures."""
    for n in range(6):
        rig.process().publish(Post(text=f"post {n}", id=f"p{n}"), first_of("primary", "fallback"))
    reached = len(rig.primary.attempts)
    later = rig.process()
    assert later.breakers["primary"].state is BreakerState.OPEN
    report = later.publish(Post(text="later", id="later"), first_of("primary", "fallback"))
    assert report.ok
    assert report["fallback"].state is State.DELIVERED
    assert len(rig.primary.attempts) == reached, "the open breaker was not shared"
    assert reached <= 5 + 2, f"{reached} requests reached the down primary"


def test_a_worker_does_not_take_over_a_publication_being_published(rig: Any) -> None:
    """#14.16: one driver per publication across processes."""
    publisher, worker = rig.process(), rig.process()
    report = publisher.enqueue(Post(text="hours", id="hours"), first_of("primary", "fallback"))
    publication = publisher.store.find_publication("hours")
    assert publication is not None
    now = rig.clock.now()
    assert publisher.store.lease_publication(publication.id, publisher.owner, now + 60, now)
    moved = asyncio.run(worker.arun_due())
    assert moved == 0
    assert rig.primary.attempts == []
    assert report.outcomes[0].state is State.PENDING
    publisher.store.release_publication(publication.id, publisher.owner)
    assert asyncio.run(worker.arun_due()) == 1


def test_an_operator_cannot_race_a_live_driver(rig: Any) -> None:
    """#14.16: cancel takes the publication lease like the lanes do."""
    from unipost.errors import UsageError

    publisher, operator = rig.process(), rig.process()
    publisher.enqueue(Post(text="hours", id="hours"), "fallback")
    publication = publisher.store.find_publication("hours")
    assert publication is not None
    now = rig.clock.now()
    publisher.store.lease_publication(publication.id, publisher.owner, now + 60, now)
    with pytest.raises(UsageError, match="being delivered right now"):
        operator.cancel("hours")


def test_records_waiting_on_an_outage_are_due_when_it_recovers(rig: Any) -> None:
    """#14.19: a closed breaker wakes its domain's records instead of a 10-minute back-off."""
    worker = rig.process()
    worker.enqueue(Post(text="all", id="all"), "primary")
    start = rig.clock.now()
    for _ in range(8):  # the worker meets the outage and backs off further each time
        asyncio.run(worker.arun_due())
        record = worker.store.query(post_id="all")[0]
        rig.clock.advance(max(0.0, record.next_attempt_at - rig.clock.now()))
    record = worker.store.query(post_id="all")[0]
    assert record.state is State.RETRY_WAIT
    rig.primary.script.clear()  # the platform recovers
    worker.breakers.reset("primary")
    woken = worker.store.query(post_id="all")[0]
    assert woken.next_attempt_at <= rig.clock.now() + 10.0
    rig.clock.advance(10.0)
    asyncio.run(worker.arun_due())
    assert worker.store.query(post_id="all")[0].state is State.DELIVERED
    assert rig.clock.now() - start < 3600


def test_an_earlier_alternative_is_not_retried_while_a_later_one_may_have_posted(
    rig: Any,
) -> None:
    """#14.20: the fallback's answer was lost; the primary is not tried meanwhile."""
    from unipost.errors import Ambiguous

    rig.fallback.script.append(Ambiguous("answer lost"))
    dispatcher = rig.process(per_channel=4)
    dispatcher.publish(Post(text="hours", id="hours"), first_of("primary", "fallback"), deadline=5)
    before = len(rig.primary.attempts)
    rig.primary.script.clear()  # the primary is back, but the fallback may have posted
    dispatcher.drain(until=rig.clock.now() + 600)
    report = dispatcher.report("hours")
    delivered = [o.channel for o in report.outcomes if o.state is State.DELIVERED]
    assert len(delivered) <= 1, f"posted on {delivered}"
    assert len(rig.primary.attempts) == before or delivered == ["primary"]


def test_no_record_is_left_sending_when_a_sibling_delivers(rig: Any) -> None:
    """#14.15: a killed process left the primary `sending` (it had moved on to the
    fallback); the fallback delivers before that lease runs out. The primary is settled
    once the lease lapses — held for a person, since it may have posted — never left
    `sending`, and the publication stops coming back as due."""
    dispatcher = rig.process()
    dispatcher.enqueue(Post(text="hours", id="hours"), first_of("primary", "fallback"))
    primary = dispatcher.store.query(post_id="hours", channel="primary")[0]
    now = rig.clock.now()
    started = dispatcher.store.begin_attempt(primary.id, "dead-process", now + 60, now)
    assert started is not None
    started.moved_on = True  # its patience had passed: the route had moved on
    dispatcher.store.save(started)
    asyncio.run(dispatcher.arun_due())
    states = {r.channel: r.state for r in dispatcher.store.query(post_id="hours")}
    assert states == {"primary": State.SENDING, "fallback": State.DELIVERED}
    rig.clock.advance(61)  # the dead process's lease runs out
    asyncio.run(dispatcher.arun_due())
    primary = dispatcher.store.query(post_id="hours", channel="primary")[0]
    assert primary.state is State.AMBIGUOUS
    assert "fallback delivered" in str(primary.last_error)
    assert dispatcher.store.due_publications(rig.clock.now() + 3600, 10) == []
    report = dispatcher.report("hours")
    assert report["fallback"].possible_duplicate
