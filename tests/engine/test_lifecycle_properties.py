"""Random event sequences through the decision table keep the delivery promises.

A small model of the engine drives a record: an attempt starts only from
``pending``/``retry_wait`` (as ``begin_attempt`` allows), its outcome is a
random classified error or a success, lookups answer only while
``reconciling``, and crashes, TTL expiry and rate-limit waits happen at
random. After every step the promises are checked:

* never delivered twice, and terminal states stay terminal;
* never a resend of a create that may have been applied, unless the channel
  has a key (KEY in its window, CLIENT_ID), two lookups proved it absent, or
  the operator opted in to resending.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from unipost import lifecycle, reconciling
from unipost.channel import Capabilities, Idempotency, Receipt
from unipost.errors import (
    Ambiguous,
    AuthFailed,
    DeliveryError,
    DuplicateSignal,
    NotSent,
    Permanent,
    QuotaExhausted,
    RateLimited,
    Transient,
)
from unipost.lifecycle import Situation
from unipost.records import Record, State
from unipost.retry import BACKGROUND, INLINE

NOW = 1_800_000_000.0

errors = st.one_of(
    st.builds(NotSent, st.just("refused")),
    st.builds(Transient, st.just("503")),
    st.builds(lambda: Transient("500", may_have_applied=True)),
    st.builds(Ambiguous, st.just("timeout")),
    st.builds(DuplicateSignal, st.just("exists")),
    st.builds(lambda w: RateLimited("slow", retry_after=w), st.none() | st.floats(0, 900)),
    st.builds(lambda: QuotaExhausted("daily", retry_after=3600.0)),
    st.builds(AuthFailed, st.just("expired")),
    st.builds(Permanent, st.just("bad")),
)
events = st.lists(
    st.one_of(
        st.tuples(st.just("attempt"), errors),
        st.tuples(st.just("success"), st.none()),
        st.tuples(st.just("found"), st.none()),
        st.tuples(st.just("absent"), st.none()),
        st.tuples(st.just("unknown"), st.none()),
        st.tuples(st.just("crash"), st.none()),
        st.tuples(st.just("ttl"), st.none()),
        st.tuples(st.just("time"), st.floats(0, 7200)),
    ),
    max_size=40,
)
ways = st.sampled_from(
    [
        Idempotency.NONE,
        Idempotency.KEY,
        Idempotency.CLIENT_ID,
        Idempotency.LOOKUP,
        Idempotency.KEY | Idempotency.LOOKUP,
        Idempotency.CLIENT_ID | Idempotency.LOOKUP,
    ]
)


class Model:
    """The engine's rules around the decision table, in a few lines."""

    def __init__(self, idempotency: Idempotency, inline: bool, opted_in: bool) -> None:
        self.caps = Capabilities(
            text_limit=None, idempotency=idempotency, idempotency_window=3600.0
        )
        self.inline = inline
        self.opted_in = opted_in
        self.now = NOW
        self.rng = random.Random(3)
        self.record = Record(
            id="r",
            publication_id="p",
            post_id="post",
            revision=1,
            channel="c",
            path="0",
            delivery_key="up1-k",
            ttl_at=NOW + 86_400,
            started_at=NOW,
        )
        self.deliveries = 0
        self.unsafe = False  # a create may have been applied and nothing proved otherwise
        self.attempts_here = 0

    def situation(self) -> Situation:
        return Situation(
            now=self.now,
            caps=self.caps,
            policy=INLINE if self.inline else BACKGROUND,
            inline=self.inline,
            attempts_here=self.attempts_here,
            retry_ambiguous=self.opted_in,
            rng=self.rng,
        )

    def keyed(self) -> bool:
        ways = self.caps.idempotency
        in_window = self.now - self.record.started_at < 3600.0
        return Idempotency.CLIENT_ID in ways or (Idempotency.KEY in ways and in_window)

    def apply(self, transition: lifecycle.Transition) -> None:
        lifecycle.apply(self.record, transition, self.now)

    def step(self, kind: str, value: object) -> None:
        record = self.record
        if record.state.terminal:
            return  # the runner never drives a settled record
        if kind == "time":
            assert isinstance(value, float)
            self.now += value
            return
        if kind == "ttl":
            self.now = max(self.now, record.ttl_at)
            self.apply(lifecycle.expired(record))
            return
        if kind == "crash" and record.state is State.SENDING:
            self.apply(reconciling.recovered(record, self.caps, self.now))
            return
        if kind in ("found", "absent", "unknown") and record.state is State.RECONCILING:
            if kind == "found":
                self.apply(lifecycle.delivered(Receipt(platform_id="1")))
                self.deliveries += 1
                self.unsafe = False
            elif kind == "absent":
                self.apply(reconciling.lookup_absent(record, self.situation()))
                if record.state is State.RETRY_WAIT and record.last_class is None:
                    self.unsafe = False  # proven absent twice
            else:
                self.apply(reconciling.lookup_unknown("cannot tell"))
            return
        if kind in ("attempt", "success") and record.state in (State.PENDING, State.RETRY_WAIT):
            passed = reconciling.key_unprotected(record, self.caps, self.now)
            if passed is not None:
                self.apply(passed)
                return
            # The promise: no resend while a create may have been applied, unless keyed.
            assert not self.unsafe or self.keyed() or self.opted_in, (
                f"resend of a maybe-applied create: {record}"
            )
            self.apply(lifecycle.begun("me", self.now + 30, record.attempts + 1))
            self.attempts_here += 1
            if kind == "success":
                self.apply(lifecycle.delivered(Receipt(platform_id="1")))
                self.deliveries += 1
                return
            assert isinstance(value, DeliveryError)
            if value.may_have_applied:
                self.unsafe = True  # Ambiguous and DuplicateSignal always say so
            transition = lifecycle.on_error(record, value, self.situation())
            self.apply(transition)
            if transition.state is State.RETRY_WAIT:
                assert transition.next_attempt_at is not None
                assert transition.next_attempt_at > self.now, "a wait of zero is a tight loop"


@settings(max_examples=400, deadline=None)
@given(events=events, idempotency=ways, inline=st.booleans(), opted_in=st.booleans())
def test_random_event_sequences_keep_the_promises(
    events: list[tuple[str, object]], idempotency: Idempotency, inline: bool, opted_in: bool
) -> None:
    model = Model(idempotency, inline, opted_in)
    for kind, value in events:
        before = model.record.state
        model.step(kind, value)
        assert model.deliveries <= 1, "delivered twice"
        if before.terminal:
            assert model.record.state is before, "a terminal state changed"
