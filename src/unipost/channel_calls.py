"""Calling a channel for one record: the context it runs in, and asking what exists.

An attempt, a reconciling lookup and the second look after a resend all run a
channel's flow in a :class:`~unipost.channel.Context` wired to the engine's
HTTP pool, clock and rate-limit observer, within a deadline.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from unipost.channel import Channel, Context, LookupResult, Prepared
from unipost.engine import Engine
from unipost.errors import ErrorClass
from unipost.flow import http_step
from unipost.records import Record

__all__ = ["claimed_by", "context_for", "look_up"]


def context_for(
    engine: Engine,
    channel: Channel,
    record: Record,
    deadline: float,
    *,
    on_key_ignored: Callable[[str], None] | None = None,
) -> Context:
    """The context of one call for ``record``, ending at clock time ``deadline``."""
    clock = engine.clock

    def observe(response: httpx.Response) -> None:
        engine.limiter.observe(channel.credential_key, response.headers, clock.now())

    return Context(
        delivery_key=record.delivery_key,
        attempt=record.attempts,
        post_id=record.post_id,
        now=clock.now,
        deadline=deadline,
        send=http_step(engine.http, channel, deadline=deadline, now=clock.now, observe=observe),
        sleep=clock.sleep,
        first_attempt_at=record.started_at or clock.now(),
        resend_trusts_key=record.last_class == ErrorClass.AMBIGUOUS.value,
        on_key_ignored=on_key_ignored or _unheeded,
    )


def _unheeded(_reason: str) -> None:
    """A lookup or a delete sends no create: a key it cannot trust changes nothing."""


async def look_up(
    engine: Engine, channel: Channel, prepared: Prepared, record: Record, deadline: float
) -> LookupResult:
    """The channel's lookup for ``record``; raises ``DeliveryError`` or ``TimeoutError``."""
    clock = engine.clock
    async with clock.timeout(deadline - clock.now()):
        return await channel.lookup(prepared, context_for(engine, channel, record, deadline))


def claimed_by(engine: Engine, record: Record, platform_id: str) -> str | None:
    """Another record of this channel that already owns ``platform_id``, if any."""
    for other in engine.store.query(channel=record.channel, platform_id=platform_id):
        if other.id != record.id:
            return other.id
    return None
