"""The second look after a resend, and removing the extra copy it finds when asked.

A create whose answer was lost, looked up twice in vain and then sent again
can still leave two posts: the first create hung past both lookups and was
applied later, or the server ignored the idempotency key. Such a delivery
keeps ``verify_at`` (:func:`unipost.reconciling.verify_at`); the background
lane calls :meth:`Verifier.step` beside its due publications. The channel's
lookup lists every copy of the post since the first attempt; a copy no record
owns is flagged (``possible_duplicate``, ``extra["duplicates"]``). Nothing is
deleted on a guess: :meth:`Verifier.remove_copy` runs only when a person asks
(``unipost outbox remove-duplicate``), on a channel that ``deletes``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from unipost import channel_calls, lifecycle, reconciling
from unipost.channel import Absent, Channel, LookupResult, Prepared, Unknown
from unipost.engine import Engine
from unipost.errors import ContentRejected, DeliveryError, UsageError
from unipost.lifecycle import Transition
from unipost.models import Post
from unipost.records import Record, State

__all__ = ["Verifier"]


@attrs.define
class Verifier:
    engine: Engine
    channels: Mapping[str, Channel]

    async def step(self, *, limit: int = 20) -> int:
        """Look again at every delivery whose second look is due; returns how many were seen."""
        engine = self.engine
        store = engine.store
        now = engine.clock.now()
        seen = 0
        for record_id in store.verifications_due(now, limit):
            record = store.record(record_id)
            retry_at = now + engine.settings.verify_after
            # Claimed by moving the due time on: a verifier that dies leaves it due again.
            if record.state is not State.DELIVERED or not store.claim_verification(
                record_id, record.verify_at, retry_at
            ):
                continue
            self._note(record, await self._second_look(record, retry_at))
            seen += 1
        return seen

    def next_due(self, until: float) -> float | None:
        """When the next second look before ``until`` is due (``drain`` waits for it)."""
        store = self.engine.store
        due = store.verifications_due(until, 1)
        return store.record(due[0]).verify_at if due else None

    async def _second_look(self, record: Record, retry_at: float) -> Transition:
        channel = self.channels.get(record.channel)
        if channel is None:
            return reconciling.look_again(record, retry_at, "the channel is no longer configured")
        try:
            prepared = self._prepared(record, channel)
            result = await self._look(record, channel, prepared)
        except (ContentRejected, DeliveryError, TimeoutError) as exc:
            return reconciling.look_again(record, retry_at, str(exc) or "the lookup timed out")
        if isinstance(result, Unknown):
            return reconciling.look_again(record, retry_at, result.reason)
        if isinstance(result, Absent):
            return reconciling.verified()
        extra = [
            copy
            for copy in result.copies
            if copy.platform_id != record.platform_id
            and channel_calls.claimed_by(self.engine, record, copy.platform_id) is None
        ]
        return reconciling.copies_found(record, extra) if extra else reconciling.verified()

    def _prepared(self, record: Record, channel: Channel) -> Prepared:
        publication = self.engine.store.publication(record.publication_id)
        return channel.prepare(Post.from_dict(publication.post))

    async def _look(self, record: Record, channel: Channel, prepared: Prepared) -> LookupResult:
        deadline = self.engine.clock.now() + self.engine.settings.attempt_timeout
        return await channel_calls.look_up(self.engine, channel, prepared, record, deadline)

    def _note(self, record: Record, transition: Transition) -> Record:
        engine = self.engine
        lifecycle.apply(record, transition, engine.clock.now())
        engine.store.save(record)
        if transition.event is not None and engine.wants(transition.event):
            engine.emit(
                transition.event,
                post_id=record.post_id,
                channel=record.channel,
                key=record.delivery_key[:12],
                **transition.details,
            )
        return record

    async def remove_copy(self, record_id: str, platform_id: str | None = None) -> Record:
        """Delete an extra copy the second look found (the only one, or ``platform_id``)."""
        record = self.engine.store.record(record_id)
        left = [
            entry
            for entry in record.extra.get("duplicates", [])
            if "removed_at" not in entry and platform_id in (None, entry.get("platform_id"))
        ]
        if not left:
            which = f" with id {platform_id}" if platform_id else ""
            raise UsageError(
                f"record {record_id}",
                f"has no extra copy{which} left to remove",
                "`unipost outbox show RECORD` lists the copies a second look found",
            )
        if len(left) > 1:
            ids = ", ".join(str(entry.get("platform_id")) for entry in left)
            raise UsageError(
                "platform_id",
                f"record {record_id} has {len(left)} extra copies ({ids})",
                "name the one to remove (--platform-id ID)",
            )
        channel = self.channels.get(record.channel)
        if channel is None or not channel.capabilities.deletes:
            raise UsageError(
                f"channels.{record.channel}",
                "this channel cannot delete posts through its API",
                f"remove the copy by hand: {left[0].get('url') or left[0].get('platform_id')}",
            )
        target = str(left[0]["platform_id"])
        deadline = self.engine.clock.now() + self.engine.settings.attempt_timeout
        ctx = channel_calls.context_for(self.engine, channel, record, deadline)
        async with self.engine.clock.timeout(deadline - self.engine.clock.now()):
            await channel.delete(target, ctx)
        return self._note(record, reconciling.copy_removed(record, target, self.engine.clock.now()))
