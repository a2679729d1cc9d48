"""Facets: links, hashtags and mentions located by UTF-8 byte offsets, as Bluesky requires.

Bluesky does not detect links itself; without a facet a URL is plain text.
Links and tags are computed here, purely; mentions are found here and turned
into facets once the flow has resolved each handle to a DID.
"""

from __future__ import annotations

from typing import Any

import attrs
import regex

from unipost.plugin import find_urls, graphemes

__all__ = ["Mention", "facets_for", "link_facet", "mention_facet", "mentions_in", "tag_facet"]

FACET = "app.bsky.richtext.facet"
_TAG = regex.compile(r"(?<!\S)[#\uff03]([^\s#\uff03]+)")  # "#" or the full-width sign
_TAG_TRAILING = ".,:;!?)]}'\"…"
_HANDLE = regex.compile(
    r"(?<![\w@/.])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
_MAX_TAG_GRAPHEMES = 64


@attrs.frozen
class Mention:
    """An ``@handle`` in one part of the text, by byte offsets, waiting for its DID."""

    byte_start: int
    byte_end: int
    handle: str


def _bytes(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _facet(start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


def link_facet(start: int, end: int, uri: str) -> dict[str, Any]:
    return _facet(start, end, {"$type": f"{FACET}#link", "uri": uri})


def tag_facet(start: int, end: int, tag: str) -> dict[str, Any]:
    return _facet(start, end, {"$type": f"{FACET}#tag", "tag": tag})


def mention_facet(mention: Mention, did: str) -> dict[str, Any]:
    return _facet(mention.byte_start, mention.byte_end, {"$type": f"{FACET}#mention", "did": did})


def _inside(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < span_end and span_start < end for span_start, span_end in spans)


def facets_for(text: str) -> list[dict[str, Any]]:
    """Link and hashtag facets of ``text``, in order of position."""
    urls = find_urls(text)
    facets = []
    for start, end in urls:
        url = text[start:end]
        uri = url if "://" in url else "https://" + url
        facets.append(link_facet(_bytes(text, start), _bytes(text, end), uri))
    for match in _TAG.finditer(text):
        tag = match.group(1).rstrip(_TAG_TRAILING)
        start = match.start()
        end = match.start(1) + len(tag)
        if not tag or tag.isdigit() or _inside(start, end, urls):
            continue
        if len(graphemes(tag)) > _MAX_TAG_GRAPHEMES:
            continue
        facets.append(tag_facet(_bytes(text, start), _bytes(text, end), tag))
    facets.sort(key=lambda facet: int(facet["index"]["byteStart"]))
    return facets


def mentions_in(text: str) -> list[Mention]:
    """The ``@handle.domain`` mentions of ``text`` (not e-mail addresses, not inside URLs)."""
    urls = find_urls(text)
    found = []
    for match in _HANDLE.finditer(text):
        if _inside(match.start(), match.end(), urls):
            continue
        found.append(
            Mention(_bytes(text, match.start()), _bytes(text, match.end()), match.group(1).lower())
        )
    return found
