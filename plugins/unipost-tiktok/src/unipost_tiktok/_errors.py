"""TikTok's answers mapped onto unipost's classes.

Every v2 answer is ``{"data": {...}, "error": {"code", "message", "log_id"}}``
and success is ``error.code == "ok"``, not the status alone:
``creator_info/query`` answers HTTP 200 on purpose with a spam or cap code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    Forbidden,
    Permanent,
    QuotaExhausted,
    RateLimited,
    Transient,
    error_for_status,
    parse_retry_after,
)

__all__ = ["classify_tiktok", "fail_reason_error"]

DAY = 86400.0
_AUTH = {"access_token_invalid"}
_FORBIDDEN = {"scope_not_authorized", "spam_risk_user_banned_from_posting"}
_DAILY = {"spam_risk_too_many_posts", "spam_risk_too_many_pending_share", "reached_active_user_cap"}
_FIXES = {
    "unaudited_client_can_only_post_to_private_accounts": (
        "TikTok has not audited this app: it may post only to private accounts, and every post is "
        'SELF_ONLY. Make the TikTok account private and set privacy_level = "SELF_ONLY", or '
        "finish TikTok's Content Posting API audit"
    ),
    "url_ownership_unverified": (
        "TikTok pulls media only from a domain or URL prefix verified in the developer portal: "
        "verify the media host there"
    ),
    "privacy_level_option_mismatch": (
        "the privacy level is not one the creator offers now; set privacy_level to one of the "
        "options `unipost check` lists"
    ),
    "app_version_check_failed": "the creator's TikTok app is older than 31.8: ask them to update",
}
_MEDIA_FAILURES = {
    "file_format_check_failed",
    "duration_check_failed",
    "frame_rate_check_failed",
    "picture_size_check_failed",
}


def _error(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def classify_tiktok(response: httpx.Response, *, now: float | None) -> DeliveryError | None:
    error = _error(response)
    code = error.get("code")
    if response.status_code < 400 and code in (None, "ok"):
        return None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    text = f"{code}: {message}" if code and message else str(code or message or "")
    log_id = error.get("log_id") if isinstance(error.get("log_id"), str) else None
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "platform_code": code,
        "request_id": log_id,
    }
    if code in _AUTH:
        return AuthFailed(text, **kwargs)
    if code in _FORBIDDEN:
        return Forbidden(text, **kwargs)
    if code in _DAILY:
        return QuotaExhausted(
            text + " (TikTok's caps count per 24 hours)", retry_after=DAY, **kwargs
        )
    if code in _FIXES:
        return Forbidden(f"{text}. {_FIXES[code]}", **kwargs)
    if code == "rate_limit_exceeded" or response.status_code == 429:
        wait = parse_retry_after(response.headers, now=now) or 60.0  # a one-minute window
        return RateLimited(text or "rate limit exceeded", retry_after=wait, **kwargs)
    if code in ("invalid_param", "invalid_params"):
        return Permanent(text, **kwargs)
    result = error_for_status(response, message=text or None, now=now)
    if result is None:  # HTTP 200 with an error code we do not know
        return Permanent(text, **kwargs)
    result.platform_code = None if code is None else str(code)
    result.request_id = log_id or result.request_id
    return result


def fail_reason_error(reason: str, publish_id: str) -> DeliveryError:
    """A ``FAILED`` status: fix the media, wait a day, or try again."""
    text = f"TikTok could not publish {publish_id}: {reason}"
    if reason in _MEDIA_FAILURES:
        return Permanent(text + " (fix the media)", platform_code=reason)
    if reason in ("internal", "video_pull_failed", "photo_pull_failed"):
        return Transient(
            text + " (nothing was posted; it can be tried again)", platform_code=reason
        )
    if reason.startswith("spam_risk"):
        return QuotaExhausted(text, platform_code=reason, retry_after=DAY)
    if reason == "auth_removed":
        return AuthFailed(text + " (the creator removed the app's access)", platform_code=reason)
    return Permanent(text, platform_code=reason)
