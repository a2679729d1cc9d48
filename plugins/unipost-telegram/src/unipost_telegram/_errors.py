"""Telegram's error answers mapped onto unipost's classes.

Every Bot API error is ``{"ok": false, "error_code", "description", "parameters"?}``
with the same HTTP status. The wait of a 429 is ``parameters.retry_after``; older
answers carry it only in the description ("Too Many Requests: retry after 3").
A 400 with ``parameters.migrate_to_chat_id`` means the group became a supergroup
with a new id: nothing was posted, and the same request can be sent there.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    Permanent,
    RateLimited,
    error_for_status,
    json_body,
    parse_retry_after,
    request_id,
)

__all__ = ["ChatMigrated", "classify_response", "error_body"]

_RETRY_AFTER = re.compile(r"retry after (\d+)", re.IGNORECASE)


class ChatMigrated(Permanent):
    """The group moved to a supergroup: resend to :attr:`chat_id` (nothing was posted)."""

    def __init__(self, message: str, *, chat_id: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.chat_id = chat_id


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The error object of an answer, or {} when the body is not a Bot API error."""
    body = json_body(response)
    return body if body.get("ok") is False else {}


def _retry_after(body: dict[str, Any], response: httpx.Response, now: float) -> float | None:
    parameters = body.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), int | float):
        return float(parameters["retry_after"])
    match = _RETRY_AFTER.search(str(body.get("description", "")))
    if match:
        return float(match.group(1))
    return parse_retry_after(response.headers, now=now)


def classify_response(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The error a Bot API answer means, or None when it is ``ok``."""
    if response.status_code < 400:
        return None
    body = error_body(response)
    description = str(body.get("description") or "").strip()
    code = str(body.get("error_code") or response.status_code)
    rid = request_id(response)
    status = response.status_code
    if status == 429:
        return RateLimited(
            description or "Too Many Requests",
            status=status,
            retry_after=_retry_after(body, response, now),
            platform_code=code,
            request_id=rid,
        )
    parameters = body.get("parameters")
    if isinstance(parameters, dict) and isinstance(parameters.get("migrate_to_chat_id"), int):
        new_id = int(parameters["migrate_to_chat_id"])
        return ChatMigrated(
            f'{description} (new chat id {new_id}; set chat_id = "{new_id}")',
            chat_id=new_id,
            status=status,
            platform_code=code,
            request_id=rid,
        )
    if status == 404 and description == "Not Found":
        # The Bot API answers an unknown token or method with 404, not 401.
        return AuthFailed(
            "Not Found: the bot token is malformed or revoked (ask @BotFather for the token)",
            status=status,
            platform_code=code,
            request_id=rid,
        )
    error = error_for_status(response, message=description or None, now=now)
    if error is not None:
        error.platform_code = code
    return error
