"""What the site's pages say about a post: its heading, the text under it, its excerpt and dates."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any

from unipost import text as textmod
from unipost.channel import Prepared
from unipost.channels._site_feeds import parse_time

__all__ = [
    "card_heading",
    "date_text",
    "headline",
    "item_id",
    "site_year",
    "split_heading",
    "summary",
    "timestamp",
]

_HEADLINE_LENGTH = 80
_SUMMARY_LENGTH = 200


def timestamp(now: float) -> str:
    """``now`` (the dispatcher's clock) as an RFC 3339 UTC time, to the second."""
    moment = dt.datetime.fromtimestamp(int(now), dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def date_text(value: str) -> str:
    moment = parse_time(value)
    return f"{moment.day} {moment:%B %Y}"


def split_heading(item: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(heading, body, heading hidden): a first line used as the heading is not repeated.

    A first line too long for a heading, or with a link in it, stays in the text; the
    page then keeps an accessible heading for screen readers that is not shown.
    """
    text: str = item["text"]
    if item["title"]:
        return item["title"], text, False
    lines = text.strip().split("\n", 1)
    if lines[0].strip() == item["headline"] and not textmod.find_urls(lines[0]):
        return item["headline"], lines[1] if len(lines) > 1 else "", False
    return item["headline"], text, True


def card_heading(item: Mapping[str, Any]) -> str:
    """On the home page a long first line is the card's heading, cut later than a page title."""
    heading, body, hidden = split_heading(item)
    if not hidden:
        return heading
    first = body.strip().split("\n", 1)[0].strip()
    return textmod.truncate(first, _SUMMARY_LENGTH, textmod.TextUnit.GRAPHEMES)


def summary(item: Mapping[str, Any]) -> str:
    """A one-paragraph excerpt of what the heading does not already say."""
    _heading, body, hidden = split_heading(item)
    if hidden:  # the heading is the cut first line: the excerpt starts after it
        lines = body.strip().split("\n", 1)
        body = lines[1] if len(lines) > 1 else ""
    flat = " ".join(body.split())
    return textmod.truncate(flat, _SUMMARY_LENGTH, textmod.TextUnit.GRAPHEMES) if flat else ""


def headline(prepared: Prepared) -> str:
    if prepared.post.title:
        return prepared.post.title
    first = next((line.strip() for line in prepared.text.splitlines() if line.strip()), "")
    if not first:
        return "Post"
    return textmod.truncate(first, _HEADLINE_LENGTH, textmod.TextUnit.GRAPHEMES)


def item_id(post_id: str) -> str:
    """A permanent IRI for the item: readers must never see a new id for an old post."""
    return "urn:unipost:" + urllib.parse.quote(post_id, safe="-._~")


def site_year(items: Mapping[str, Mapping[str, Any]]) -> int:
    """The footer's year: that of the site's latest change, dated by the dispatcher's clock."""
    return max(int(item["modified"][:4]) for item in items.values())
