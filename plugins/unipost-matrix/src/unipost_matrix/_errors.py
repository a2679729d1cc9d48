"""Matrix error answers mapped onto unipost's classes.

Every client-server error is ``{"errcode": "M_…", "error": "…"}``. Rate limits are
429 ``M_LIMIT_EXCEEDED`` with ``retry_after_ms`` in the body (and, since Matrix
1.10, a ``Retry-After`` header).
"""

from __future__ import annotations

from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    Forbidden,
    RateLimited,
    error_for_status,
    json_body,
    parse_retry_after,
    request_id,
)

__all__ = ["classify_response", "matrix_error"]

AUTH = frozenset({"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_USER_DEACTIVATED", "M_USER_LOCKED"})
FORBIDDEN = frozenset({"M_FORBIDDEN", "M_GUEST_ACCESS_FORBIDDEN", "M_USER_SUSPENDED"})


def matrix_error(response: httpx.Response) -> dict[str, Any]:
    body = json_body(response)
    return body if isinstance(body.get("errcode"), str) else {}


def classify_response(response: httpx.Response, *, now: float) -> DeliveryError | None:
    if response.status_code < 400:
        return None
    body = matrix_error(response)
    code = body.get("errcode")
    message = f"{code}: {body.get('error', '')}".rstrip(": ") if code else None
    rid = request_id(response)
    status = response.status_code
    if status == 429 or code == "M_LIMIT_EXCEEDED":
        millis = body.get("retry_after_ms")
        wait = (
            millis / 1000
            if isinstance(millis, int | float) and not isinstance(millis, bool) and millis > 0
            else parse_retry_after(response.headers, now=now)
        )
        return RateLimited(
            message or "rate limited",
            status=status,
            retry_after=wait,
            platform_code=code,
            request_id=rid,
        )
    if code in AUTH or (status == 401 and code is None):
        soft = " (soft logout: log in again on the same device)" if body.get("soft_logout") else ""
        return AuthFailed(f"{message}{soft}", status=status, platform_code=code, request_id=rid)
    if code in FORBIDDEN:
        return Forbidden(message or "forbidden", status=status, platform_code=code, request_id=rid)
    # Other codes (M_TOO_LARGE, M_BAD_JSON, M_NOT_FOUND...) follow their status.
    error = error_for_status(response, message=message, now=now)
    if error is not None and code:
        error.platform_code = code
    return error
