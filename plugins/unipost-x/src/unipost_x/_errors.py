"""X's error answers mapped onto unipost's classes.

X speaks RFC 7807 problem documents (``{"type", "title", "detail", "status"}``)
and, on some 429s, the legacy ``{"errors": [{"code": 88, ...}]}``. The 403 for
a duplicate has the same status as a permission error: only ``detail`` tells
them apart, and a duplicate means "you already posted this" — reconcile,
never retry. There is no Retry-After: ``x-rate-limit-reset`` is an epoch.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from unipost.plugin import (
    DeliveryError,
    DuplicateSignal,
    QuotaExhausted,
    RateLimited,
    error_for_status,
    parse_retry_after,
)

__all__ = ["classify_x", "problem_text"]

_DUPLICATE = "duplicate content"
_USAGE_CAPPED = "https://api.x.com/2/problems/usage-capped"


def _body(response: httpx.Response) -> Mapping[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def problem_text(response: httpx.Response) -> str | None:
    """The most useful sentence of an X error body."""
    body = _body(response)
    for key in ("detail", "title"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        message = first.get("message") or first.get("detail")
        if isinstance(message, str):
            code = first.get("code")
            return f"{message} (code {code})" if code is not None else message
    return None


def _epoch_wait(headers: httpx.Headers, name: str, now: float | None) -> float | None:
    value = headers.get(name)
    if value is None or now is None:
        return None
    try:
        wait = float(value) - now
    except ValueError:
        return None
    return wait if wait > 0 else None  # a reset already past says nothing: unknown


def classify_x(response: httpx.Response, *, now: float | None) -> DeliveryError | None:
    """Duplicate → DuplicateSignal; 429 waits for the reset that is exhausted; else by status."""
    status = response.status_code
    if status < 400:
        return None
    text = problem_text(response)
    body = _body(response)
    if status == 403 and text and _DUPLICATE in text.lower():
        return DuplicateSignal(text, status=status, platform_code="duplicate-content")
    if body.get("type") == _USAGE_CAPPED:
        return QuotaExhausted(
            text or "usage cap reached", status=status, platform_code="usage-capped"
        )
    if status == 429:
        headers = response.headers
        for scope in ("user", "app"):
            if headers.get(f"x-{scope}-limit-24hour-remaining") == "0":
                wait = _epoch_wait(headers, f"x-{scope}-limit-24hour-reset", now)
                return QuotaExhausted(
                    f"the 24-hour {scope} limit of X is used up",
                    status=status,
                    retry_after=wait,
                    platform_code=f"{scope}-24hour",
                )
        wait = parse_retry_after(headers, now=now)
        if wait is None:
            wait = _epoch_wait(headers, "x-rate-limit-reset", now)
        return RateLimited(text or "rate limit exceeded", status=status, retry_after=wait)
    return error_for_status(response, message=text, now=now)
