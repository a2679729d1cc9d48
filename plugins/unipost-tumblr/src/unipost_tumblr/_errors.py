"""Tumblr errors: ``{"meta": {"status", "msg"}, "errors": [{"title", "code", "detail"}]}``.

The status gives the class, the subcode refines it (tumblr/docs ``api.md``,
"Errors and Error Subcodes"): the daily post and media limits (403.8023,
403.8004, 403.8011) are quota, waited out until the next day, not a
permission problem; an upload error (500.8006) is transient.
"""

from __future__ import annotations

import datetime as dt

import httpx

from unipost.plugin import (
    DeliveryError,
    QuotaExhausted,
    error_for_status,
    request_id,
)

__all__ = ["DAILY_LIMITS", "tumblr_error"]

#: Subcodes of a per-day limit: nothing more of that kind until tomorrow.
DAILY_LIMITS = {8004: "media uploads", 8011: "video uploads", 8023: "posts"}
_HINTS = {
    8001: "the NPF content was refused (see the title for the field)",
    8005: "Tumblr cannot take this media format",
    8022: "the blog's queue is full (300 posts): publish or delete queued posts",
}


def _until_tomorrow(now: float) -> float:
    """Seconds to the next UTC midnight, when Tumblr's daily counters start again."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    tomorrow = (moment + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (tomorrow - moment).total_seconds())


def tumblr_error(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The classified error for a Tumblr API response, or None on success."""
    if response.status_code < 400:
        return None
    code, title = _first(response)
    message = None
    if code is not None or title:
        message = f"{response.status_code}.{code}: {title}" if code is not None else str(title)
        if code in _HINTS:
            message += f" — {_HINTS[code]}"
    if code in DAILY_LIMITS:
        return QuotaExhausted(
            message or f"daily {DAILY_LIMITS[code]} limit reached",
            status=response.status_code,
            platform_code=code,
            request_id=request_id(response),
            retry_after=_until_tomorrow(now),
        )
    error = error_for_status(response, message=message, now=now)
    if error is not None and code is not None:
        error.platform_code = str(code)
    return error


def _first(response: httpx.Response) -> tuple[int | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        code = first.get("code")
        title = first.get("detail") or first.get("title")
        return (code if isinstance(code, int) else None), (str(title) if title else None)
    meta = body.get("meta") if isinstance(body, dict) else None
    if isinstance(meta, dict) and meta.get("msg"):
        return None, str(meta["msg"])
    return None, None
