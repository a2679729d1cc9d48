"""HTTP statuses and httpx exceptions mapped onto the shared error classes, once.

Plugins call :func:`error_for_status` as their fallback after reading the
platform's error body, and never map transport exceptions themselves.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

import httpx

from unipost.errors import (
    Ambiguous,
    AuthFailed,
    DeliveryError,
    Forbidden,
    NotSent,
    Permanent,
    RateLimited,
    Transient,
)

__all__ = [
    "SAFE_METHODS",
    "error_for_exception",
    "error_for_status",
    "parse_retry_after",
    "request_id",
    "seconds_until",
]

_REQUEST_ID_HEADERS = (
    "x-request-id",
    "x-fb-trace-id",
    "x-fb-request-id",
    "request-id",
    "x-amzn-requestid",
    "cf-ray",
)
_NOT_APPLIED = {408, 425, 503}  # the server says it did not process the request
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``x-amz-retry-after`` or ``Retry-After``.

    ``Retry-After`` may be delay-seconds (floats tolerated) or an HTTP-date
    (RFC 9110 §10.2.3). Malformed or negative values are ignored (None).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("retry-after-ms", "x-amz-retry-after"):
        value = lowered.get(name)
        if value is not None:
            try:
                millis = float(value)
            except ValueError:
                continue
            if millis >= 0:
                return millis / 1000
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment is None:
            return None
        current = time.time() if now is None else now
        return seconds_until(moment.timestamp(), current)
    return seconds if seconds >= 0 else None


def seconds_until(reset: float, now: float) -> float | None:
    """Seconds from ``now`` to an epoch ``reset`` time; None ("unknown") once it has passed.

    A reset in the past says nothing about when to try again, and a wait of
    zero would make a tight loop: the dispatcher applies its own back-off.
    """
    wait = reset - now
    return wait if wait > 0 else None


def request_id(response: httpx.Response) -> str | None:
    """The platform's request id, for support tickets."""
    for name in _REQUEST_ID_HEADERS:
        value: str | None = response.headers.get(name)
        if value:
            return value
    return None


def _message(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    reason = response.reason_phrase or ""
    return f"{reason} {text[:300]}".strip() or f"HTTP {response.status_code}"


def error_for_status(
    response: httpx.Response, *, message: str | None = None, now: float | None = None
) -> DeliveryError | None:
    """The generic error for a response's status, or None when it succeeded."""
    status = response.status_code
    if status < 400:
        return None
    text = message or _message(response)
    rid = request_id(response)
    retry_after = parse_retry_after(response.headers, now=now)
    if status == 429:
        return RateLimited(text, status=status, request_id=rid, retry_after=retry_after)
    if status in _NOT_APPLIED:
        return Transient(text, status=status, request_id=rid, retry_after=retry_after)
    if status >= 500:
        return Transient(
            text,
            status=status,
            request_id=rid,
            retry_after=retry_after,
            may_have_applied=not _safe_request(response),
        )
    if status == 401:
        return AuthFailed(text, status=status, request_id=rid)
    if status == 403:
        return Forbidden(text, status=status, request_id=rid)
    return Permanent(text, status=status, request_id=rid)


def _safe_request(response: httpx.Response) -> bool:
    """Whether the request behind ``response`` was a read (a 5xx on it applied nothing)."""
    try:
        request = response.request
    except RuntimeError:  # a response built by hand, without its request
        return False
    return request.method in SAFE_METHODS or bool(request.extensions.get("unipost.safe"))


def error_for_exception(exc: httpx.HTTPError, request: httpx.Request) -> DeliveryError:
    """A transport failure, classified by whether the request may have been applied.

    Connection setup failures never reached the server. A timeout or drop
    after sending a create may have been applied; the same on a read is safe.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return NotSent(f"{name}: could not connect to {request.url.host}")
    safe = request.method in SAFE_METHODS or bool(request.extensions.get("unipost.safe"))
    text = f"{name} during {request.method} {request.url.host}{request.url.path}"
    if safe:
        return Transient(text)
    return Ambiguous(text + " (the request may have been applied)")
