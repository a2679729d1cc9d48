"""Finding a status again after a create whose answer was lost.

Statuses come back as HTML (``content``), so the comparison is on the text a
reader sees: tags dropped, line breaks and paragraphs as whitespace, a
mention shown without its domain. Only statuses created since the record's
first attempt count, and the listing is paged back until it passes that time;
running out of pages is "unknown", never "absent" (a proven absence is what
allows a resend).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

__all__ = ["LOOKUP_PAGES", "created_at", "same_text"]

LOOKUP_PAGES = 5  # of 40 statuses: a lookup reads back at most 200 of the account's posts
CLOCK_SLACK = 120.0  # the instance's clock and ours may disagree by this much
_MENTION = re.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "p":
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _squash(text: str) -> str:
    return " ".join(text.split())


def plain(content: str) -> str:
    """The text a reader sees in a status's HTML ``content``."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return "".join(parser.parts)


def same_text(status: Mapping[str, Any], sent: str) -> bool:
    """Whether ``status`` shows the text that was sent (mentions lose their domain on display)."""
    content = status.get("content")
    if not isinstance(content, str):
        return False
    return _squash(plain(content)) == _squash(_MENTION.sub(r"@\1", sent))


def created_at(status: Mapping[str, Any]) -> float | None:
    """``created_at`` in epoch seconds (``2026-12-03T14:02:00.123Z``)."""
    value = status.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()
