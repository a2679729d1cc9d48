"""A record the breaker parks leaves the run, even when its short wake passed meanwhile.

During another process's half-open probe a refused record is asked back in one
second (``probe_wait``). A store slower than that (a loaded PostgreSQL, a
remote Redis) used to find the record due again at once: the run re-admitted
it, refused, again and again until the probe ended, and the ``first_of`` never
reached its fallback. Found by the long-outage test (tests/scale).
"""

from __future__ import annotations

import asyncio
from typing import Any

import attrs

from unipost import MemoryStore, Post, State, first_of
from unipost.breaker import Admission
from unipost.outbox import Attempt, Record
from unipost.store_proxy import DelegatingStore
from unipost.testing import FakeServer, VirtualClock


@attrs.define
class SlowStore(DelegatingStore):
    """Every save takes two seconds of the clock: longer than a probe's wait."""

    clock: VirtualClock | None = None

    def save(self, record: Record, *, attempt: Attempt | None = None) -> None:
        super().save(record, attempt=attempt)
        assert self.clock is not None
        self.clock.advance(2.0)


def test_a_refused_primary_hands_the_route_to_its_fallback_in_the_same_step(
    make_dispatcher: Any, clock: VirtualClock
) -> None:
    primary, fallback = FakeServer(), FakeServer()
    dispatcher = make_dispatcher(
        store=SlowStore(MemoryStore(), clock=clock), primary=primary, fallback=fallback
    )
    breaker = dispatcher.breakers["primary"]
    for _ in range(5):
        breaker.record(clock.now(), ok=False)
    clock.advance(31.0)
    assert breaker.admit(clock.now()) is Admission.PROBE  # another worker's probe, in flight

    dispatcher.enqueue(Post(id="p1", text="hi"), first_of("primary", "fallback"))
    asyncio.run(dispatcher.arun_due())

    states = {r.channel: r.state for r in dispatcher.store.query(post_id="p1")}
    assert states == {"primary": State.SKIPPED, "fallback": State.DELIVERED}
    assert primary.attempts == []
