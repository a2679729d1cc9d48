"""Finding a Graph post again by its text, after a create whose answer was lost.

Graph posts carry no client id, so a lookup pages back through the account's posts
(newest first) to the record's first attempt and compares the text; running out of
pages is "unknown", never "absent" (a proven absence is what allows a resend).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx

from unipost.plugin import (
    Context,
    Flow,
    Unknown,
    json_body,
)

__all__ = ["CLOCK_SLACK", "LOOKUP_PAGES", "lookup_since", "same_text", "search_recent"]


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        try:
            return dt.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None


def same_text(published: Any, expected: str) -> bool:
    """Whether a text read back from Graph is the one we sent (whitespace-insensitive)."""
    if not isinstance(published, str) or not expected.strip():
        return False
    return " ".join(published.split()) == " ".join(expected.split())


#: Seconds of clock difference allowed between this machine and Meta's.
CLOCK_SLACK = 120.0
#: Pages of recent posts a lookup reads before it gives up with "unknown".
LOOKUP_PAGES = 8


def lookup_since(ctx: Context) -> float:
    """The oldest creation time a post of this record can have: its first attempt.

    An older post with the same text is an earlier publication (a business
    posting "Open 9-5 today" every day), never this record's.
    """
    return ctx.first_attempt_at - CLOCK_SLACK


def search_recent(
    first_page: httpx.Request, text_field: str, expected: str, *, since: float
) -> Flow[list[Mapping[str, Any]] | Unknown]:
    """Page back through an account's posts (newest first) to ``since``.

    Returns every item created since then with the ``expected`` text, the
    first created first (more than one is a post that went out twice: the
    others are the extra copies a second look flags); an empty list when the
    listing reached back past ``since`` without one; :class:`Unknown` when it
    could not look that far and found none (a proven absence is what allows a
    resend, so running out of pages is never "absent").
    """
    request: httpx.Request | None = first_page
    found: list[tuple[float, Mapping[str, Any]]] = []  # newest first, as listed
    for _page in range(LOOKUP_PAGES):
        if request is None:
            return _oldest_first(found)
        response = yield request
        body = json_body(response)
        items = body.get("data")
        if not isinstance(items, list):
            return Unknown("Graph listed the account's posts without a data array")
        reached = not items
        for item in items:
            if not isinstance(item, Mapping):
                continue
            created = _timestamp(item.get("created_time") or item.get("timestamp"))
            if created is None:
                continue
            if created < since:
                reached = True
                continue
            if same_text(item.get(text_field), expected):
                found.append((created, item))
        if reached:
            return _oldest_first(found)
        paging = body.get("paging")
        following = paging.get("next") if isinstance(paging, Mapping) else None
        request = (
            httpx.Request("GET", following, headers=first_page.headers)
            if isinstance(following, str) and following
            else None
        )
    if found:
        return _oldest_first(found)
    return Unknown(f"read {LOOKUP_PAGES} pages of recent posts without reaching the first attempt")


def _oldest_first(found: list[tuple[float, Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """Listed newest first; a second holds several posts, so listing order breaks ties."""
    ranked = sorted(enumerate(found), key=lambda entry: (entry[1][0], -entry[0]))
    return [item for _index, (_created, item) in ranked]
