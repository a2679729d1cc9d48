"""A rig for dispatcher tests on virtual time, and the six invariants of the fault matrix.

``reference/resilience.md`` part B asserts after every row:

* I1 no record missing, and none non-terminal past its TTL;
* I2 creates that may have been applied ≤ 1 per record unless ``possible_duplicate``;
* I3 requests to an open domain ≤ 1 per open interval (its probe);
* I4 ``publish`` returns within the deadline + 250 ms;
* I5 one key per record across all attempts;
* I6 no secret in the captured output.

:meth:`Rig.check` asserts all six from what the fake servers saw, the event
stream, the outbox and the captured log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from unipost import Dispatcher, MemoryStore, Post, Report
from unipost import routes as routing
from unipost.breaker import BreakerState
from unipost.outbox import Record, State
from unipost.testing import EventRecorder, FakeChannel, FakeServer, VirtualClock

GRACE = 0.25  # I4: publish returns within its deadline plus this


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@attrs.define
class Rig:
    """A dispatcher over fake channels on a virtual clock, plus what it did."""

    dispatcher: Dispatcher
    clock: VirtualClock
    recorder: EventRecorder
    channels: dict[str, FakeChannel]
    secrets: tuple[str, ...] = ()
    post_ids: list[str] = attrs.field(factory=list)
    reports: list[Report] = attrs.field(factory=list)
    publish_spans: list[tuple[float, float, float]] = attrs.field(factory=list)
    _log: _Lines = attrs.field(factory=_Lines)

    @property
    def t0(self) -> float:
        return 1_800_000_000.0

    def server(self, channel: str) -> FakeServer:
        return self.channels[channel].server

    def elapsed(self) -> float:
        return self.clock.now() - self.t0

    def times(self, channel: str) -> list[float]:
        """When ``channel``'s server saw each attempt, in seconds since the start."""
        return [t - self.t0 for t in self.server(channel).sent_at]

    async def publish(self, post: Post, to: Any, *, deadline: float | None = None) -> Report:
        """``apublish`` that remembers the post and how long it took (I4)."""
        self.post_ids.append(post.id)
        limit = self.dispatcher.deadline if deadline is None else deadline
        started = self.clock.now()
        report = await self.dispatcher.apublish(post, to, deadline=deadline)
        self.publish_spans.append((started, self.clock.now(), limit))
        self.reports.append(report)
        return report

    def enqueue(self, post: Post, to: Any) -> Report:
        self.post_ids.append(post.id)
        return self.dispatcher.enqueue(post, to)

    async def drain(self, seconds: float) -> None:
        await self.dispatcher.adrain(until=self.clock.now() + seconds)

    def report(self, post_id: str) -> Report:
        return self.dispatcher.report(post_id)

    def records(self, post_id: str | None = None) -> list[Record]:
        return self.dispatcher.store.query(post_id=post_id, limit=1_000_000)

    def record(self, post_id: str, channel: str) -> Record:
        (found,) = [r for r in self.records(post_id) if r.channel == channel]
        return found

    def log_lines(self) -> list[str]:
        return list(self._log.lines)

    # -- the invariants ----------------------------------------------------------

    def check(self, *, settled: bool = False) -> None:
        """Assert I1–I6; ``settled`` also demands that every record is terminal."""
        records = self.records()
        self._i1_nothing_lost(records, settled=settled)
        self._i2_no_duplicate_create(records)
        self._i3_open_domains_left_alone()
        self._i4_deadlines()
        self._i5_one_key_per_record(records)
        self._i6_no_secret(records)

    def _i1_nothing_lost(self, records: Sequence[Record], *, settled: bool) -> None:
        store = self.dispatcher.store
        now = self.clock.now()
        for post_id in self.post_ids:
            publication = store.find_publication(post_id)
            assert publication is not None, f"I1: post {post_id} has no publication"
            route = routing.from_dict(publication.route)
            expected = sorted(leaf.channel for _p, leaf in routing.leaves(route))
            found = sorted(r.channel for r in store.records(publication.id))
            assert found == expected, f"I1: {post_id} has records {found}, route {expected}"
        for record in records:
            if record.state.terminal:
                continue
            assert not settled, f"I1: {record.post_id}→{record.channel} still {record.state}"
            assert now < record.ttl_at, f"I1: {record.channel} {record.state} past its TTL"
            if record.state is not State.BLOCKED:
                assert record.next_attempt_at < record.ttl_at, (
                    f"I1: {record.channel} due at {record.next_attempt_at}, after its TTL"
                )

    def _i2_no_duplicate_create(self, records: Sequence[Record]) -> None:
        for record in records:
            server = self.server(record.channel)
            creates = server.creates(record.delivery_key)
            assert creates <= 1 or record.possible_duplicate, (
                f"I2: {creates} posts for {record.post_id}→{record.channel}"
            )

    def _i3_open_domains_left_alone(self) -> None:
        domain_of = {cid: ch.failure_domain for cid, ch in self.channels.items()}
        state: dict[str, BreakerState] = {}
        used: dict[str, int] = {}
        half_open_intervals: dict[str, int] = {}
        starts: dict[str, int] = {}
        for event in self.recorder.events:
            if event.name == "breaker.transition":
                domain = event.fields["domain"]
                state[domain] = BreakerState(event.fields["to"])
                used[domain] = 0
                if state[domain] is BreakerState.HALF_OPEN:
                    half_open_intervals[domain] = half_open_intervals.get(domain, 0) + 1
            elif event.name == "attempt.start" and event.channel is not None:
                starts[event.channel] = starts.get(event.channel, 0) + 1
                domain = domain_of[event.channel]
                current = state.get(domain, BreakerState.CLOSED)
                assert current not in (BreakerState.OPEN, BreakerState.ISOLATED), (
                    f"I3: {event.channel} attempted while {domain} was open"
                )
                if current is BreakerState.HALF_OPEN:
                    used[domain] = used.get(domain, 0) + 1
                    assert used[domain] <= 1, f"I3: two requests to half-open {domain}"
        for cid, channel in self.channels.items():
            seen = len(channel.server.sent_at)
            assert starts.get(cid, 0) == seen, (
                f"{cid}: {starts.get(cid, 0)} attempt events but the server saw {seen}"
            )
        checks: dict[str, int] = {}
        for cid, channel in self.channels.items():
            domain = domain_of[cid]
            checks[domain] = checks.get(domain, 0) + len(channel.server.checks_at)
        for domain, count in checks.items():
            assert count <= half_open_intervals.get(domain, 0), (
                f"I3: {count} health checks for {half_open_intervals.get(domain, 0)} probes"
            )

    def _i4_deadlines(self) -> None:
        for started, ended, limit in self.publish_spans:
            assert ended - started <= limit + GRACE, (
                f"I4: publish took {ended - started:.3f} s, deadline {limit} s"
            )

    def _i5_one_key_per_record(self, records: Sequence[Record]) -> None:
        keys: dict[str, Record] = {}
        for record in records:
            expected = self.dispatcher.delivery_key(record.post_id, record.channel, record.revision)
            assert record.delivery_key == expected, f"I5: {record.channel} key changed"
            assert record.delivery_key not in keys, "I5: two records share a key"
            keys[record.delivery_key] = record
        for cid, channel in self.channels.items():
            for seen_channel, key in channel.server.attempts:
                assert seen_channel == cid
                assert key in keys, f"I5: {cid} got a key of no record"
                assert keys[key].channel == cid, f"I5: {cid} got another channel's key"
        store = self.dispatcher.store
        for record in records:
            sent = sum(
                1 for _c, k in self.server(record.channel).attempts if k == record.delivery_key
            )
            logged = len(store.attempts(record.id))
            assert logged == sent == record.attempts or (
                record.state is State.SENDING and logged + 1 == sent
            ), f"I5: {record.channel} {record.attempts} counted, {logged} logged, {sent} seen"

    def _i6_no_secret(self, records: Sequence[Record]) -> None:
        outputs: list[str] = [*self.log_lines()]
        outputs.extend(f"{e.message()} {dict(e.fields)!r}" for e in self.recorder.events)
        outputs.extend(r.to_json() + str(r) for r in self.reports)
        outputs.extend(self.report(pid).to_json() for pid in self.post_ids)
        store = self.dispatcher.store
        for record in records:
            outputs.append(f"{record.last_error} {record.last_class}")
            outputs.extend(repr(a) for a in store.attempts(record.id))
        for secret in self.secrets:
            leaks = [line for line in outputs if secret in line]
            assert not leaks, f"I6: secret in {leaks[:2]}"


def build_rig(
    channels: Iterable[FakeChannel], *, secrets: tuple[str, ...] = (), **settings: Any
) -> Rig:
    """A dispatcher over ``channels`` on a fresh virtual clock, logging captured."""
    clock = VirtualClock()
    recorder = EventRecorder()
    by_id = {c.id: c for c in channels}
    settings.setdefault("seed", 7)
    dispatcher = Dispatcher(
        channels=by_id, store=MemoryStore(), clock=clock, observers=[recorder], **settings
    )
    rig = Rig(
        dispatcher=dispatcher, clock=clock, recorder=recorder, channels=by_id, secrets=secrets
    )
    logger = logging.getLogger("unipost")
    logger.addHandler(rig._log)
    logger.setLevel(logging.DEBUG)
    return rig


def release(rig: Rig) -> None:
    logger = logging.getLogger("unipost")
    logger.removeHandler(rig._log)
    logger.setLevel(logging.NOTSET)
