"""Reading platform answers: the one set of body helpers every plugin uses.

The core has already classified the response before a flow sees it (a flow
only ever receives successes, or the error thrown into it), so these helpers
deal with what a *successful* answer holds, or fails to hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from unipost.classify import SAFE_METHODS
from unipost.errors import Ambiguous, Transient

__all__ = ["error_text", "json_body", "json_object", "require"]


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in a body, or ``{}`` for anything else (HTML, empty, a list).

    For reading error bodies in ``classify`` and optional fields of answers.
    """
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    """The JSON object of a success answer, which the flow needs to go on.

    Anything else (an HTML maintenance page, a truncated body) may hide a
    create that was applied: after a create it is :class:`Ambiguous` (the
    dispatcher retries only with the same key, or reconciles); after a read
    it is :class:`Transient`.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, Mapping):
        request = response.request
        text = f"{request.url.host} answered {response.status_code} without a JSON object"
        if request.method in SAFE_METHODS or request.extensions.get("unipost.safe"):
            raise Transient(text, status=response.status_code)
        raise Ambiguous(text + " (the request may have been applied)", status=response.status_code)
    return body


def require(body: Mapping[str, Any], key: str, *, what: str) -> Any:
    """``body[key]``, or :class:`Ambiguous` when a success answer lacks it.

    A 2xx without the id a plugin needs means the create may exist but cannot
    be confirmed: reconcile or hold it, never crash or resend blindly.
    """
    value = body.get(key)
    if value is None or value == "":
        raise Ambiguous(f"{what}: the answer has no {key!r} (the request may have been applied)")
    return value


def error_text(body: Mapping[str, Any], *paths: Iterable[str] | str) -> str | None:
    """The first string found at one of ``paths`` (``"error.message"`` or a key list)."""
    for path in paths:
        keys = path.split(".") if isinstance(path, str) else list(path)
        value: Any = body
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None
