"""Ghost errors: ``{"errors": [{"message", "type", "code", "context", ...}]}``.

The status decides the class, except that a token Ghost cannot use
(``INVALID_JWT``, sometimes sent as a 400 ``BadRequestError``) or an unknown key
is always an auth failure: the request itself was fine. An update collision
(409, someone else saved the post meanwhile) is transient: nothing was applied.
"""

from __future__ import annotations

import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    Transient,
    error_for_status,
)

__all__ = ["ghost_error"]

_AUTH_CODES = {"INVALID_JWT", "UNKNOWN_ADMIN_API_KEY", "INVALID_AUTH_HEADER"}
_HINT = (
    "check admin_api_key (a custom integration's Admin API key) and that this machine's "
    "clock is right: tokens live 5 minutes"
)


def ghost_error(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The classified error for a Ghost Admin API response, or None on success."""
    if response.status_code < 400:
        return None
    first = _first_error(response)
    kind = first.get("type")
    code = first.get("code")
    message = None
    if first:
        parts = [str(p) for p in (kind, first.get("message"), first.get("context")) if p]
        message = ": ".join(parts)
    platform_code = str(code or kind) if (code or kind) else None
    if code in _AUTH_CODES or kind == "UnauthorizedError":
        return AuthFailed(
            f"{message or 'unauthorized'} — {_HINT}",
            status=response.status_code,
            platform_code=platform_code,
        )
    if kind == "UpdateCollisionError":
        # Someone saved the post between our read and our write: nothing was applied, and
        # the next attempt reads the new updated_at.
        return Transient(message or kind, status=response.status_code, platform_code=kind)
    error = error_for_status(response, message=message, now=now)
    if error is not None and platform_code:
        error.platform_code = platform_code
    return error


def _first_error(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return dict(errors[0])
    return {}
