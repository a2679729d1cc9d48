"""What a channel hands back: the receipt of a delivery, and what a lookup found.

A lookup (``Channel.lookup_flow``) answers whether a post whose create went
unanswered exists: :class:`Found` proves it (and lists any other copy of the
same post it saw, so a second look after a resend can flag the extra one),
:class:`Absent` proves it does not (a resend cannot duplicate), and
:class:`Unknown` proves neither — the post is then never resent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

__all__ = ["Absent", "Found", "LookupResult", "Receipt", "RecipientResult", "Unknown"]


@attrs.frozen(kw_only=True)
class RecipientResult:
    """One recipient's fate inside a channel that sends to many (email, WhatsApp)."""

    recipient: str  # already masked: never a full address or number
    ok: bool
    platform_id: str | None = None
    reason: str | None = None


@attrs.frozen(kw_only=True)
class Receipt:
    """Proof of delivery: the platform's id and a URL where the post can be seen."""

    platform_id: str
    url: str | None = None
    recipients: tuple[RecipientResult, ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Found:
    """The post exists. ``duplicates``: other objects showing the same post (oldest first)."""

    receipt: Receipt
    duplicates: tuple[Receipt, ...] = attrs.field(default=(), kw_only=True)

    @property
    def copies(self) -> tuple[Receipt, ...]:
        """Every object the lookup matched, the one it chose first."""
        return (self.receipt, *self.duplicates)


@attrs.frozen
class Absent:
    pass


@attrs.frozen
class Unknown:
    reason: str


LookupResult: TypeAlias = Found | Absent | Unknown
