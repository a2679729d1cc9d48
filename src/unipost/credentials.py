"""Credential lifecycle: when a channel's credentials lapse, as the platform says.

Tokens die quietly: a Meta user token after 60 days, a LinkedIn refresh token
after a year, TikTok's after 365 days. A channel's ``check()`` that can learn
the date returns a :class:`CredentialStatus` with one :class:`Expiry` per
credential; the core turns those a person must act on into warnings N days
ahead (``[credentials] warn_days``), as ``credential.expiring`` /
``credential.expired`` events and lines of ``unipost check``. Credentials
unipost renews itself (an access token with a refresh token) are reported,
never warned about.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = [
    "DAY",
    "CredentialStatus",
    "Expiry",
    "ExpiryWarning",
    "as_status",
    "expiry_warnings",
    "span",
]

DAY = 86400.0


def span(seconds: float) -> str:
    """A duration as a person reads it: ``5 days``, ``7 h``, ``40 min``."""
    if seconds >= 2 * DAY:
        return f"{seconds / DAY:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@attrs.frozen(kw_only=True)
class Expiry:
    """When one credential stops working, as the platform stated it."""

    #: What lapses, in a person's words: "access token", "refresh token", "data access".
    credential: str
    #: Unix time (compared with the dispatcher's clock).
    at: float
    #: unipost renews it itself before then (an access token beside a refresh token, a
    #: session beside an app password): reported, never warned about.
    renewable: bool = False
    #: Where the date comes from ("debug_token expires_at", "refresh_token_expires_in").
    source: str = ""

    def left(self, now: float) -> float:
        return self.at - now

    def describe(self, now: float) -> str:
        left = self.left(now)
        if left <= 0:
            text = f"{self.credential} expired {_utc(self.at)}"
        else:
            text = f"{self.credential} expires in {span(left)}"
        return text + (" (renewed automatically)" if self.renewable else "")


def _expiries(value: Iterable[Expiry]) -> tuple[Expiry, ...]:
    return tuple(sorted(value, key=lambda e: e.at))


def _notes(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class CredentialStatus:
    """What a channel's ``check()`` learned: who it is, and when its credentials lapse."""

    summary: str
    expiries: tuple[Expiry, ...] = attrs.field(default=(), converter=_expiries)
    #: Further things a person should know ("a renewed token was kept only in memory").
    notes: tuple[str, ...] = attrs.field(default=(), converter=_notes)

    def lapses(self) -> Expiry | None:
        """The first credential that needs a person (not renewed automatically), if known."""
        return next((e for e in self.expiries if not e.renewable), None)

    def describe(self, now: float) -> str:
        """One line: the summary, then every expiry and note."""
        bits = [self.summary, *(e.describe(now) for e in self.expiries), *self.notes]
        return "; ".join(b for b in bits if b)


def as_status(value: str | CredentialStatus) -> CredentialStatus:
    """A check's answer as a status (a plain string says nothing about expiry)."""
    return value if isinstance(value, CredentialStatus) else CredentialStatus(summary=value)


@attrs.frozen(kw_only=True)
class ExpiryWarning:
    """A credential that lapses within the warning window (or already has)."""

    channel: str
    expiry: Expiry
    left: float

    @property
    def expired(self) -> bool:
        return self.left <= 0

    @property
    def event(self) -> str:
        return "credential.expired" if self.expired else "credential.expiring"

    def fields(self) -> dict[str, Any]:
        return {
            "credential": self.expiry.credential,
            "expires_at": self.expiry.at,
            "days_left": round(max(self.left, 0.0) / DAY, 2),
            "source": self.expiry.source,
        }

    def message(self) -> str:
        when = _utc(self.expiry.at)
        if self.expired:
            head = f"the {self.expiry.credential} expired {when}"
        else:
            head = f"the {self.expiry.credential} expires in {span(self.left)} ({when})"
        return (
            f"{head}: authorize {self.channel} again, then "
            f"`unipost outbox retry --blocked-by {self.channel}`"
        )


def expiry_warnings(
    channel: str, status: CredentialStatus, *, now: float, warn_days: float
) -> tuple[ExpiryWarning, ...]:
    """The expiries of ``status`` a person must act on within ``warn_days``."""
    return tuple(
        ExpiryWarning(channel=channel, expiry=e, left=e.left(now))
        for e in status.expiries
        if not e.renewable and e.left(now) <= warn_days * DAY
    )
