"""Everything a channel plugin needs, in one import: ``from unipost.plugin import ...``.

The plugin author's surface, kept narrow on purpose: the channel contract,
the post model, the error classes a flow raises or ``classify`` returns, the
helpers that read platform answers, and the hook marker. A plugin imports
nothing else from ``unipost`` (tests use :mod:`unipost.testing`).
"""

from __future__ import annotations

from unipost.channel import (
    WEB_MEDIA_TYPES,
    Absent,
    Capabilities,
    Change,
    Channel,
    Context,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Overflow,
    Pause,
    Prepared,
    Receipt,
    RecipientResult,
    Unknown,
    is_loopback,
    secret,
)
from unipost.classify import error_for_status, parse_retry_after, request_id, seconds_until
from unipost.credentials import CredentialStatus, Expiry
from unipost.errors import (
    Ambiguous,
    AuthFailed,
    ConfigurationError,
    ContentRejected,
    DeliveryError,
    DuplicateSignal,
    ErrorClass,
    Forbidden,
    InvalidMedia,
    NotSent,
    Permanent,
    QuotaExhausted,
    RateLimited,
    Transient,
)
from unipost.hookspecs import Register, hookimpl
from unipost.models import Media, Post, Variant
from unipost.redact import mask_email, mask_phone, register_secret
from unipost.responses import error_text, json_body, json_object, require
from unipost.status_feeds import StatusSource
from unipost.text import TextUnit, count, find_urls, graphemes, split, truncate

__all__ = [
    "WEB_MEDIA_TYPES",
    "Absent",
    "Ambiguous",
    "AuthFailed",
    "Capabilities",
    "Change",
    "Channel",
    "ConfigurationError",
    "ContentRejected",
    "Context",
    "CredentialStatus",
    "DeliveryError",
    "DuplicateSignal",
    "ErrorClass",
    "Expiry",
    "Flow",
    "Forbidden",
    "Found",
    "Idempotency",
    "InvalidMedia",
    "Limit",
    "LookupResult",
    "Media",
    "NotSent",
    "Overflow",
    "Pause",
    "Permanent",
    "Post",
    "Prepared",
    "QuotaExhausted",
    "RateLimited",
    "Receipt",
    "RecipientResult",
    "Register",
    "StatusSource",
    "TextUnit",
    "Transient",
    "Unknown",
    "Variant",
    "count",
    "error_for_status",
    "error_text",
    "find_urls",
    "graphemes",
    "hookimpl",
    "is_loopback",
    "json_body",
    "json_object",
    "mask_email",
    "mask_phone",
    "parse_retry_after",
    "register_secret",
    "request_id",
    "require",
    "seconds_until",
    "secret",
    "split",
    "truncate",
]
