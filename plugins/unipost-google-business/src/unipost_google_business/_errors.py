"""Google's JSON errors mapped onto unipost's classes.

``{"error": {"code", "message", "status", "details"}}``; with the header
``X-GOOG-API-FORMAT-VERSION: 2`` a 400 names the field in
``details[].errorDetails[]``, which goes into the message. A wrong location
path is answered with Google's HTML 404 page, not JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from unipost.plugin import (
    DeliveryError,
    Permanent,
    error_for_status,
)

__all__ = ["classify_google"]


def _error(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _field_messages(error: Mapping[str, Any]) -> list[str]:
    found = []
    for detail in error.get("details") or []:
        if not isinstance(detail, Mapping):
            continue
        for item in detail.get("errorDetails") or []:
            if isinstance(item, Mapping) and item.get("message"):
                field = item.get("field")
                found.append(f"{field}: {item['message']}" if field else str(item["message"]))
    return found


def classify_google(
    response: httpx.Response, *, now: float | None, location: str
) -> DeliveryError | None:
    if response.status_code < 400:
        return None
    error = _error(response)
    if not error and response.status_code == 404:
        return Permanent(
            f"Google answered an HTML 404: {location} is not a location path; use the numeric "
            "account and location ids from the Account Management and Business Information APIs",
            status=404,
        )
    message = error.get("message") if isinstance(error.get("message"), str) else None
    fields = _field_messages(error)
    if fields:
        message = f"{message or 'invalid argument'} ({'; '.join(fields)})"
    result = error_for_status(response, message=message, now=now)
    status = error.get("status")
    if result is not None and isinstance(status, str):
        result.platform_code = status
    return result
