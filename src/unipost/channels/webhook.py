"""The ``webhook`` channel: POST the post as JSON to your own endpoint, signed.

Signing follows Standard Webhooks, so any receiver library for that format
(or Svix's) verifies it: ``webhook-id`` is the delivery key and stays the
same on every retry, which is what lets the receiver drop duplicates.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import httpx

from unipost.channel import (
    WEB_MEDIA_TYPES,
    Capabilities,
    Channel,
    Context,
    Flow,
    Idempotency,
    Prepared,
    Receipt,
)
from unipost.channel import secret as secret_field
from unipost.classify import error_for_status
from unipost.errors import DeliveryError, Permanent
from unipost.hookspecs import hookimpl

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["WebhookChannel", "sign"]

_PREFIX = "whsec_"


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and base64 HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def _decode_secret(value: str) -> bytes:
    encoded = value.removeprefix(_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise ValueError("secret must be whsec_ followed by base64 (as the receiver shows it)")
    return key


def _check_secret(_instance: Any, _attribute: Any, value: str) -> None:
    _decode_secret(value)


def _check_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an absolute http(s) URL")


@attrs.frozen(kw_only=True)
class WebhookChannel(Channel):
    """Deliver posts to an HTTP endpoint you run (Standard Webhooks signatures)."""

    name: ClassVar[str] = "webhook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        max_media=20,
        media_types=WEB_MEDIA_TYPES,
        title=True,
        idempotency=Idempotency.KEY,
        health_check=True,
    )

    #: The endpoint; a secret, because webhook URLs often carry their own token.
    url: str = secret_field(validator=_check_url)
    #: The signing secret, ``whsec_<base64>``.
    secret: str = secret_field(validator=_check_secret)
    event_type: str = "post.published"

    @property
    def failure_domain(self) -> str:
        return f"webhook:{urllib.parse.urlsplit(self.url).hostname}"

    @property
    def origin(self) -> str:
        """Scheme, host and port only: safe to show, unlike the path and query."""
        parts = urllib.parse.urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/"

    def body(self, prepared: Prepared, now: float) -> bytes:
        """The JSON document, in the Standard Webhooks ``type``/``timestamp``/``data`` shape."""
        post = prepared.post
        stamp = dt.datetime.fromtimestamp(int(now), dt.UTC).isoformat().replace("+00:00", "Z")
        data = {
            "type": self.event_type,
            "timestamp": stamp,
            "data": {
                "post_id": post.id,
                "revision": post.revision,
                "channel": self.id,
                "title": post.title,
                "text": prepared.text,
                "link": post.link,
                "tags": list(post.tags),
                "language": post.language,
                "media": [
                    {
                        "mime_type": m.mime_type,
                        "alt": m.alt,
                        "url": m.url,
                        "filename": m.filename,
                        "size": m.size,
                        "width": m.width,
                        "height": m.height,
                    }
                    for m in post.media
                ],
                "metadata": dict(post.metadata),
            },
        }
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        # Each attempt signs afresh: same webhook-id, current timestamp (receivers
        # reject stale timestamps as replays).
        timestamp = int(time.time())
        body = self.body(prepared, timestamp)
        headers = {
            "content-type": "application/json",
            "webhook-id": ctx.delivery_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                _decode_secret(self.secret), ctx.delivery_key, timestamp, body
            ),
        }
        response = yield httpx.Request("POST", self.url, content=body, headers=headers)
        assert response is not None
        return self._receipt(response, ctx.delivery_key)

    def check_flow(self, ctx: Context) -> Flow[str]:
        """Reachability: any answer but 410 or 5xx proves the receiver is up (many answer GET 405)."""
        try:
            response = yield httpx.Request("GET", self.url, extensions={"unipost.safe": True})
        except DeliveryError as error:
            if error.status is None or error.status == 410 or error.status >= 500:
                raise
            return f"{self.origin} answers (HTTP {error.status} to GET; deliveries are POSTs)"
        assert response is not None
        return f"{self.origin} answers (HTTP {response.status_code})"

    def _receipt(self, response: httpx.Response, message_id: str) -> Receipt:
        """The receiver's id and URL when it answers JSON with them, else what we know."""
        answer: Any = None
        if response.content:
            try:
                answer = response.json()
            except ValueError:
                answer = None
        platform_id = message_id
        url = self.origin
        if isinstance(answer, dict):
            given = answer.get("id")
            if isinstance(given, str | int) and not isinstance(given, bool) and str(given):
                platform_id = str(given)
            link = answer.get("url")
            if isinstance(link, str) and link.startswith(("https://", "http://")):
                url = link
        return Receipt(platform_id=platform_id, url=url, extra={"webhook_id": message_id})

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        if response.status_code == 410:
            return Permanent(
                f"the endpoint is gone (HTTP 410): the receiver disabled this webhook; "
                f"remove or replace channels.{self.id}.url",
                status=410,
            )
        return error_for_status(response, now=now)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(WebhookChannel)
