"""unipost: publish one post to many channels with one call, and keep reaching people
when a platform is down.

>>> import unipost
>>> report = unipost.publish(unipost.Post(text="We're open today 9-5!"), to="site")  # doctest: +SKIP
"""

from __future__ import annotations

from unipost.api import apublish, build_dispatcher, preview, publish, report
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
    RecipientResult,
    secret,
)
from unipost.config import Config, load_config
from unipost.dispatcher import Dispatcher, SharedFailureDomainWarning
from unipost.errors import (
    ContentRejected,
    DeliveryError,
    ErrorClass,
    UnipostError,
    UsageError,
)
from unipost.hookspecs import hookimpl
from unipost.models import Media, Post, Variant
from unipost.outbox import MemoryStore, State
from unipost.report import DeliveryFailed, Outcome, Report, ReportStatus
from unipost.routes import all_of, first_of
from unipost.text import TextUnit

__all__ = [
    "Capabilities",
    "Change",
    "Channel",
    "Config",
    "ContentRejected",
    "Context",
    "DeliveryError",
    "DeliveryFailed",
    "Dispatcher",
    "ErrorClass",
    "Idempotency",
    "Limit",
    "Media",
    "MemoryStore",
    "Outcome",
    "Overflow",
    "Pause",
    "Post",
    "Prepared",
    "Receipt",
    "RecipientResult",
    "Report",
    "ReportStatus",
    "SharedFailureDomainWarning",
    "State",
    "TextUnit",
    "UnipostError",
    "UsageError",
    "Variant",
    "all_of",
    "apublish",
    "build_dispatcher",
    "first_of",
    "hookimpl",
    "load_config",
    "preview",
    "publish",
    "report",
    "secret",
]
__version__ = "0.1.0"
