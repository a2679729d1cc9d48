"""WordPress REST errors: ``{"code", "message", "data": {"status"}}`` onto the shared classes.

WordPress chooses the status itself (401 when the credentials are missing or
wrong, 403 when the user lacks a capability), so the status decides the class;
the code and message are kept for the person reading the report, with a fix
for the codes whose cause is known.
"""

from __future__ import annotations

from typing import Any

import httpx

from unipost.plugin import (
    DeliveryError,
    error_for_status,
)

__all__ = ["HINTS", "wordpress_error"]

#: What to do about the error codes whose cause is known.
HINTS = {
    "incorrect_password": "create a new application password (Users → Profile → Application "
    "Passwords) and set application_password",
    "invalid_username": "set username to the WordPress login name the application password "
    "belongs to",
    "rest_not_logged_in": "the server dropped the Authorization header (some Apache/CGI hosts "
    "do) or the credentials are missing; see docs/channels/wordpress.md",
    "application_passwords_disabled": "application passwords are off on this site (a security "
    "plugin or a site without HTTPS); enable them",
    "rest_cannot_create": "the user needs the Author role or higher (edit_posts, publish_posts)",
    "rest_cannot_publish": "the user may not publish; give it the Author role or set "
    'status = "pending"',
    "rest_cannot_edit": "the user may not edit this post (it belongs to someone else); use an "
    "Editor account",
    "rest_forbidden_status": "WordPress did not accept the login or the user may not see "
    "drafts: check username and application_password, and give the user the Author role",
    "rest_no_route": "the REST API is not at this address; when pretty permalinks are off set "
    "pretty_permalinks = false",
}


def wordpress_error(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """The classified error for a WordPress response, or None when it succeeded."""
    if response.status_code < 400:
        return None
    outer = _body(response)
    body = _unwrap(outer)
    status = (_status(body) or response.status_code) if body is not outer else response.status_code
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = body.get("message") if isinstance(body.get("message"), str) else None
    text = None
    if code:
        text = f"{code}: {message}" if message else code
        if code in HINTS:
            text += f" — {HINTS[code]}"
    elif response.status_code == 413:
        text = "the file is larger than the server accepts (upload_max_filesize, or the web "
        text += "server's body limit); resize it or raise the limit"
    if status != response.status_code:
        response = httpx.Response(status, headers=response.headers, request=response.request)
    error = error_for_status(response, message=text, now=now)
    if error is not None and code:
        error.platform_code = code
        data = body.get("data")
        if isinstance(data, dict):
            error.detail = dict(data)
    return error


def _unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """A parameter refused for lack of rights is an auth error, not a bad request.

    ``GET /wp/v2/posts?status=draft`` by a user who may not see drafts (or by
    credentials WordPress did not accept) answers 400 ``rest_invalid_param``
    with the real error, 401 or 403 ``rest_forbidden_status``, in
    ``data.details``.
    """
    if body.get("code") != "rest_invalid_param":
        return body
    data = body.get("data")
    details = data.get("details") if isinstance(data, dict) else None
    for inner in (details or {}).values() if isinstance(details, dict) else ():
        if isinstance(inner, dict) and _status(inner) in (401, 403):
            return inner
    return body


def _status(body: dict[str, Any]) -> int | None:
    data = body.get("data")
    status = data.get("status") if isinstance(data, dict) else None
    return status if isinstance(status, int) and status >= 400 else None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
