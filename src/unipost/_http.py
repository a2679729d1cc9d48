"""The one place that sets up httpx transports: pooled clients that only send.

One ``AsyncClient`` per channel and event loop, keep-alive across deliveries,
connection timeouts from the retry policy (connect 5 s, read/write 20 s), each
clipped to what is left of the deadline. Built on the default transport, so
pytest-httpx can stand in for the network in tests.

Why per channel: httpcore's pool polls every idle connection on each request
it starts or finishes, so one pool shared by a 1,000-channel fan-out does
O(channels²) work (tens of seconds; see docs/performance.md). Small pools
sharing one SSL context keep each request's cost flat.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import Callable

import attrs
import httpx

from unipost.redact import redact

__all__ = ["USER_AGENT", "HttpPool"]

USER_AGENT = "unipost-sdk/0.1 (+https://pypi.org/project/unipost-sdk/)"


class _RedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO, and URLs carry secrets (webhooks, bot tokens)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


logging.getLogger("httpx").addFilter(_RedactingFilter())


@attrs.define
class HttpPool:
    """Clients keyed by event loop and channel; a loop's are closed together by :meth:`aclose`."""

    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_connections: int = 100  # per channel
    transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None
    _clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
        attrs.field(init=False, factory=weakref.WeakKeyDictionary)
    )
    _ssl: ssl.SSLContext | None = attrs.field(init=False, default=None)

    def client(self, key: str = "") -> httpx.AsyncClient:
        """The pooled client for ``key`` (a channel id) on the running loop."""
        clients = self._clients.setdefault(asyncio.get_running_loop(), {})
        client = clients.get(key)
        if client is None or client.is_closed:
            limits = httpx.Limits(
                max_connections=self.max_connections, max_keepalive_connections=self.max_connections
            )
            transport = self.transport_factory() if self.transport_factory else None
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()  # ~40 ms: made once, shared by all clients
            client = httpx.AsyncClient(
                limits=limits,
                timeout=httpx.Timeout(
                    self.read_timeout, connect=self.connect_timeout, pool=self.connect_timeout
                ),
                headers={"User-Agent": USER_AGENT},
                verify=self._ssl,
                transport=transport,
                follow_redirects=False,
            )
            clients[key] = client
        return client

    async def send(self, key: str, request: httpx.Request, *, remaining: float) -> httpx.Response:
        """Send ``request`` on ``key``'s client within ``remaining`` seconds; read the body."""
        # ``client.send`` does not merge the client's default headers into a built request.
        request.headers.setdefault("User-Agent", USER_AGENT)
        budget = max(0.05, remaining)
        request.extensions["timeout"] = httpx.Timeout(
            min(self.read_timeout, budget),
            connect=min(self.connect_timeout, budget),
            pool=min(self.connect_timeout, budget),
        ).as_dict()
        response = await self.client(key).send(request)
        await response.aread()
        return response

    async def aclose(self) -> None:
        clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await client.aclose()
