"""A good channel and deliberately broken ones, to prove the conformance kit can fail.

Each broken channel has one defect a real plugin could have; the test in
``tests/engine/test_conformance_kit.py`` runs ``ChannelContract`` on every one
of them and checks that each contract test fails on at least one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Idempotency,
    Permanent,
    Post,
    Prepared,
    RateLimited,
    Receipt,
    Register,
    error_for_status,
    hookimpl,
    json_body,
    json_object,
    require,
    secret,
)

BASE = "https://api.kit.test"
CAPS = Capabilities(
    text_limit=100,
    max_media=1,
    media_types=frozenset({"image/png"}),
    media_from_url_only=True,
    idempotency=Idempotency.KEY,
    limits=(),
)


@attrs.frozen(kw_only=True)
class GoodChannel(Channel):
    """``POST /posts`` with a bearer token and an Idempotency-Key: everything right."""

    name: ClassVar[str] = "kit-good"
    capabilities: ClassVar[Capabilities] = CAPS
    token: str = secret()

    def key(self, ctx: Context) -> str:
        return ctx.delivery_key

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request(
            "POST",
            f"{BASE}/posts",
            json={"text": prepared.text},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": self.key(ctx)},
        )
        body = json_object(response)
        return self.receipt(str(require(body, "id", what="kit")), body.get("url"))

    def receipt(self, platform_id: str, url: Any) -> Receipt:
        return Receipt(platform_id=platform_id, url=url)

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        message = json_body(response).get("message")
        return error_for_status(response, message=message, now=now)


class UnregisteredChannel(GoodChannel):
    """Not registered through the entry point."""

    name: ClassVar[str] = "kit-unregistered"


class BadCapabilities(GoodChannel):
    """Capabilities as a plain dict, not a Capabilities."""

    name: ClassVar[str] = "kit-bad-capabilities"
    capabilities: ClassVar[Any] = {"text_limit": 100}

    def prepare(self, post: Post) -> Prepared:
        return Prepared(channel=self.id, post=post, parts=(post.text[:100],))


@attrs.frozen(kw_only=True)
class LeakyRepr(GoodChannel):
    """The token is an ordinary field: it shows in repr and is never redacted."""

    name: ClassVar[str] = "kit-leaky-repr"
    token: str = attrs.field(default="")


class IgnoresLimit(GoodChannel):
    """Sends text over the platform's limit as it is."""

    name: ClassVar[str] = "kit-ignores-limit"

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(attrs.evolve(post, text=post.text[:10]))
        return attrs.evolve(prepared, parts=(post.text,))


class NoUrlReceipt(GoodChannel):
    """Returns a receipt without the URL the platform gave."""

    name: ClassVar[str] = "kit-no-url"

    def receipt(self, platform_id: str, url: Any) -> Receipt:
        return Receipt(platform_id=platform_id)


class EverythingPermanent(GoodChannel):
    """Classifies every failure as permanent: a 503 is never retried."""

    name: ClassVar[str] = "kit-everything-permanent"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        if response.is_success:
            return None
        return Permanent(f"HTTP {response.status_code}", status=response.status_code)


class IgnoresRetryAfter(GoodChannel):
    """Drops the platform's Retry-After from a 429."""

    name: ClassVar[str] = "kit-ignores-retry-after"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        if response.status_code == 429:
            return RateLimited("slow down", status=429)
        return super().classify(response, now=now)


class SwallowsErrors(GoodChannel):
    """Reports success whatever happened."""

    name: ClassVar[str] = "kit-swallows-errors"

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        try:
            return await super().deliver(prepared, ctx)
        except DeliveryError:
            return Receipt(platform_id="unknown", url=f"{BASE}/unknown")


class LogsToken(GoodChannel):
    """Logs its request headers, token included."""

    name: ClassVar[str] = "kit-logs-token"

    def key(self, ctx: Context) -> str:
        logging.getLogger("kit").debug("sending with Authorization: Bearer %s", self.token)
        return ctx.delivery_key


_FIRST_LOOP: list[asyncio.AbstractEventLoop] = []


class LoopBound(GoodChannel):
    """Keeps a resource bound to the first event loop it ran on (works sync, fails async)."""

    name: ClassVar[str] = "kit-loop-bound"

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        loop = asyncio.get_running_loop()
        if not _FIRST_LOOP:
            _FIRST_LOOP.append(loop)
        if _FIRST_LOOP[0] is not loop:
            raise RuntimeError("this client is bound to another event loop")
        return await super().deliver(prepared, ctx)


class ErrorLeaksToken(GoodChannel):
    """Puts the request, token included, into the error's detail."""

    name: ClassVar[str] = "kit-error-leaks-token"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        error = super().classify(response, now=now)
        if error is not None:
            error.detail["request_headers"] = dict(response.request.headers)
        return error


class RandomKey(GoodChannel):
    """Declares KEY idempotency but sends a new key on every attempt."""

    name: ClassVar[str] = "kit-random-key"

    def key(self, ctx: Context) -> str:
        return uuid.uuid4().hex


class SendsBeforeValidating(GoodChannel):
    """Skips the media check: sends, and lets the platform refuse."""

    name: ClassVar[str] = "kit-sends-before-validating"

    def prepare(self, post: Post) -> Prepared:
        return super().prepare(attrs.evolve(post, media=()))


BROKEN = (
    UnregisteredChannel,
    BadCapabilities,
    LeakyRepr,
    IgnoresLimit,
    NoUrlReceipt,
    EverythingPermanent,
    IgnoresRetryAfter,
    SwallowsErrors,
    LogsToken,
    LoopBound,
    ErrorLeaksToken,
    RandomKey,
    SendsBeforeValidating,
)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(GoodChannel)
    for kind in BROKEN:
        if kind is not UnregisteredChannel:
            register(kind)
