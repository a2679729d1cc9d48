"""{{ cookiecutter.platform_title }} for unipost: ``type = "{{ cookiecutter.platform }}"`` in unipost.toml.

This file is the whole plugin: one channel class and one hook. It starts as a
working channel for an imaginary JSON API, so edit it towards your platform:

* ``POST {base_url}/posts`` with ``{"text": ..., "media": [...]}`` and a bearer
  token creates a post and answers ``{"id": ..., "url": ...}``;
* an ``Idempotency-Key`` header makes a retried create safe;
* ``GET {base_url}/posts?idempotency_key=...`` finds a post created earlier;
* errors come as ``{"error": {"code": ..., "message": ...}}``;
* ``GET {base_url}/me`` tells who the token belongs to.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

import attrs
import httpx
from unipost.plugin import (
    Absent,
    Ambiguous,
    Capabilities,
    Channel,
    Context,
    DeliveryError,
    DuplicateSignal,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Overflow,
    Prepared,
    QuotaExhausted,
    Receipt,
    Register,
    TextUnit,
    error_for_status,
    hookimpl,
    json_body,
    json_object,
    parse_retry_after,
    request_id,
    secret,
)

__all__ = ["{{ cookiecutter.class_name }}", "unipost_register_channels"]

__version__ = "{{ cookiecutter.version }}"

DEFAULT_BASE_URL = "{{ cookiecutter.base_url }}"


def _check_base_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an absolute http(s) URL")


@attrs.frozen(kw_only=True)
class {{ cookiecutter.class_name }}(Channel):
    """{{ cookiecutter.platform_title }}: one JSON POST per post, with a bearer token."""

    name: ClassVar[str] = "{{ cookiecutter.platform }}"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit={{ cookiecutter.text_limit }},
        # Count the way the platform counts: graphemes, code points, UTF-16 units...
        text_unit=TextUnit.GRAPHEMES,
        overflow=Overflow.TRUNCATE,
        max_media=4,
        media_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
        media_from_url_only=True,  # the API fetches images itself from public URLs
        # KEY: the Idempotency-Key header; LOOKUP: lookup_flow() can find a post.
        idempotency=Idempotency.KEY | Idempotency.LOOKUP,
        idempotency_window=24 * 3600.0,
        limits=(Limit(rate=300, per=300.0),),
        health_check=True,  # check_flow() is a safe read: a half-open breaker probes with it
    )

    #: The API token. ``secret()`` keeps it out of reprs, logs and reports.
    token: str = secret()
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, validator=_check_base_url)

    @property
    def failure_domain(self) -> str:
        """Channels on the same host fail together; fallbacks should live elsewhere."""
        return f"{self.name}:{urllib.parse.urlsplit(self.base_url).hostname}"

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        post = prepared.post
        body: dict[str, Any] = {"text": prepared.text}
        if post.language:
            body["language"] = post.language
        if post.media:
            body["media"] = [{"url": m.url, "alt": m.alt} for m in post.media]
        # The same key on every attempt, so a retry after a lost answer does not post twice.
        headers = {**self._headers(), "Idempotency-Key": ctx.delivery_key}
        response = yield httpx.Request("POST", self._url("/posts"), json=body, headers=headers)
        data = json_object(response)  # a 2xx that is not JSON may hide a created post
        if not data.get("id"):
            # The create succeeded (2xx) but the answer has no id: the post may exist.
            raise Ambiguous(
                f"HTTP {response.status_code} without a post id", request_id=request_id(response)
            )
        return Receipt(platform_id=str(data["id"]), url=data.get("url"))

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """After an ambiguous attempt: was the post created? Found, Absent, or Unknown."""
        response = yield httpx.Request(
            "GET",
            self._url("/posts"),
            params={"idempotency_key": ctx.delivery_key},
            headers=self._headers(),
        )
        posts = json_body(response).get("posts") or []
        if not posts:
            return Absent()
        return Found(Receipt(platform_id=str(posts[0]["id"]), url=posts[0].get("url")))

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``unipost check``: is the token valid, and whose is it?"""
        response = yield httpx.Request("GET", self._url("/me"), headers=self._headers())
        return f"authenticated as {json_body(response).get('username', 'an unnamed account')}"

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Read the platform's error body; leave the status mapping to unipost."""
        if response.is_success:
            return None
        error = json_body(response).get("error")
        if not isinstance(error, dict):
            return error_for_status(response, now=now)  # a proxy's HTML page, an empty body...
        code = error.get("code")
        message = str(error.get("message") or code or "")
        if code == "daily_quota_exceeded":
            return QuotaExhausted(
                message,
                status=response.status_code,
                platform_code=code,
                retry_after=parse_retry_after(response.headers, now=now),
            )
        if code == "duplicate_post":  # the platform already has a post with this key
            return DuplicateSignal(message, status=response.status_code, platform_code=code)
        return error_for_status(
            response, message=f"{code}: {message}" if code else message, now=now
        )


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register({{ cookiecutter.class_name }})
