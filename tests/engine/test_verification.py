"""#14.5: after a resend that followed two negative lookups, look once more later, flag
the extra copy a late create left, and remove it only when a person asks."""

from __future__ import annotations

import pytest

from unipost import Dispatcher, MemoryStore, Post
from unipost.celery import FocusedStore, _enqueue, _focus, _Runtime
from unipost.errors import Ambiguous, UsageError
from unipost.plugin import Capabilities, Context, Idempotency, Prepared, Unknown
from unipost.records import State
from unipost.testing import (
    EventRecorder,
    FakeChannel,
    FakeServer,
    VirtualClock,
    fake_channel,
    lands_later,
)

LOOKUP = Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP, deletes=True)
VERIFY_AFTER = 600.0


def _dispatcher(
    channel: FakeChannel, clock: VirtualClock, recorder: EventRecorder | None = None
) -> Dispatcher:
    return Dispatcher(
        channels={channel.id: channel},
        store=MemoryStore(),
        clock=clock,
        observers=[recorder] if recorder is not None else [],
        verify_after=VERIFY_AFTER,
    )


def test_a_create_that_lands_after_the_resend_is_flagged_then_removed_on_request() -> None:
    server = FakeServer()
    server.script = [lands_later(server, 45.0)]  # applied after both lookups and the resend
    channel = fake_channel("social", capabilities=LOOKUP, server=server)
    clock, recorder = VirtualClock(), EventRecorder()
    with _dispatcher(channel, clock, recorder) as dispatcher:
        dispatcher.publish(Post(text="Open 9-5 today", id="p1"), "social")
        dispatcher.drain(until=clock.now() + 120)
        [record] = dispatcher.store.query(post_id="p1")
        assert record.state is State.DELIVERED
        assert record.lookups_absent == 2  # two lookups proved it absent: a resend was safe
        clock.advance(60)  # the hung create is applied meanwhile
        server.land(clock.now())
        assert len(server.copies(record.delivery_key)) == 2  # ...yet the first create landed
        assert not record.possible_duplicate  # not known yet: the second look is later
        assert record.verify_at == pytest.approx(record.updated_at + VERIFY_AFTER, abs=1)
        lookups_before = server.lookups

        dispatcher.drain(until=clock.now() + VERIFY_AFTER + 60)
        [record] = dispatcher.store.query(post_id="p1")
        assert server.lookups == lookups_before + 1  # one second look, no more
        assert record.possible_duplicate
        assert record.verify_at == 0.0
        [copy] = record.extra["duplicates"]
        assert copy["platform_id"] != record.platform_id
        assert copy["platform_id"] in server.copies(record.delivery_key)
        [found] = recorder.of("duplicate.found")
        assert found.fields["copies"] == 1
        report = dispatcher.report("p1")
        assert report.outcomes[0].possible_duplicate
        assert f"remove-duplicate {record.id}" in str(report)
        assert server.deleted == []  # nothing is deleted on a guess

        record = dispatcher.remove_duplicate(record.id)
        assert server.deleted == [copy["platform_id"]]
        assert server.copies(record.delivery_key) == [record.platform_id]
        assert not record.possible_duplicate
        assert record.state is State.DELIVERED
        assert recorder.of("duplicate.removed")[0].fields["platform_id"] == copy["platform_id"]
        with pytest.raises(UsageError, match="no extra copy"):
            dispatcher.remove_duplicate(record.id)  # once only
        assert "possible duplicate" not in str(dispatcher.report("p1"))


def test_a_resend_with_no_late_copy_is_looked_at_once_and_left_alone() -> None:
    server = FakeServer()
    server.script = [_unanswered_and_lost]  # unanswered, and never applied
    channel = fake_channel("social", capabilities=LOOKUP, server=server)
    clock, recorder = VirtualClock(), EventRecorder()
    with _dispatcher(channel, clock, recorder) as dispatcher:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + VERIFY_AFTER * 3)
        [record] = dispatcher.store.query(post_id="p1")
        assert record.state is State.DELIVERED
        assert server.lookups == 3  # two before the resend, one after
        assert not record.possible_duplicate
        assert record.verify_at == 0.0
        assert recorder.of("duplicate.found") == []
        assert len(server.copies(record.delivery_key)) == 1


async def _unanswered_and_lost(_prepared: Prepared, _ctx: Context) -> None:
    raise Ambiguous("no answer (the request may have been applied)")


def test_a_first_try_delivery_needs_no_second_look() -> None:
    server = FakeServer()
    channel = fake_channel("social", capabilities=LOOKUP, server=server)
    clock = VirtualClock()
    with _dispatcher(channel, clock) as dispatcher:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + VERIFY_AFTER * 2)
        [record] = dispatcher.store.query(post_id="p1")
        assert record.verify_at == 0.0
        assert server.lookups == 0


class _Unsure(FakeChannel):
    """Lookups answer only until the resend; the second looks cannot tell."""

    __slots__ = ()
    capabilities = LOOKUP

    async def lookup(self, prepared: Prepared, ctx: Context) -> object:  # type: ignore[override]
        if self.server.lookups >= 2:
            self.server.lookups += 1
            return Unknown("the listing is unavailable")
        return await super().lookup(prepared, ctx)


def test_second_looks_that_cannot_tell_give_up_after_three_and_say_so() -> None:
    server = FakeServer()
    server.script = [_unanswered_and_lost]
    channel = _Unsure(id="social", server=server)
    clock = VirtualClock()
    with _dispatcher(channel, clock) as dispatcher:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + VERIFY_AFTER * 10)
        [record] = dispatcher.store.query(post_id="p1")
        assert server.lookups == 2 + 3
        assert record.verify_at == 0.0
        assert record.extra["verify_tries"] == 3
        assert "unavailable" in record.extra["verify_unsettled"]
        assert record.state is State.DELIVERED


def test_a_lookup_that_finds_two_copies_delivers_the_first_and_flags_the_other() -> None:
    server = FakeServer()
    channel = fake_channel("social", capabilities=LOOKUP, server=server)
    clock = VirtualClock()

    async def applied_twice(_prepared: Prepared, ctx: Context) -> None:
        server.created(ctx.delivery_key)
        server.duplicate(ctx.delivery_key)
        raise Ambiguous("no answer")

    server.script = [applied_twice]
    with _dispatcher(channel, clock) as dispatcher:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + 120)
        [record] = dispatcher.store.query(post_id="p1")
        first, second = server.copies(record.delivery_key)
        assert record.state is State.DELIVERED
        assert record.platform_id == first
        assert record.possible_duplicate
        assert [c["platform_id"] for c in record.extra["duplicates"]] == [second]


def test_a_channel_that_cannot_delete_says_how_to_remove_the_copy_by_hand() -> None:
    server = FakeServer()
    server.script = [lands_later(server, 45.0)]
    caps = Capabilities(text_limit=500, idempotency=Idempotency.LOOKUP)
    channel = fake_channel("social", capabilities=caps, server=server)
    clock = VirtualClock()
    with _dispatcher(channel, clock) as dispatcher:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + VERIFY_AFTER * 2)
        [record] = dispatcher.store.query(post_id="p1")
        assert record.possible_duplicate
        url = record.extra["duplicates"][0]["url"]
        with pytest.raises(UsageError, match="cannot delete") as caught:
            dispatcher.remove_duplicate(record.id)
        assert url in str(caught.value)
        assert server.deleted == []


def test_celery_runs_the_second_looks_in_its_enqueue_task_not_in_deliver_tasks() -> None:
    server = FakeServer()
    server.script = [lands_later(server, 45.0)]
    channel = fake_channel("social", capabilities=LOOKUP, server=server)
    clock, store = VirtualClock(), MemoryStore()

    def build(focused: object) -> Dispatcher:
        return Dispatcher(
            channels={"social": channel}, store=focused, clock=clock, verify_after=VERIFY_AFTER
        )  # type: ignore[arg-type]

    runtime = _Runtime(lambda: store, build)
    dispatcher, focused, loop = runtime.get()
    assert isinstance(focused, FocusedStore)
    sent: list[tuple[str, ...]] = []

    class Deliver:
        def apply_async(self, args: tuple[str, ...]) -> None:
            sent.append(args)

    try:
        dispatcher.publish(Post(text="hello", id="p1"), "social")
        dispatcher.drain(until=clock.now() + 120)
        [record] = store.query(post_id="p1")
        clock.advance(VERIFY_AFTER + 1)
        token = focused.focus(record.publication_id)
        try:  # a deliver task for one publication leaves the second looks alone
            assert focused.verifications_due(clock.now(), 10) == []
        finally:
            _focus.reset(token)
        assert _enqueue(runtime, Deliver(), claim=20.0, batch=10) == 0
        assert sent == []  # nothing to deliver ...
        flagged = store.record(record.id)
        assert flagged.possible_duplicate  # ... but the second look ran in the enqueuer
        assert flagged.verify_at == 0.0
    finally:
        dispatcher.close()
        loop.close()
