"""LinkedIn's error answers mapped onto unipost's classes.

Bodies carry ``status``, ``serviceErrorCode``, ``message`` and, on the
versioned API, ``code`` and ``errorDetails.inputErrors``. Identical content is
refused as 422 ``DUPLICATE_POST`` naming the existing post's URN; an unknown or
retired ``LinkedIn-Version`` fails every call with 426; daily quotas reset at
midnight UTC and come without rate-limit headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from unipost.plugin import (
    DeliveryError,
    DuplicateSignal,
    Forbidden,
    QuotaExhausted,
    RateLimited,
    error_for_status,
    parse_retry_after,
)

__all__ = ["classify_linkedin", "existing_urn"]

_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def _body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _input_codes(body: Mapping[str, Any]) -> list[str]:
    details = body.get("errorDetails")
    errors = details.get("inputErrors") if isinstance(details, Mapping) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code")) for e in errors if isinstance(e, Mapping) and e.get("code")]


def existing_urn(response: httpx.Response) -> str | None:
    """The URN a DUPLICATE_POST answer names ("Content is a duplicate of urn:li:share:...")."""
    message = _body(response).get("message")
    match = _URN.search(message) if isinstance(message, str) else None
    return match.group(0) if match else None


def _until_midnight_utc(now: float | None) -> float | None:
    if now is None:
        return None
    return 86400 - (now % 86400)


def classify_linkedin(
    response: httpx.Response, *, now: float | None, channel_id: str, version: str
) -> DeliveryError | None:
    status = response.status_code
    if status < 400:
        return None
    body = _body(response)
    message = body.get("message") if isinstance(body.get("message"), str) else None
    code = body.get("code") or body.get("serviceErrorCode")
    codes = _input_codes(body)
    if "DUPLICATE_POST" in codes or (status == 422 and message and "duplicate" in message.lower()):
        urn = existing_urn(response)
        return DuplicateSignal(
            message or "LinkedIn says this post is a duplicate",
            status=status,
            platform_code="DUPLICATE_POST",
            detail={"existing": urn} if urn else None,
        )
    if status == 426:
        return Forbidden(
            f"LinkedIn-Version {version} is not active ({message or 'NONEXISTENT_VERSION'}); "
            f'set version = "YYYYMM" (a current month) in [channels.{channel_id}]',
            status=status,
            platform_code=str(code or "NONEXISTENT_VERSION"),
        )
    if status == 429:
        wait = parse_retry_after(response.headers, now=now)
        if wait is not None:
            return RateLimited(message or "throttled", status=status, retry_after=wait)
        return QuotaExhausted(
            (message or "daily quota reached") + " (LinkedIn's daily quotas reset at midnight UTC)",
            status=status,
            platform_code=None if code is None else str(code),
            retry_after=_until_midnight_utc(now),
        )
    error = error_for_status(response, message=message, now=now)
    if error is not None and code is not None:
        error.platform_code = str(code)
    return error
