"""Driving a publication along its route: ``all_of`` in parallel, ``first_of`` in order.

One walker per publication at a time (in this process by a set of active
ids, across processes by the store's publication lease). Where the route
stands is read from the records by :mod:`unipost.route_state`; what happens
to a record is decided in :mod:`unipost.lifecycle`: an alternative that
delivered supersedes the others, one that may have posted holds the later
ones, and no alternative is retried while a later one may have posted.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Mapping

import attrs

from unipost import lifecycle, route_state
from unipost import routes as routing
from unipost.channel import Channel, Idempotency, Prepared
from unipost.delivery import Lane, RecordRunner
from unipost.engine import Engine
from unipost.errors import ContentRejected, ErrorClass
from unipost.models import Post
from unipost.outbox import Publication, Record, State
from unipost.report import ReportStatus
from unipost.routes import AllOf, FirstOf, Leaf, Route

__all__ = ["RouteWalker"]

_UNPROVEN_CLASSES = {ErrorClass.AMBIGUOUS.value, ErrorClass.DUPLICATE_SIGNAL.value}


def _progress(record: Record) -> tuple[object, ...]:
    """What a step can change about a record (to tell a busy loop from work)."""
    return (record.state, record.attempts, record.next_attempt_at, record.lookups_absent)


def _unproven(record: Record) -> bool:
    """The record may have posted and it is not settled yet."""
    return record.state in (State.SENDING, State.RECONCILING) or (
        record.state is State.RETRY_WAIT and record.last_class in _UNPROVEN_CLASSES
    )


@attrs.define
class _Run:
    publication: Publication
    records: dict[str, Record]  # by route path
    prepared: dict[str, Prepared]  # by channel id
    lane: Lane
    route: Route


@attrs.define
class RouteWalker:
    """Advances publications; one instance per dispatcher, used by both lanes."""

    engine: Engine
    channels: Mapping[str, Channel]
    rng: random.Random
    _active: set[str] = attrs.field(init=False, factory=set)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    async def advance(
        self,
        publication: Publication,
        records: list[Record],
        lane: Lane,
        *,
        route: Route | None = None,
        prepared: Mapping[str, Prepared] | None = None,
    ) -> bool:
        """Drive a publication's records along its route; False if nothing changed.

        A publication already driven here, or leased by another process, is
        left to that driver: two drivers could both send.
        """
        with self._lock:
            if publication.id in self._active:
                return False
            self._active.add(publication.id)
        store = self.engine.store
        owner = self.engine.settings.owner
        try:
            if not self._lease(publication.id):
                return False
            heartbeat = asyncio.ensure_future(self._keep_lease(publication.id))
            try:
                return await self._drive(publication, records, lane, route, prepared)
            finally:
                heartbeat.cancel()
                store.release_publication(publication.id, owner)
        finally:
            with self._lock:
                self._active.discard(publication.id)

    def _lease(self, publication_id: str) -> bool:
        now = self.engine.clock.now()
        until = now + self.engine.settings.publication_lease
        return self.engine.store.lease_publication(
            publication_id, self.engine.settings.owner, until, now
        )

    async def _keep_lease(self, publication_id: str) -> None:
        """Renew the lease while driving (in real time): a dead driver's lapses within seconds."""
        while True:
            await asyncio.sleep(self.engine.settings.publication_lease / 3)
            self._lease(publication_id)

    async def _drive(
        self,
        publication: Publication,
        records: list[Record],
        lane: Lane,
        route: Route | None,
        prepared: Mapping[str, Prepared] | None,
    ) -> bool:
        before = [_progress(r) for r in records]
        ready = dict(prepared) if prepared is not None else self._prepare(publication, records)
        run = _Run(
            publication=publication,
            records={r.path: r for r in records},
            prepared=ready,
            lane=lane,
            route=route if route is not None else routing.from_dict(publication.route),
        )
        await self._node(run, run.route, "0", None, wait=True)
        after = [_progress(run.records[r.path]) for r in records]
        return before != after

    def _prepare(self, publication: Publication, records: list[Record]) -> dict[str, Prepared]:
        """A stored publication, rendered again for the worker (the settings may have changed)."""
        source = Post.from_dict(publication.post)
        prepared: dict[str, Prepared] = {}
        now = self.engine.clock.now()
        for record in records:
            if record.state.terminal:
                continue
            channel = self.channels.get(record.channel)
            if channel is None:
                reason = f"channel {record.channel!r} is no longer configured"
                self._save(lifecycle.apply(record, lifecycle.rejected(reason), now))
                continue
            try:
                prepared[record.channel] = channel.prepare(source)
            except ContentRejected as exc:  # the channel's settings changed since publish
                self._save(lifecycle.apply(record, lifecycle.rejected(str(exc)), now))
        return prepared

    def _save(self, record: Record) -> None:
        self.engine.store.save(record)

    def _change(self, record: Record, transition: lifecycle.Transition) -> None:
        self._save(lifecycle.apply(record, transition, self.engine.clock.now()))

    async def _node(
        self, run: _Run, node: Route, path: str, patience: float | None, *, wait: bool
    ) -> None:
        if isinstance(node, Leaf):
            record = run.records[path]
            if record.state.terminal or record.channel not in run.prepared:
                return
            runner = RecordRunner(
                engine=self.engine,
                record=record,
                channel=self.channels[record.channel],
                prepared=run.prepared[record.channel],
                lane=run.lane,
                patience=patience,
                save_hook=lambda r: run.records.__setitem__(path, r),
                rng=self.rng,
            )
            await runner.run(wait=wait)
            return
        if isinstance(node, AllOf):
            await asyncio.gather(
                *(
                    self._node(run, child, f"{path}.{i}", patience, wait=wait)
                    for i, child in enumerate(node.targets)
                )
            )
            return
        await self._first_of(run, node, path, patience, wait=wait)

    async def _first_of(
        self, run: _Run, node: FirstOf, path: str, patience: float | None, *, wait: bool
    ) -> None:
        if route_state.status(node, path, run.records) is ReportStatus.SUCCEEDED:
            await self._won(run, node, path, patience)
            return
        alt_patience = node.patience if node.patience is not None else run.lane.policy.patience
        for index, child in enumerate(node.targets):
            child_path = f"{path}.{index}"
            last = index == len(node.targets) - 1
            if not last and self._later_unproven(run, node, path, index):
                continue  # a later alternative may have posted: this one is not retried meanwhile
            passed_before = route_state.passed(child, child_path, run.records)
            await self._node(
                run,
                child,
                child_path,
                patience if last else alt_patience,
                wait=wait and not passed_before,
            )
            status = route_state.status(child, child_path, run.records)
            if status is ReportStatus.SUCCEEDED:
                await self._won(run, node, path, patience)
                return
            if status is ReportStatus.AMBIGUOUS and node.on_ambiguous == "hold":
                self._hold(run, path, child_path)
                return
            if not route_state.passed(child, child_path, run.records):
                self._defer_later(run, path, index)
                return
            if not last and not passed_before:
                self.engine.emit(
                    "fallback",
                    post_id=run.publication.post_id,
                    **{
                        "from": routing.describe(child),
                        "to": routing.describe(node.targets[index + 1]),
                    },
                )

    def _later_unproven(self, run: _Run, node: FirstOf, path: str, index: int) -> bool:
        for later in range(index + 1, len(node.targets)):
            later_path = f"{path}.{later}"
            if any(
                route_state.within(p, later_path) and _unproven(r) for p, r in run.records.items()
            ):
                return True
        return False

    async def _won(self, run: _Run, node: FirstOf, path: str, patience: float | None) -> None:
        self._supersede(run, node, path)
        await self._settle_superseded(run, node, path, patience)

    def _defer_later(self, run: _Run, path: str, index: int) -> None:
        """Alternatives after one still at work are not due before it is looked at again.

        Otherwise a worker would find them due on every poll while the route waits.
        """
        current = f"{path}.{index}"
        busy = [
            r.lease_until if r.state is State.SENDING else r.next_attempt_at
            for p, r in run.records.items()
            if route_state.within(p, current)
            and not r.state.terminal
            and r.state is not State.BLOCKED
        ]
        if not busy:
            return
        wake = min(busy)
        here = route_state.position(current)
        for record_path, record in run.records.items():
            if (
                record_path.startswith(path + ".")
                and route_state.position(record_path)[: len(here)] > here
                and record.state in (State.PENDING, State.RETRY_WAIT)
                and record.next_attempt_at < wake
            ):
                self._change(record, lifecycle.deferred(record, wake))

    def _supersede(self, run: _Run, node: FirstOf, path: str) -> None:
        """Once one alternative delivered, the others that cannot have posted are skipped.

        One that may have posted is settled by what its channel can prove: a
        lookup decides, otherwise it is held for a person — never left ``sending``.
        """
        winner = next(
            f"{path}.{i}"
            for i, child in enumerate(node.targets)
            if route_state.status(child, f"{path}.{i}", run.records) is ReportStatus.SUCCEEDED
        )
        won_by = routing.describe(route_state.node_at(run.route, winner))
        possibly_twice = False
        now = self.engine.clock.now()
        owner = self.engine.settings.owner
        for record_path, record in list(run.records.items()):
            if not record_path.startswith(path + ".") or route_state.within(record_path, winner):
                continue
            if record.state is State.AMBIGUOUS:
                possibly_twice = True
            if record.state is State.SENDING:
                if record.lease_owner != owner and record.lease_until > now:
                    continue  # another process's attempt is running; it settles the record
                leased = self.engine.store.lease(record.id, owner, now + 1.0, now)
                if leased is None:
                    continue
                run.records[record_path] = record = leased
                self._change(record, self._unproven_superseded(record, won_by))
                possibly_twice = possibly_twice or record.state is State.AMBIGUOUS
                continue
            if record.state is State.RECONCILING:
                # It may have posted: its lookup still runs, but an absent result ends it.
                record.extra["superseded_by"] = won_by
                self._save(record)
                continue
            if record.state.terminal:
                continue
            if _unproven(record):
                self._change(record, self._unproven_superseded(record, won_by))
                possibly_twice = possibly_twice or record.state is State.AMBIGUOUS
                continue
            self._change(record, lifecycle.superseded(won_by))
        if possibly_twice:
            for record_path, record in run.records.items():
                if route_state.within(record_path, winner) and record.state is State.DELIVERED:
                    record.possible_duplicate = True
                    self._save(record)

    def _unproven_superseded(self, record: Record, won_by: str) -> lifecycle.Transition:
        caps = self.channels[record.channel].capabilities
        record.extra["superseded_by"] = won_by
        return lifecycle.superseded_unproven(
            won_by, lookup=Idempotency.LOOKUP in caps.idempotency, now=self.engine.clock.now()
        )

    async def _settle_superseded(
        self, run: _Run, node: FirstOf, path: str, patience: float | None
    ) -> None:
        """Finish the lookups of alternatives that may have posted before the winner did."""
        for index, child in enumerate(node.targets):
            child_path = f"{path}.{index}"
            if any(
                route_state.within(p, child_path) and r.state is State.RECONCILING
                for p, r in run.records.items()
            ):
                await self._node(run, child, child_path, patience, wait=True)

    def _hold(self, run: _Run, path: str, held_by: str) -> None:
        """Later alternatives wait while an earlier one may have posted (never a guess)."""
        held_at = route_state.position(held_by)
        by = routing.describe(route_state.node_at(run.route, held_by))
        for record_path, record in run.records.items():
            if not record_path.startswith(path + ".") or route_state.within(record_path, held_by):
                continue
            if (
                record.state in (State.PENDING, State.RETRY_WAIT)
                and route_state.position(record_path) > held_at
            ):
                self._change(record, lifecycle.held(by))
