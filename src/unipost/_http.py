"""The one place that sets up httpx transports: pooled clients and the send step.

One ``AsyncClient`` per event loop, keep-alive across deliveries, connection
timeouts from the retry policy (connect 5 s, read/write 20 s), each clipped to
what is left of the deadline. Built on the default transport, so pytest-httpx
can stand in for the network in tests.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

import attrs
import httpx

from unipost.channel import Channel
from unipost.classify import error_for_exception
from unipost.redact import redact

__all__ = ["USER_AGENT", "HttpPool"]

USER_AGENT = "unipost/0.1 (+https://pypi.org/project/unipost/)"


class _RedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO, and URLs carry secrets (webhooks, bot tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


logging.getLogger("httpx").addFilter(_RedactingFilter())


@attrs.define
class HttpPool:
    """Clients keyed by event loop; closed together by :meth:`aclose`."""

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_connections: int = 100
    transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None
    _clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = attrs.field(
        init=False, factory=weakref.WeakKeyDictionary
    )

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            limits = httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections
            )
            transport = self.transport_factory() if self.transport_factory else None
            client = httpx.AsyncClient(
                limits=limits,
                timeout=httpx.Timeout(
                    self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout
                ),
                headers={"User-Agent": USER_AGENT},
                transport=transport,
                follow_redirects=False,
            )
            self._clients[loop] = client
        return client

    async def send(
        self,
        channel: Channel,
        request: httpx.Request,
        *,
        remaining: float,
        on_response: Callable[[httpx.Response], None] | None = None,
    ) -> httpx.Response:
        """Send one request for ``channel``; raise the classified error on failure."""
        channel.refuse_insecure(request)
        budget = max(0.05, remaining)
        request.extensions["timeout"] = httpx.Timeout(
            min(self.read_timeout, budget),
            connect=min(self.connect_timeout, budget),
            pool=min(self.connect_timeout, budget),
        ).as_dict()
        try:
            response = await self.client().send(request)
            await response.aread()
        except httpx.HTTPError as exc:
            raise error_for_exception(exc, request) from exc
        if on_response is not None:
            on_response(response)
        error = channel.classify(response)
        if error is not None:
            raise error
        return response

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
