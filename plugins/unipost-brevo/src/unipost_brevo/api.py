"""The Brevo v3 API as both channels speak it: ``api-key`` header, errors, rate-limit headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    QuotaExhausted,
    RateLimited,
    error_for_status,
)

__all__ = ["API", "classify", "request"]

API = "https://api.brevo.com/v3"


def request(
    api_key: str, method: str, url: str, body: Any = None, params: Mapping[str, str] | None = None
) -> httpx.Request:
    headers = {"api-key": api_key, "Accept": "application/json"}
    return httpx.Request(method, url, headers=headers, json=body, params=params)


def _error(response: httpx.Response) -> tuple[str | None, str | None]:
    """``{"code": "invalid_parameter", "message": "…"}`` (the spec's ``errorModel``)."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, Mapping):
        return None, None
    code, message = body.get("code"), body.get("message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )


def classify(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """By Brevo's code first; a 429 waits ``x-sib-ratelimit-reset`` seconds."""
    if response.status_code < 400:
        return None
    raw, message = _error(response)
    code = raw.lower() if raw else None  # "INVALID_PARAMETER" and "invalid_parameter" both occur
    text = f"{raw}: {message}" if raw and message else message or raw
    status = response.status_code
    if status == 402 or code == "not_enough_credits":
        return QuotaExhausted(text or "not enough credits", status=status, platform_code=code)
    if code == "unauthorized":
        return AuthFailed(text or "unauthorized", status=status, platform_code=code)
    error = error_for_status(response, message=text, now=now)
    if isinstance(error, RateLimited) and error.retry_after is None:
        try:
            left = float(response.headers.get("x-sib-ratelimit-reset", ""))
        except ValueError:
            left = 0.0
        error.retry_after = left if left > 0 else None  # time left; 0 or less says nothing
    if error is not None and code:
        error.platform_code = code
    return error
