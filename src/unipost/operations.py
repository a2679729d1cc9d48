"""What a person (or a business tool) does with the outbox: reports and settling records.

Every change here takes the publication's lease first, the same lease the
lanes hold while they drive it, so an operator's cancel or resolve never
races a live ``publish`` or worker.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from unipost import lifecycle, route_state
from unipost import routes as routing
from unipost.channel import Channel, Context, RecipientResult
from unipost.credentials import CredentialStatus, as_status, expiry_warnings
from unipost.engine import Engine
from unipost.errors import ErrorClass, MissingSecret, UsageError
from unipost.flow import http_step
from unipost.lifecycle import Transition
from unipost.planning import channel_named
from unipost.records import Publication, Record, State
from unipost.report import Outcome, Report

__all__ = ["Operations"]


# -- a person's decisions (transitions only an operator makes) ------------------------


def cancelled() -> Transition:
    return Transition(state=State.CANCELLED, last_error="cancelled by an operator")


def resolved(
    *, delivered: bool, platform_id: str | None, url: str | None, now: float
) -> Transition:
    """A person settled an ``ambiguous`` record after checking the platform."""
    if delivered:
        return Transition(
            state=State.DELIVERED,
            last_error=None,
            changes={"platform_id": platform_id, "url": url},
            by_operator=True,
        )
    return Transition(
        state=State.RETRY_WAIT,
        next_attempt_at=now,
        last_error="resolved as not published: will be sent again",
        by_operator=True,
    )


def released_hold(*, published: str | None, now: float) -> Transition:
    """A held alternative after the one it waited for was settled by a person."""
    if published is not None:
        return Transition(
            state=State.SKIPPED,
            next_attempt_at=now,
            last_error=f"superseded: {published} was published",
        )
    return Transition(state=State.RETRY_WAIT, next_attempt_at=now, last_error=None)


def retry_requested(record: Record, now: float, ttl: float) -> Transition:
    """``unipost outbox retry``: due now; an expired record gets a new TTL."""
    changes: dict[str, Any] = {"moved_on": False}
    if record.ttl_at <= now:
        changes["ttl_at"] = now + ttl
    return Transition(
        state=State.RETRY_WAIT,
        next_attempt_at=now,
        last_error="retry requested by an operator",
        changes=changes,
        by_operator=True,
    )


def reauthorized(record: Record, now: float, ttl: float) -> Transition:
    """The credential was fixed: due now. A record whose TTL ran out while it waited
    for a person gets a new TTL (the operator asked for it by name)."""
    if record.state is State.BLOCKED:
        return Transition(state=State.RETRY_WAIT, next_attempt_at=now, changes={"moved_on": False})
    return retry_requested(record, now, ttl)


def blocked_by_credential(record: Record) -> bool:
    """Waiting on (or expired while waiting on) a credential the platform refused."""
    if record.last_class != ErrorClass.AUTH.value:
        return False
    return record.state is State.BLOCKED or record.state is State.EXPIRED


def _route_order(record: Record) -> list[int]:
    return [int(p) for p in record.path.split(".")]


@attrs.define
class Operations:
    engine: Engine
    channels: Mapping[str, Channel]

    # -- reports -------------------------------------------------------------------

    def report_for(
        self,
        publication: Publication,
        *,
        warnings: tuple[str, ...] = (),
        started_at: float | None = None,
    ) -> Report:
        store = self.engine.store
        records = sorted(store.records(publication.id), key=_route_order)
        route = routing.from_dict(publication.route)
        status = route_state.status(route, "0", {r.path: r for r in records})
        return Report(
            post_id=publication.post_id,
            revision=publication.revision,
            status=status,
            outcomes=tuple(self._outcome(r) for r in records),
            durable=store.durable,
            started_at=publication.created_at if started_at is None else started_at,
            finished_at=self.engine.clock.now(),
            warnings=warnings,
        )

    def _outcome(self, record: Record) -> Outcome:
        delivered = record.state is State.DELIVERED
        return Outcome(
            channel=record.channel,
            state=record.state,
            platform_id=record.platform_id,
            url=record.url,
            reason=None if delivered else record.last_error,
            error_class=None if delivered else record.last_class,
            attempts=tuple(self.engine.store.attempts(record.id)),
            next_attempt_at=record.next_attempt_at if not record.state.terminal else None,
            possible_duplicate=record.possible_duplicate,
            recipients=tuple(RecipientResult(**r) for r in record.recipients),
            extra=dict(record.extra),
            record_id=record.id,
        )

    def report(self, post_id: str, revision: int | None = None) -> Report:
        """The current report of a post published before (from any process)."""
        store = self.engine.store
        publication = store.find_publication(post_id, revision)
        if publication is None:
            raise UsageError(
                "post_id",
                f"no post {post_id!r} in the outbox at {store.location}",
                "check the id, or point to the right outbox",
            )
        return self.report_for(publication)

    # -- settling records ------------------------------------------------------------

    @contextlib.contextmanager
    def _holding(self, publication_id: str) -> Iterator[None]:
        """The publication's lease for one change; refused while a lane is driving it."""
        store = self.engine.store
        owner = f"operator-{uuid.uuid4().hex[:12]}"
        now = self.engine.clock.now()
        if not store.lease_publication(publication_id, owner, now + 30.0, now):
            raise UsageError(
                "record",
                "this post is being delivered right now",
                "try again in a few seconds (or stop the worker first)",
            )
        try:
            yield
        finally:
            store.release_publication(publication_id, owner)

    def _change(self, record: Record, transition: lifecycle.Transition) -> Record:
        self.engine.store.save(lifecycle.apply(record, transition, self.engine.clock.now()))
        return record

    def cancel(self, post_id: str, channel: str | None = None) -> int:
        """Cancel what is not delivered yet; returns how many records were cancelled."""
        count = 0
        store = self.engine.store
        for record in store.query(post_id=post_id, channel=channel):
            if record.state.terminal or record.state is State.SENDING:
                continue
            with self._holding(record.publication_id):
                current = store.record(record.id)
                if current.state.terminal or current.state is State.SENDING:
                    continue
                self._change(current, cancelled())
                count += 1
        return count

    def resolve(
        self,
        record_id: str,
        *,
        delivered: bool,
        platform_id: str | None = None,
        url: str | None = None,
    ) -> Record:
        """A person settles an ``ambiguous`` record after checking the platform."""
        store = self.engine.store
        record = store.record(record_id)
        if record.state is not State.AMBIGUOUS:
            raise UsageError(
                "record",
                f"{record_id} is {record.state.value}, not ambiguous",
                "only ambiguous records can be resolved",
            )
        now = self.engine.clock.now()
        with self._holding(record.publication_id):
            self._change(
                record,
                resolved(delivered=delivered, platform_id=platform_id, url=url, now=now),
            )
            published = record.channel if delivered else None
            for sibling in store.records(record.publication_id):
                if sibling.state is State.BLOCKED and sibling.last_class == lifecycle.HELD:
                    self._change(sibling, released_hold(published=published, now=now))
        return record

    def retry(self, record_id: str) -> Record:
        """Send a record again now (``unipost outbox retry``); an expired one gets a new TTL.

        Ambiguous records are settled with :meth:`resolve` instead: retrying
        one blindly could publish twice.
        """
        store = self.engine.store
        record = store.record(record_id)
        refused = {
            State.DELIVERED: "it is delivered",
            State.AMBIGUOUS: "it may have been published: settle it with resolve",
            State.SENDING: "an attempt is in progress",
            State.RECONCILING: "its outcome is being looked up",
        }
        if record.state in refused:
            raise UsageError(
                "record",
                f"{record_id} is {record.state.value}: {refused[record.state]}",
                "retry failed, expired, cancelled, skipped or waiting records",
            )
        ttl = float(store.publication(record.publication_id).post.get("ttl", 86400.0))
        with self._holding(record.publication_id):
            now = self.engine.clock.now()
            return self._change(record, retry_requested(record, now, ttl))

    def sharing_credential(self, channel_id: str) -> tuple[str, ...]:
        """``channel_id`` and every configured channel on the same credential."""
        key = channel_named(self.channels, channel_id).credential_key
        same = []
        for other in self.channels:
            try:
                if self.channels[other].credential_key == key:
                    same.append(other)
            except MissingSecret:  # its secret is unset: it cannot be the same credential
                continue
        return tuple(same) or (channel_id,)

    def blocked(self, channel_id: str) -> list[Record]:
        """Records waiting for ``channel_id``'s credential (or expired while waiting)."""
        found: list[Record] = []
        for channel in self.sharing_credential(channel_id):
            records = self.engine.store.query(
                states=(State.BLOCKED, State.EXPIRED), channel=channel
            )
            found.extend(r for r in records if blocked_by_credential(r))
        return sorted(found, key=lambda r: (r.created_at, r.id))

    def reauthorize(self, channel_id: str) -> int:
        """The channel's credential was fixed: lift its block everywhere and send again, once,
        every record it held (``unipost outbox retry --blocked-by CHANNEL``)."""
        channel = channel_named(self.channels, channel_id)
        self.engine.reauthorized(channel.credential_key)
        store = self.engine.store
        count = 0
        for record in self.blocked(channel_id):
            with self._holding(record.publication_id):
                current = store.record(record.id)
                if not blocked_by_credential(current):
                    continue  # settled meanwhile
                ttl = float(store.publication(current.publication_id).post.get("ttl", 86400.0))
                self._change(current, reauthorized(current, self.engine.clock.now(), ttl))
                count += 1
        self.engine.emit("credential.reauthorized", channel=channel_id, released=count)
        return count

    async def check(self, channel_id: str) -> CredentialStatus:
        """Run a channel's credential and reachability check; raises the classified error.

        Credentials a person must renew within ``credential_warn_days`` are
        announced as ``credential.expiring`` (or ``credential.expired``) events.
        """
        channel = channel_named(self.channels, channel_id)
        clock = self.engine.clock
        deadline = clock.now() + self.engine.settings.attempt_timeout
        context = Context(
            delivery_key="check",
            attempt=0,
            post_id="check",
            now=clock.now,
            deadline=deadline,
            send=http_step(self.engine.http, channel, deadline=deadline, now=clock.now),
            sleep=clock.sleep,
        )
        status = as_status(await channel.check(context))
        warn_days = self.engine.settings.credential_warn_days
        for warning in expiry_warnings(channel_id, status, now=clock.now(), warn_days=warn_days):
            self.engine.emit(warning.event, channel=channel_id, **warning.fields())
        return status
