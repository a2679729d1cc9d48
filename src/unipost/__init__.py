"""unipost: publish one post to many channels with one call."""

from __future__ import annotations

from unipost.channel import (
    Capabilities,
    Change,
    Channel,
    Context,
    Idempotency,
    Limit,
    Overflow,
    Pause,
    Prepared,
    Receipt,
    secret,
)
from unipost.errors import (
    ContentRejected,
    DeliveryError,
    DeliveryFailed,
    ErrorClass,
    UnipostError,
    UsageError,
)
from unipost.hookspecs import hookimpl
from unipost.models import Media, Post, Variant
from unipost.text import TextUnit

__all__ = [
    "Capabilities",
    "Change",
    "Channel",
    "ContentRejected",
    "Context",
    "DeliveryError",
    "DeliveryFailed",
    "ErrorClass",
    "Idempotency",
    "Limit",
    "Media",
    "Overflow",
    "Pause",
    "Post",
    "Prepared",
    "Receipt",
    "TextUnit",
    "UnipostError",
    "UsageError",
    "Variant",
    "hookimpl",
    "secret",
]
