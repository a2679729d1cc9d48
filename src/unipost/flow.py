"""The core's step for every request a flow yields, in one fixed order.

refuse credentials over plain HTTP → send → observe rate-limit headers →
classify → answer the flow (or throw the error into it, in
:meth:`unipost.channel.Context.run`). The HTTP pool only sends; the channel
only reads bodies; this module decides what a response means for the attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from unipost._http import HttpPool
from unipost.channel import Channel, is_loopback
from unipost.classify import error_for_exception
from unipost.errors import Permanent

__all__ = ["Step", "http_step"]

Step = Callable[[httpx.Request], Awaitable[httpx.Response]]


def http_step(
    pool: HttpPool,
    channel: Channel,
    *,
    deadline: float,
    now: Callable[[], float],
    observe: Callable[[httpx.Response], None] | None = None,
) -> Step:
    """The step a :class:`~unipost.channel.Context` sends each request through."""

    async def step(request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme == "http" and not is_loopback(url.host) and channel.has_secrets:
            raise Permanent(
                f"refusing to send {channel.id}'s credentials over plain http to {url.host}"
            )
        try:
            response = await pool.send(channel.id, request, remaining=deadline - now())
        except httpx.HTTPError as exc:
            raise error_for_exception(exc, request) from exc
        if observe is not None:
            observe(response)
        error = channel.classify(response, now=now())
        if error is not None:
            raise error
        return response

    return step
