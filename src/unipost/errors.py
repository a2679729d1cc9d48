"""The one exception tree of unipost.

::

    UnipostError
    ├── UsageError                 a mistake by the caller: raised at once, nothing sent
    │   ├── InvalidPost            (.field, .fix)
    │   ├── InvalidMedia
    │   ├── ContentRejected        the post cannot fit any target
    │   ├── IdempotencyConflict    same post id + revision, different content
    │   └── ConfigurationError
    │       ├── UnknownChannel
    │       └── MissingSecret
    ├── PluginError                a plugin failed to load or registered a name twice
    ├── StoreError                 the outbox file is corrupt, locked or unreadable
    ├── DeliveryError              one failed attempt, classified (.error_class)
    │   ├── NotSent                the request never left: always safe to retry
    │   ├── Transient              the platform says "later"; .may_have_applied for 500/502/504
    │   ├── Ambiguous              the request may have been applied: never blindly retried
    │   ├── RateLimited            .retry_after seconds
    │   ├── QuotaExhausted         a daily or windowed quota is used up
    │   ├── AuthFailed             credentials rejected or expired
    │   ├── Forbidden              authenticated, but not allowed
    │   ├── Permanent              the request must change before it can succeed
    │   └── DuplicateSignal        the platform says this post already exists
    └── DeliveryFailed             raised by Report.raise_for_errors() (in unipost.report)

Delivery failures are classified by *whether the request may have been
applied*, because that decides whether a retry can post twice.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import httpx

from unipost.redact import redact

__all__ = [
    "Ambiguous",
    "AuthFailed",
    "ConfigurationError",
    "ContentRejected",
    "DeliveryError",
    "DuplicateSignal",
    "ErrorClass",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidMedia",
    "InvalidPost",
    "MissingSecret",
    "NotSent",
    "Permanent",
    "PluginError",
    "QuotaExhausted",
    "RateLimited",
    "StoreError",
    "Transient",
    "UnipostError",
    "UnknownChannel",
    "UsageError",
]


class UnipostError(Exception):
    """Base of every exception unipost raises on purpose."""


class UsageError(UnipostError, ValueError):
    """A mistake the caller can fix; the message names the field and the fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem} — {fix}")


class InvalidPost(UsageError):
    """A ``Post`` field holds a value no channel could publish."""


class InvalidMedia(UsageError):
    """A media file is missing, unreadable, or not the type it claims."""


class ContentRejected(UsageError):
    """The post cannot be adapted to fit a channel, or any target of a route."""


class IdempotencyConflict(UsageError):
    """The same post id and revision was published before with different content."""


class ConfigurationError(UsageError):
    """``unipost.toml`` or a channel's settings are wrong."""


class UnknownChannel(ConfigurationError):
    """A route names a channel that is neither configured nor installed."""


class MissingSecret(ConfigurationError):
    """A secret is referenced (an environment variable) but not set."""


class PluginError(UnipostError):
    """A plugin distribution is broken; the others keep working."""

    def __init__(self, message: str, *, distribution: str | None = None) -> None:
        self.distribution = distribution
        super().__init__(message)


class StoreError(UnipostError):
    """The outbox cannot be opened or written; nothing was overwritten."""


class ErrorClass(enum.Enum):
    """What a failed attempt means for retrying (``reference/resilience.md`` A.4)."""

    NOT_SENT = "not_sent"
    TRANSIENT = "transient"
    AMBIGUOUS = "ambiguous"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH = "auth"
    FORBIDDEN = "forbidden"
    PERMANENT = "permanent"
    DUPLICATE_SIGNAL = "duplicate_signal"
    UNAVAILABLE = "unavailable"  # local: breaker open or account blocked; nothing sent

    @property
    def counts_for_breaker(self) -> bool:
        """Failures that say the platform, not the request, is unwell."""
        return self in _BREAKER_CLASSES

    @property
    def retryable(self) -> bool:
        """Worth another attempt later (without changing the request)."""
        return self in _RETRYABLE


_BREAKER_CLASSES = frozenset({ErrorClass.NOT_SENT, ErrorClass.TRANSIENT, ErrorClass.AMBIGUOUS})
_RETRYABLE = frozenset(
    {
        ErrorClass.NOT_SENT,
        ErrorClass.TRANSIENT,
        ErrorClass.RATE_LIMITED,
        ErrorClass.QUOTA_EXHAUSTED,
        ErrorClass.UNAVAILABLE,
    }
)


class DeliveryError(UnipostError):
    """One attempt failed. Subclasses fix :attr:`error_class`; the message is redacted."""

    error_class: ClassVar[ErrorClass]
    #: Whether the platform may have applied the request (a retry may duplicate it).
    may_have_applied_default: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        platform_code: str | int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        may_have_applied: bool | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.message = redact(message)
        self.status = status
        self.platform_code = None if platform_code is None else str(platform_code)
        self.request_id = request_id
        self.retry_after = retry_after
        self.may_have_applied = (
            self.may_have_applied_default if may_have_applied is None else may_have_applied
        )
        self.detail = detail or {}
        super().__init__(self.message)

    def __str__(self) -> str:
        bits = [self.error_class.value]
        if self.status is not None:
            bits.append(f"HTTP {self.status}")
        if self.platform_code is not None:
            bits.append(f"code {self.platform_code}")
        head = ", ".join(bits)
        return f"{head}: {self.message}"

    @property
    def timed_out(self) -> bool:
        """A timeout costs the retry budget double: the platform is slow, not just refusing."""
        cause = self.__cause__
        return isinstance(cause, TimeoutError | httpx.TimeoutException)

    @staticmethod
    def of(error_class: ErrorClass, message: str, **kwargs: Any) -> DeliveryError:
        """Build the subclass for ``error_class``."""
        return _BY_CLASS[error_class](message, **kwargs)


class NotSent(DeliveryError):
    error_class = ErrorClass.NOT_SENT


class Transient(DeliveryError):
    error_class = ErrorClass.TRANSIENT


class Ambiguous(DeliveryError):
    error_class = ErrorClass.AMBIGUOUS
    may_have_applied_default = True


class RateLimited(DeliveryError):
    error_class = ErrorClass.RATE_LIMITED


class QuotaExhausted(DeliveryError):
    error_class = ErrorClass.QUOTA_EXHAUSTED


class AuthFailed(DeliveryError):
    error_class = ErrorClass.AUTH


class Forbidden(DeliveryError):
    error_class = ErrorClass.FORBIDDEN


class Permanent(DeliveryError):
    error_class = ErrorClass.PERMANENT


class DuplicateSignal(DeliveryError):
    error_class = ErrorClass.DUPLICATE_SIGNAL
    may_have_applied_default = True


_BY_CLASS: dict[ErrorClass, type[DeliveryError]] = {
    cls.error_class: cls
    for cls in (
        NotSent,
        Transient,
        Ambiguous,
        RateLimited,
        QuotaExhausted,
        AuthFailed,
        Forbidden,
        Permanent,
        DuplicateSignal,
    )
}
