"""Two test-only HTTP channels and the dispatcher the child processes build.

``KeyChannel`` sends the delivery key as ``Idempotency-Key`` (Idempotency.KEY);
``LookupChannel`` sends it as a client marker in the body and can look a post
up by it (Idempotency.LOOKUP). Both talk to :class:`conftest.PostServer`.
"""

from __future__ import annotations

import hashlib
import os
from typing import ClassVar

import attrs
import httpx

from unipost import Capabilities, Channel, Context, Dispatcher, Idempotency, Prepared, Receipt
from unipost.channel import Absent, Flow, Found, LookupResult
from unipost.retry import RetryPolicy
from unipost.sqlite_store import SQLiteStore

_MEDIA = frozenset({"image/png"})


def _body(prepared: Prepared, ctx: Context) -> dict[str, object]:
    body: dict[str, object] = {"marker": ctx.delivery_key, "text": prepared.text}
    if prepared.post.media:
        body["media_sha256"] = hashlib.sha256(prepared.post.media[0].read()).hexdigest()
    return body


def _receipt(base_url: str, response: httpx.Response) -> Receipt:
    post_id = str(response.json()["id"])
    return Receipt(platform_id=post_id, url=f"{base_url}/posts/{post_id}")


@attrs.frozen(kw_only=True)
class KeyChannel(Channel):
    name: ClassVar[str] = "test-key"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=1000, idempotency=Idempotency.KEY, max_media=1, media_types=_MEDIA
    )
    base_url: str

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/posts",
            json=_body(prepared, ctx),
            headers={"Idempotency-Key": ctx.delivery_key, "X-Worker": str(os.getpid())},
        )
        assert response is not None
        return _receipt(self.base_url, response)


@attrs.frozen(kw_only=True)
class LookupChannel(Channel):
    name: ClassVar[str] = "test-lookup"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=1000, idempotency=Idempotency.LOOKUP
    )
    base_url: str

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/posts",
            json=_body(prepared, ctx),
            headers={"X-Worker": str(os.getpid())},
        )
        assert response is not None
        return _receipt(self.base_url, response)

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        response = yield httpx.Request(
            "GET", f"{self.base_url}/posts", params={"marker": ctx.delivery_key}
        )
        assert response is not None
        if not response.json()["found"]:
            return Absent()
        return Found(_receipt(self.base_url, response))


# Short everything: the servers answer at once, and a killed run's leases must run out fast.
FAST_INLINE = RetryPolicy(
    attempts=3, base=0.01, cap=0.05, reconcile_delays=(0.05, 0.1), key_retry_delay=0.05, patience=2
)
FAST_BACKGROUND = RetryPolicy(
    attempts=None,
    base=0.02,
    cap=0.2,
    reconcile_delays=(0.05, 0.1),
    key_retry_delay=0.05,
    patience=5,
)


def make_dispatcher(
    db: str, key_url: str, lookup_url: str, *, attempt_timeout: float = 1.0
) -> Dispatcher:
    """Short leases (``attempt_timeout`` + 0.5 s) so a killed run's records come back fast."""
    return Dispatcher(
        channels={
            "key": KeyChannel(id="key", base_url=key_url),
            "lookup": LookupChannel(id="lookup", base_url=lookup_url),
        },
        store=SQLiteStore(db),
        attempt_timeout=attempt_timeout,
        lease_margin=0.5,
        inline=FAST_INLINE,
        background=FAST_BACKGROUND,
    )
