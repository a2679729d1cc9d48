"""Micropub errors (W3C Micropub §4): ``{"error", "error_description"}``, or plain text.

The specification's body is JSON, but real endpoints also answer with a bare
word (django-indieweb: ``invalid_request``, ``authentication error``), so both
are read. The status decides the class; ``insufficient_scope`` is an auth
failure whichever status carries it, since only a new token fixes it.
"""

from __future__ import annotations

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    error_for_status,
)

__all__ = ["micropub_error"]

HINTS = {
    "unauthorized": "the token is missing, expired or revoked: get a new one from the "
    "site's token endpoint",
    "insufficient_scope": 'the token lacks a scope: request one with scope "create media"',
    "forbidden": "the token's user may not post here",
    "invalid_request": "the endpoint refused the entry's properties",
}


def micropub_error(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The classified error for a Micropub or media endpoint response, or None on success."""
    if response.status_code < 400:
        return None
    code, description = _read(response)
    message = None
    if code:
        message = f"{code}: {description}" if description else code
        if code in HINTS:
            message += f" — {HINTS[code]}"
    if code == "insufficient_scope":
        return AuthFailed(message or code, status=response.status_code, platform_code=code)
    error = error_for_status(response, message=message, now=now)
    if error is not None and code:
        error.platform_code = code
    return error


def _read(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:200] or None), None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        return body["error"], description if isinstance(description, str) else None
    return None, None
