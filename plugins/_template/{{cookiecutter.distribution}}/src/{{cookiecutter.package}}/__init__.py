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
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import httpx
import unipost
from unipost.channel import Absent, Flow, Found, LookupResult
from unipost.classify import error_for_status, parse_retry_after, request_id
from unipost.errors import Ambiguous, DeliveryError, DuplicateSignal, QuotaExhausted

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["{{ cookiecutter.class_name }}", "unipost_register_channels"]

__version__ = "{{ cookiecutter.version }}"

DEFAULT_BASE_URL = "{{ cookiecutter.base_url }}"


def _check_base_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("base_url must be an absolute http(s) URL")


@attrs.frozen(kw_only=True)
class {{ cookiecutter.class_name }}(unipost.Channel):
    """{{ cookiecutter.platform_title }}: one JSON POST per post, with a bearer token."""

    name: ClassVar[str] = "{{ cookiecutter.platform }}"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(
        text_limit={{ cookiecutter.text_limit }},
        # Count the way the platform counts: graphemes, code points, UTF-16 units...
        text_unit=unipost.TextUnit.GRAPHEMES,
        overflow=unipost.Overflow.TRUNCATE,
        max_media=4,
        media_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
        media_from_url_only=True,  # the API fetches images itself from public URLs
        # KEY: the Idempotency-Key header; LOOKUP: lookup_flow() can find a post.
        idempotency=unipost.Idempotency.KEY | unipost.Idempotency.LOOKUP,
        idempotency_window=24 * 3600.0,
        limits=(unipost.Limit(rate=300, per=300.0),),
    )

    #: The API token. ``unipost.secret()`` keeps it out of reprs, logs and reports.
    token: str = unipost.secret()
    base_url: str = attrs.field(default=DEFAULT_BASE_URL, validator=_check_base_url)

    @property
    def failure_domain(self) -> str:
        """Channels on the same host fail together; fallbacks should live elsewhere."""
        return f"{self.name}:{urllib.parse.urlsplit(self.base_url).hostname}"

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def publish_flow(
        self, prepared: unipost.Prepared, ctx: unipost.Context
    ) -> Flow[unipost.Receipt]:
        post = prepared.post
        body: dict[str, Any] = {"text": prepared.text}
        if post.language:
            body["language"] = post.language
        if post.media:
            body["media"] = [{"url": m.url, "alt": m.alt} for m in post.media]
        # The same key on every attempt, so a retry after a lost answer does not post twice.
        headers = {**self._headers(), "Idempotency-Key": ctx.delivery_key}
        response = yield httpx.Request("POST", self._url("/posts"), json=body, headers=headers)
        assert response is not None  # only a Pause is answered with None
        data = _json(response)
        if not data.get("id"):
            # The create succeeded (2xx) but the answer is unreadable: the post may exist.
            raise Ambiguous(
                f"HTTP {response.status_code} without a post id", request_id=request_id(response)
            )
        return unipost.Receipt(platform_id=str(data["id"]), url=data.get("url"))

    def lookup_flow(self, prepared: unipost.Prepared, ctx: unipost.Context) -> Flow[LookupResult]:
        """After an ambiguous attempt: was the post created? Found, Absent, or Unknown."""
        response = yield httpx.Request(
            "GET",
            self._url("/posts"),
            params={"idempotency_key": ctx.delivery_key},
            headers=self._headers(),
        )
        assert response is not None
        posts = _json(response).get("posts") or []
        if not posts:
            return Absent()
        return Found(unipost.Receipt(platform_id=str(posts[0]["id"]), url=posts[0].get("url")))

    def check_flow(self, ctx: unipost.Context) -> Flow[str]:
        """``unipost check``: is the token valid, and whose is it?"""
        response = yield httpx.Request("GET", self._url("/me"), headers=self._headers())
        assert response is not None
        return f"authenticated as {_json(response).get('username', 'an unnamed account')}"

    def classify(self, response: httpx.Response) -> DeliveryError | None:
        """Read the platform's error body; leave the status mapping to unipost."""
        if response.is_success:
            return None
        error = _json(response).get("error")
        if not isinstance(error, dict):
            return error_for_status(response)  # a proxy's HTML page, an empty body...
        code = error.get("code")
        message = str(error.get("message") or code or "")
        if code == "daily_quota_exceeded":
            return QuotaExhausted(
                message,
                status=response.status_code,
                platform_code=code,
                retry_after=parse_retry_after(response.headers),
            )
        if code == "duplicate_post":  # the platform already has a post with this key
            return DuplicateSignal(message, status=response.status_code, platform_code=code)
        return error_for_status(response, message=f"{code}: {message}" if code else message)


def _json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in a response, or ``{}`` for anything else (HTML, empty, a list)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register({{ cookiecutter.class_name }})
