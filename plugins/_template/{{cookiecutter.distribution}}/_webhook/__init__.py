"""{{ cookiecutter.platform_title }} for unipost: ``type = "{{ cookiecutter.platform }}"`` in unipost.toml.

This file is the whole plugin: one channel class and one hook. It starts as a
working channel for an imaginary chat platform whose credential is a URL —
an *incoming webhook*, the style of Slack, Discord, Teams or Mattermost:

* the platform gives each room a secret URL such as
  ``https://hooks.{{ cookiecutter.platform }}.example/services/T0001/B0002/XXXXXXXX``; whoever
  knows it can post, so the whole URL is the credential;
* ``POST <webhook_url>`` with ``{"text": ...}`` posts a message and answers
  ``{"message_id": ...}`` — no id of a page, no permalink;
* ``GET <webhook_url>`` tells which room the webhook posts to (a safe read);
* errors come as ``{"error": "...", "message": "..."}``.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

import attrs
import httpx
from unipost.plugin import (
    AuthFailed,
    Capabilities,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Idempotency,
    Limit,
    Overflow,
    Prepared,
    Receipt,
    Register,
    TextUnit,
    error_for_status,
    hookimpl,
    is_loopback,
    json_body,
    json_object,
    require,
    secret,
)

__all__ = ["{{ cookiecutter.class_name }}", "unipost_register_channels"]

__version__ = "{{ cookiecutter.version }}"


def _check_webhook_url(_instance: Any, _attribute: Any, value: str) -> None:
    """Refuse a value that cannot be a webhook URL — without echoing it: it is a secret."""
    parts = urllib.parse.urlsplit(value)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and is_loopback(parts.hostname or "")
    )
    if not secure or not parts.hostname or parts.path.strip("/") == "":
        raise ValueError(
            "webhook_url must be the full https:// URL the platform gave for the room "
            '(with its path), e.g. { env = "{{ cookiecutter.platform|upper|replace("-", "_") }}_WEBHOOK_URL" }'
        )


def _check_room_url(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError(f"room_url must be an http(s) URL, not {value!r}")


@attrs.frozen(kw_only=True)
class {{ cookiecutter.class_name }}(Channel):
    """{{ cookiecutter.platform_title }}: one JSON POST per message to the room's webhook URL."""

    name: ClassVar[str] = "{{ cookiecutter.platform }}"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit={{ cookiecutter.text_limit }},
        text_unit=TextUnit.GRAPHEMES,
        overflow=Overflow.TRUNCATE,
        # Incoming webhooks rarely take an idempotency key: a timeout after sending is
        # held as ambiguous for a person instead of being sent twice.
        idempotency=Idempotency.NONE,
        limits=(Limit(rate=1, per=1.0, burst=5),),
        health_check=True,  # check_flow() is a safe read: a half-open breaker probes with it
    )

    #: The whole URL is the credential. ``secret()`` hides it from reprs and registers it
    #: for redaction — the URL, its path and the token in it — in logs, errors and reports;
    #: the validator checks it at load time without ever printing it.
    webhook_url: str = secret(validator=_check_webhook_url)
    #: Where people read the room (optional): reports show it as the message's URL.
    room_url: str | None = attrs.field(default=None, validator=_check_room_url)

    @property
    def failure_domain(self) -> str:
        """Every webhook on one host fails together; fallbacks should live elsewhere."""
        return f"{self.name}:{urllib.parse.urlsplit(self.webhook_url).hostname}"

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request("POST", self.webhook_url, json={"text": prepared.text})
        data = json_object(response)  # a 2xx that is not JSON may hide a posted message
        message_id = require(data, "message_id", what="the webhook's answer")
        # No permalink comes back: point to the room the message went to, never to the
        # webhook URL (it is a credential). Without room_url there is nothing to show.
        return Receipt(platform_id=str(message_id), url=self.room_url)

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``unipost check``: does the webhook still exist, and which room does it post to?"""
        response = yield httpx.Request("GET", self.webhook_url)
        room = json_body(response).get("room") or "an unnamed room"
        return f"webhook posts to {room}"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Read the platform's error body; leave the status mapping to unipost.

        A 404 or 410 means the webhook was deleted: for a URL credential that is a
        revoked credential, so unipost blocks the channel until it is replaced.
        """
        if response.is_success:
            return None
        body = json_body(response)
        code = body.get("error")
        message = f"{code}: {body.get('message') or ''}".rstrip(": ") if code else None
        if response.status_code in (404, 410):
            return AuthFailed(
                message or "the webhook no longer exists: create a new one for the room",
                status=response.status_code,
                platform_code=code if isinstance(code, str) else None,
            )
        return error_for_status(response, message=message, now=now)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register({{ cookiecutter.class_name }})
