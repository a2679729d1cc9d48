"""Slack's Web API answers mapped onto unipost's classes.

Slack answers almost every failure with HTTP **200** and ``{"ok": false, "error":
"<code>"}``, so a 200's class comes from the error code. Other statuses (a 503 from
the edge, a 401) are classified by status, the code kept for the report. A rate
limit is HTTP 429 with ``Retry-After`` (seconds) and ``{"ok": false, "error":
"ratelimited"}``.
"""

from __future__ import annotations

from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    Forbidden,
    Permanent,
    RateLimited,
    Transient,
    error_for_status,
    json_body,
    parse_retry_after,
    request_id,
)

__all__ = ["classify_response", "slack_body"]

AUTH = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "not_allowed_token_type",
        "team_access_not_granted",
    }
)
FORBIDDEN = frozenset(
    {
        "missing_scope",
        "not_in_channel",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "access_denied",
        "ekm_access_denied",
        "is_archived",
        "channel_is_archived",
    }
)
RATE = frozenset({"ratelimited", "rate_limited"})
#: Slack failed before doing anything: safe to retry.
NOT_APPLIED = frozenset({"service_unavailable", "request_timeout", "team_added_to_org"})
#: Slack failed somewhere inside: the message may exist.
MAYBE_APPLIED = frozenset({"internal_error", "fatal_error"})
REQUEST_ID = "x-slack-req-id"


def slack_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a Web API answer, or {} (an upload URL answers plain text)."""
    return json_body(response)


def _detail(body: dict[str, Any]) -> str:
    messages = (body.get("response_metadata") or {}).get("messages") or body.get("errors") or []
    return f" ({'; '.join(str(m) for m in messages)})" if messages else ""


def classify_response(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The error an answer means (by its ``error`` code first), or None when it is ``ok``."""
    body = slack_body(response)
    rid = response.headers.get(REQUEST_ID) or request_id(response)
    code = body.get("error") if body.get("ok") is False else None
    if response.status_code == 429 or code in RATE:
        return RateLimited(
            f"Slack: {code or 'ratelimited'}",
            status=response.status_code,
            retry_after=parse_retry_after(response.headers, now=now),
            platform_code=code or "ratelimited",
            request_id=rid,
        )
    if code is None or response.status_code >= 400:
        # A non-200 status is the HTTP layer's word (a 503 from the edge, a 401), whatever
        # body came with it; the code, when there is one, goes along for the report.
        message = f"Slack: {code}{_detail(body)}" if code else None
        error = error_for_status(response, message=message, now=now)
        if error is not None and code:
            error.platform_code = str(code)
        return error
    code = str(code)
    message = f"Slack: {code}{_detail(body)}"
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "platform_code": code,
        "request_id": rid,
    }
    if code in AUTH:
        return AuthFailed(message, **kwargs)
    if code in FORBIDDEN:
        return Forbidden(message, **kwargs)
    if code in NOT_APPLIED:
        return Transient(message, **kwargs)
    if code in MAYBE_APPLIED:
        return Transient(message, may_have_applied=True, **kwargs)
    return Permanent(message, **kwargs)
