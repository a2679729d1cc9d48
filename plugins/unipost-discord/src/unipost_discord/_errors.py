"""Discord's error answers mapped onto unipost's classes.

Discord errors are ``{"code": <JSON error code>, "message": ..., "errors"?: {...}}``.
A rate-limited request answers 429 with ``retry_after`` (seconds, decimals) in the
body, ``Retry-After`` and the bucket headers (``X-RateLimit-*``). A 429 *without*
any ``X-RateLimit-*`` header comes from Cloudflare, in front of Discord: the IP
made too many invalid requests (401/403/429) and is banned for a while; the body
is a static page (``error code: 1015``) or ``{"code": 0, "message": "You are being
blocked..."}`` with no wait in it.
"""

from __future__ import annotations

from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    RateLimited,
    error_for_status,
    json_body,
    parse_retry_after,
    request_id,
)

__all__ = ["classify_response", "is_cloudflare_ban"]

UNKNOWN_WEBHOOK = 10015
INVALID_WEBHOOK_TOKEN = 50027


def is_cloudflare_ban(response: httpx.Response) -> bool:
    """A 429 that carries none of Discord's rate-limit headers."""
    return response.status_code == 429 and not any(
        name.lower().startswith("x-ratelimit-") for name in response.headers
    )


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number > 0 else None


def _rate_limited(response: httpx.Response, body: dict[str, Any], now: float) -> RateLimited:
    rid = request_id(response)
    if is_cloudflare_ban(response):
        return RateLimited(
            "Discord's Cloudflare front blocked this IP address for too many invalid requests "
            "(401/403/429); no wait was given, and every request before the ban lifts extends "
            "it: check the webhook URL and the other Discord clients on this address",
            status=429,
            retry_after=parse_retry_after(response.headers, now=now),
            platform_code="cloudflare",
            request_id=rid,
        )
    wait = (
        _float(body.get("retry_after"))
        or parse_retry_after(response.headers, now=now)
        or _float(response.headers.get("x-ratelimit-reset-after"))
    )
    scope = response.headers.get("x-ratelimit-scope") or ("global" if body.get("global") else "")
    message = str(body.get("message") or "You are being rate limited.")
    return RateLimited(
        f"{message} (scope {scope})" if scope else message,
        status=429,
        retry_after=wait,
        platform_code=str(body.get("code", "")) or None,
        request_id=rid,
    )


def classify_response(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The error a webhook answer means, or None when it succeeded."""
    if response.status_code < 400:
        return None
    body = json_body(response)
    if response.status_code == 429:
        return _rate_limited(response, body, now)
    code = body.get("code")
    message = str(body.get("message") or "").strip() or None
    if code in (UNKNOWN_WEBHOOK, INVALID_WEBHOOK_TOKEN):
        # The webhook was deleted or its token reset: the credential is gone for good.
        return AuthFailed(
            f"{message}: the webhook was deleted or its URL reset; create a new webhook "
            "(Server Settings → Integrations → Webhooks) and update webhook_url",
            status=response.status_code,
            platform_code=str(code),
            request_id=request_id(response),
        )
    if message and isinstance(body.get("errors"), dict):
        message = f"{message}: {_first_field_error(body['errors'])}"
    error = error_for_status(response, message=message, now=now)
    if error is not None and code is not None:
        error.platform_code = str(code)
    return error


def _first_field_error(errors: dict[str, Any], path: str = "") -> str:
    """``content: Must be 2000 or fewer in length.`` from Discord's nested ``errors``."""
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list) and value:
            return f"{path or 'body'}: {value[0].get('message', '')}"
        if isinstance(value, dict):
            found = _first_field_error(value, f"{path}.{key}" if path else key)
            if found:
                return found
    return ""
