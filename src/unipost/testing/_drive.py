"""Drive one channel directly, without a dispatcher: for plugin unit tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from unipost._http import HttpPool
from unipost.channel import Channel, Context, LookupResult, Prepared, Receipt
from unipost.credentials import CredentialStatus, as_status
from unipost.flow import http_step
from unipost.models import Post

__all__ = ["adeliver", "check", "check_status", "deliver", "lookup", "make_context"]

T = TypeVar("T")


async def _no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def make_context(
    channel: Channel,
    *,
    pool: HttpPool,
    delivery_key: str = "up1-testkey0000000000000000000000000",
    attempt: int = 1,
    post_id: str = "post-1",
    timeout: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = _no_sleep,
    first_attempt_at: float | None = None,
) -> Context:
    """A :class:`Context` whose requests go through ``pool`` (pytest-httpx sees them)."""
    deadline = time.time() + timeout
    return Context(
        delivery_key=delivery_key,
        attempt=attempt,
        post_id=post_id,
        now=time.time,
        deadline=deadline,
        send=http_step(pool, channel, deadline=deadline, now=time.time),
        sleep=sleep,
        first_attempt_at=first_attempt_at if first_attempt_at is not None else time.time() - 60.0,
    )


async def _with_pool(
    channel: Channel, body: Callable[[Context], Awaitable[T]], **kwargs: object
) -> T:
    pool = HttpPool()
    try:
        return await body(make_context(channel, pool=pool, **kwargs))  # type: ignore[arg-type]
    finally:
        await pool.aclose()


async def adeliver(channel: Channel, post: Post | Prepared, **kwargs: object) -> Receipt:
    """Prepare (unless given a Prepared) and deliver once; raises the classified error."""
    prepared = post if isinstance(post, Prepared) else channel.prepare(post)
    return await _with_pool(channel, lambda ctx: channel.deliver(prepared, ctx), **kwargs)


def deliver(channel: Channel, post: Post | Prepared, **kwargs: object) -> Receipt:
    """Synchronous :func:`adeliver`."""
    return asyncio.run(adeliver(channel, post, **kwargs))


def lookup(channel: Channel, post: Post | Prepared, **kwargs: object) -> LookupResult:
    """Run the channel's lookup for ``post`` once."""
    prepared = post if isinstance(post, Prepared) else channel.prepare(post)
    return asyncio.run(_with_pool(channel, lambda ctx: channel.lookup(prepared, ctx), **kwargs))


def delete(channel: Channel, platform_id: str, **kwargs: object) -> None:
    """Run the channel's ``delete_flow`` for one of its posts once (``Capabilities.deletes``)."""
    asyncio.run(_with_pool(channel, lambda ctx: channel.delete(platform_id, ctx), **kwargs))


def check_status(channel: Channel, **kwargs: object) -> CredentialStatus:
    """Run the channel's credential/health check once: who it is and when it lapses."""
    return as_status(asyncio.run(_with_pool(channel, channel.check, **kwargs)))


def check(channel: Channel, **kwargs: object) -> str:
    """Run the channel's credential/health check once; its answer as one line."""
    return check_status(channel, **kwargs).describe(time.time())
