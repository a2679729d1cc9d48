"""How Graph's answers are read: error bodies, codes and usage headers, once for all four channels.

Meta documents its errors as ``{"error": {"code", "error_subcode", "is_transient", ...}}``
with throttling reported in ``X-App-Usage`` / ``X-Business-Use-Case-Usage`` headers; this
module turns each into the unipost error class it means, with the wait Meta asks for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from unipost.plugin import (
    AuthFailed,
    DeliveryError,
    DuplicateSignal,
    ErrorClass,
    Forbidden,
    Permanent,
    QuotaExhausted,
    RateLimited,
    Transient,
    error_for_status,
    parse_retry_after,
    request_id,
)

__all__ = [
    "INSTAGRAM_SUBCODES",
    "PAIR_RATE_WAIT",
    "POLICY_BLOCK_WAIT",
    "THROTTLE_WAIT",
    "GraphError",
    "error_for_graph",
    "instagram_subcode",
    "number",
    "usage_wait",
]

# Meta gives no wait for app-level (X-App-Usage) throttling; usage is measured
# over a rolling hour and usually drops below 100 % within minutes.
THROTTLE_WAIT = 300.0
# Code 368 is a temporary policy block; Meta asks for a long back-off.
POLICY_BLOCK_WAIT = 3600.0
# WhatsApp allows about one message per 6 s to one recipient (131056).
PAIR_RATE_WAIT = 6.0

_RATE_CODES = frozenset({4, 17, 32, 613, 130429, 131056, 131048})
_BUC_CODES = range(80000, 80015)  # Business Use Case throttles: 80001 Pages, 80002 IG, 80007 WABA
_AUTH_SUBCODES = {
    458: "the app is not installed for this user",
    459: "the user must log in at facebook.com to pass a checkpoint",
    460: "the password changed, so the token was revoked",
    463: "the token has expired",
    464: "the user is not confirmed",
    467: "the token is invalid (logged out or revoked)",
}
# Instagram's 2207xxx subcodes, mapped by what they say about retrying.
INSTAGRAM_SUBCODES: dict[int, tuple[ErrorClass, str]] = {
    2207001: (ErrorClass.TRANSIENT, "Instagram had a server error processing the media"),
    2207003: (ErrorClass.TRANSIENT, "Instagram took too long to download the media"),
    2207004: (ErrorClass.PERMANENT, "the image is too large (the limit is 8 MB)"),
    2207005: (ErrorClass.PERMANENT, "the media format is not supported (use JPEG images)"),
    2207006: (ErrorClass.PERMANENT, "the media was not found at its URL or is not public"),
    2207008: (ErrorClass.TRANSIENT, "the container expired or does not exist; a new one is needed"),
    2207009: (ErrorClass.PERMANENT, "the aspect ratio is not supported (4:5 to 1.91:1)"),
    2207010: (ErrorClass.PERMANENT, "the caption is too long"),
    2207020: (ErrorClass.TRANSIENT, "the media expired before publishing; upload it again"),
    2207026: (ErrorClass.PERMANENT, "the video format is not supported"),
    2207027: (ErrorClass.TRANSIENT, "the media is not ready for publishing yet"),
    2207032: (ErrorClass.TRANSIENT, "Instagram could not create the media; try again"),
    2207042: (ErrorClass.QUOTA_EXHAUSTED, "the account reached its daily publishing limit"),
    2207050: (ErrorClass.FORBIDDEN, "the account is inactive or restricted"),
    2207051: (ErrorClass.FORBIDDEN, "Instagram blocked the action (suspected spam)"),
    2207052: (ErrorClass.PERMANENT, "the media could not be fetched from its URL"),
    2207053: (ErrorClass.TRANSIENT, "Instagram had an unknown upload error"),
    2207057: (ErrorClass.PERMANENT, "the video thumbnail offset is invalid"),
}
# "Not ready yet" answers that say is_transient=false but succeed after polling.
_NOT_READY = frozenset({(9007, None), (9007, 2207027), (24, 4279009)})
_WHATSAPP_WINDOW = (
    "outside the 24-hour window: configure a template (free-form WhatsApp messages may only "
    "answer a customer who wrote within the last 24 hours; set template = {...} for this channel)"
)
_WHATSAPP_CODES: dict[int, tuple[ErrorClass, str]] = {
    131000: (ErrorClass.TRANSIENT, "WhatsApp had an internal error"),
    131016: (ErrorClass.TRANSIENT, "WhatsApp is temporarily unavailable"),
    131008: (ErrorClass.PERMANENT, "a required parameter is missing"),
    131009: (ErrorClass.PERMANENT, "a parameter value is invalid"),
    131026: (ErrorClass.PERMANENT, "the message could not be delivered to this number"),
    131047: (ErrorClass.PERMANENT, _WHATSAPP_WINDOW),
    131051: (ErrorClass.PERMANENT, "the message type is not supported"),
    132000: (ErrorClass.PERMANENT, "the template's parameter count does not match"),
    132001: (
        ErrorClass.PERMANENT,
        "the template name or language does not exist (or is not approved)",
    ),
    132018: (ErrorClass.PERMANENT, "a template parameter has a newline, tab or too many spaces"),
    133010: (ErrorClass.PERMANENT, "the business phone number is not registered"),
}


def _json_header(headers: httpx.Headers, name: str) -> Any:
    raw = headers.get(name)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def number(value: Any) -> float:
    """A JSON number as a float; 0 for anything else (absent, null, text, a boolean)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def usage_wait(headers: httpx.Headers) -> float | None:
    """Seconds to wait according to ``X-Business-Use-Case-Usage`` / ``X-App-Usage``.

    None when the headers say nothing is throttled. A BUC entry's
    ``estimated_time_to_regain_access`` (minutes) wins; a usage at 100 % with
    no estimate waits :data:`THROTTLE_WAIT`.
    """
    entries: list[Mapping[str, Any]] = []
    buc = _json_header(headers, "x-business-use-case-usage")
    if isinstance(buc, Mapping):
        for value in buc.values():
            if isinstance(value, list):
                entries.extend(e for e in value if isinstance(e, Mapping))
    app = _json_header(headers, "x-app-usage")
    if isinstance(app, Mapping):
        entries.append(app)
    if not entries:
        return None
    regain = max(number(e.get("estimated_time_to_regain_access")) for e in entries)
    if regain > 0:
        return regain * 60
    usage = max(
        number(e.get(key)) for e in entries for key in ("call_count", "total_time", "total_cputime")
    )
    return THROTTLE_WAIT if usage >= 100 else None


@attrs.frozen(kw_only=True)
class GraphError:
    """The ``error`` object of a Graph response body."""

    message: str
    code: int | None = None
    subcode: int | None = None
    type: str | None = None
    user_message: str | None = None
    is_transient: bool = False
    fbtrace_id: str | None = None

    @classmethod
    def parse(cls, response: httpx.Response) -> GraphError | None:
        """The error in ``response``'s body, whatever its HTTP status; None if there is none."""
        try:
            body = response.json()
        except ValueError:
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return None

        def integer(value: Any) -> int | None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None

        return cls(
            message=str(error.get("message") or "Graph API error"),
            code=integer(error.get("code")),
            subcode=integer(error.get("error_subcode")),
            type=error.get("type") if isinstance(error.get("type"), str) else None,
            user_message=error.get("error_user_msg")
            if isinstance(error.get("error_user_msg"), str)
            else None,
            is_transient=error.get("is_transient") is True,
            fbtrace_id=error.get("fbtrace_id")
            if isinstance(error.get("fbtrace_id"), str)
            else None,
        )

    @property
    def platform_code(self) -> str | None:
        if self.code is None:
            return None if self.subcode is None else str(self.subcode)
        return str(self.code) if self.subcode is None else f"{self.code}/{self.subcode}"


def instagram_subcode(text: str) -> int | None:
    match = re.search(r"\b2207\d{3}\b", text)
    return int(match.group()) if match else None


def error_for_graph(response: httpx.Response, *, now: float) -> DeliveryError | None:
    """Map a Graph response onto the shared classes, by error code, never by HTTP status alone.

    Graph answers some errors with HTTP 200 and others with 400 or 500 whatever
    they mean, and gives rate limits the same ``type`` as auth failures, so the
    body's ``code`` and ``error_subcode`` decide. Unknown codes fall back to
    the HTTP status (>= 500 transient, other 4xx permanent).
    """
    error = GraphError.parse(response)
    if error is None:
        return error_for_status(response, now=now)
    code, subcode = error.code, error.subcode
    message = error.message
    if error.user_message and error.user_message not in message:
        message = f"{message} ({error.user_message})"
    common: dict[str, Any] = {
        "status": response.status_code,
        "platform_code": error.platform_code,
        "request_id": error.fbtrace_id or request_id(response),
        "detail": {"type": error.type} if error.type else {},
    }

    def make(error_class: ErrorClass, text: str, **extra: Any) -> DeliveryError:
        return DeliveryError.of(error_class, text, **common, **extra)

    if (code, subcode) in _NOT_READY or (code, None) in _NOT_READY:
        common["detail"]["not_ready"] = True
        return Transient(f"{message}: the media is still being processed", **common)
    instagram = subcode if subcode in INSTAGRAM_SUBCODES else None
    if instagram is not None:
        error_class, meaning = INSTAGRAM_SUBCODES[instagram]
        if error_class is ErrorClass.TRANSIENT and instagram == 2207027:
            common["detail"]["not_ready"] = True
        return make(error_class, f"{meaning}: {message}")
    if code == 190 or code == 102:
        why = _AUTH_SUBCODES.get(subcode or 0, "the token was rejected")
        return AuthFailed(f"{why}: {message} — create a new token", **common)
    if code in _RATE_CODES or (code is not None and code in _BUC_CODES):
        wait = usage_wait(response.headers) or parse_retry_after(response.headers, now=now)
        if wait is None:
            # No usage header at 100 % and no Retry-After: Meta's guidance is to stop and
            # back off, not to retry soon, so the wait is a real one (#14.2).
            wait = PAIR_RATE_WAIT if code == 131056 else THROTTLE_WAIT
        return RateLimited(message, retry_after=wait, **common)
    if code == 341:
        return QuotaExhausted(f"the app reached its Graph API limit: {message}", **common)
    if code == 368:
        return Forbidden(
            f"temporarily blocked for a policy reason; wait at least an hour: {message}",
            retry_after=POLICY_BLOCK_WAIT,
            **common,
        )
    if code == 10 or (code is not None and 200 <= code <= 299):
        return Forbidden(
            f"missing permission: {message} — grant it to the app and make a new token", **common
        )
    if code == 506:
        return DuplicateSignal(f"Facebook says this post already exists: {message}", **common)
    if code in _WHATSAPP_CODES:
        error_class, meaning = _WHATSAPP_CODES[code]
        return make(error_class, f"{meaning} ({message})")
    if code == 1:
        return Transient(message, may_have_applied=True, **common)
    if code == 2:
        return Transient(message, **common)
    if code == 100:
        return Permanent(f"invalid parameter: {message}", **common)
    if error.is_transient:
        return Transient(message, **common)
    fallback = error_for_status(response, message=message, now=now)
    if fallback is None:  # an error body with HTTP 200: the platform refused
        return Permanent(message, **common)
    return make(
        fallback.error_class,
        message,
        retry_after=fallback.retry_after,
        may_have_applied=fallback.may_have_applied,
    )
