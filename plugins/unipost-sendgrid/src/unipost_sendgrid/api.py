"""What both SendGrid channels share: the v3 API's auth, errors and rate-limit headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from unipost.mail import MailingChannel
from unipost.plugin import (
    DeliveryError,
    RateLimited,
    error_for_status,
    secret,
)

__all__ = ["API", "SendGridChannel"]

API = "https://api.sendgrid.com"  # EU-pinned subusers: https://api.eu.sendgrid.com


def _error_text(response: httpx.Response) -> str | None:
    """``{"errors": [{"message", "field", "help"}]}`` as one line."""
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not isinstance(errors, list):
        return None
    parts = []
    for item in errors:
        if isinstance(item, Mapping) and item.get("message"):
            field = f" ({item['field']})" if item.get("field") else ""
            parts.append(f"{item['message']}{field}")
    return "; ".join(parts) or None


@attrs.frozen(kw_only=True)
class SendGridChannel(MailingChannel):
    """A SendGrid API key (``SG.…``) and the API host; the failure domain is Twilio's."""

    api_key: str = secret()
    base_url: str = API

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.api_key.strip():
            raise ValueError("api_key is empty: create one under Settings → API Keys")

    @property
    def failure_domain(self) -> str:
        """SendGrid is Twilio: one company, one incident page, one outage."""
        return "twilio"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def request(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Request:
        return httpx.Request(
            method,
            f"{self.base_url}{path}",
            headers=self.headers(),
            json=body,
            params=params or None,
        )

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """SendGrid's ``errors`` list; a 429 waits until ``X-RateLimit-Reset`` (epoch seconds)."""
        if response.status_code < 400:
            return None
        error = error_for_status(response, message=_error_text(response), now=now)
        if isinstance(error, RateLimited) and error.retry_after is None:
            try:
                reset = float(response.headers.get("x-ratelimit-reset", ""))
            except ValueError:
                return error
            left = reset - now
            error.retry_after = left if left > 0 else None  # a past reset says nothing
        return error
