"""Reddit's answers: errors inside HTTP 200 bodies, and the ``X-Ratelimit-*`` headers.

``/api/submit`` with ``api_type=json`` answers 200 even when it refuses:
``{"json": {"errors": [[CODE, message, field], ...]}}``. The token endpoint
answers a wrong password with 200 ``{"error": "invalid_grant"}``. Both are
read here, so a 200 is never mistaken for a success. ``X-Ratelimit-Reset`` is
the number of seconds until the window resets (prawcore ``rate_limit.py``).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    DuplicateSignal,
    Forbidden,
    Permanent,
    RateLimited,
    error_for_status,
    parse_retry_after,
    request_id,
)

__all__ = ["reddit_error", "reset_seconds"]

#: Codes from ``json.errors`` that mean "not allowed here" rather than "malformed".
_FORBIDDEN = {"SUBREDDIT_NOTALLOWED", "NOT_WHITELISTED_BY_USER_MESSAGE", "BANNED_FROM_SUBREDDIT"}
_AUTH = {"USER_REQUIRED", "INVALID_USER"}
_WAIT = re.compile(r"(\d+)\s*(second|minute|hour)", re.IGNORECASE)
_UNITS = {"second": 1, "minute": 60, "hour": 3600}


def reset_seconds(headers: httpx.Headers) -> float | None:
    """Seconds until the rate-limit window resets, from ``X-Ratelimit-Reset``."""
    value = headers.get("x-ratelimit-reset")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds > 0 else None


def reddit_error(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The classified error for any Reddit response (a 200 included), or None."""
    rid = request_id(response)
    if response.status_code >= 400:
        message = _http_message(response)
        error = error_for_status(response, message=message, now=now)
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = reset_seconds(response.headers)
        return error
    body = _json(response)
    if isinstance(body.get("error"), str):  # the token endpoint's 200 refusal
        code = body["error"]
        return AuthFailed(
            f"{code}: the username or password of the script app's account was refused",
            status=response.status_code,
            platform_code=code,
            request_id=rid,
        )
    inner = body.get("json")
    errors = inner.get("errors") if isinstance(inner, dict) else None
    if not errors:
        return None
    code, text, field = [*list(errors[0]), None, None, None][:3]
    code = str(code)
    message = f"{code}: {text}" + (f" (field {field})" if field else "")
    if code == "RATELIMIT":
        return RateLimited(
            message,
            status=response.status_code,
            platform_code=code,
            request_id=rid,
            retry_after=_wait(str(text)) or parse_retry_after(response.headers, now=now),
        )
    kind: type[DeliveryError] = Permanent
    if code == "ALREADY_SUB":
        kind = DuplicateSignal
    elif code in _FORBIDDEN:
        kind = Forbidden
    elif code in _AUTH:
        kind = AuthFailed
    return kind(message, status=response.status_code, platform_code=code, request_id=rid)


def _wait(text: str) -> float | None:
    """ "you are doing that too much. try again in 9 minutes." → 540."""
    match = _WAIT.search(text)
    if not match:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _http_message(response: httpx.Response) -> str | None:
    body = _json(response)
    message = body.get("message") or body.get("error") or body.get("reason")
    if isinstance(message, str):
        return f"{message} (HTTP {response.status_code})"
    return None
