"""LinkedIn's "little" text format for ``commentary``.

The characters ``\\ | { } @ [ ] ( ) < > # * _ ~`` are markup. Left unescaped,
LinkedIn silently cuts the post at the first one and still answers 201, so
every one is backslash-escaped; hashtags become the documented
``{hashtag|\\#|tag}`` template so they stay hashtags.
"""

from __future__ import annotations

import regex

__all__ = ["RESERVED", "escape"]

RESERVED = frozenset("\\|{}@[]()<>#*_~")
_HASHTAG = regex.compile(r"(?<![\w#/])#(\p{L}[\p{L}\p{N}_]*)")
_URL = regex.compile(r"https?://\S+")


def _plain(text: str) -> str:
    return "".join("\\" + char if char in RESERVED else char for char in text)


def _words(text: str) -> str:
    out: list[str] = []
    last = 0
    for match in _HASHTAG.finditer(text):
        out.append(_plain(text[last : match.start()]))
        out.append("{hashtag|\\#|" + _plain(match.group(1)) + "}")
        last = match.end()
    out.append(_plain(text[last:]))
    return "".join(out)


def escape(text: str) -> str:
    """``text`` as little text: reserved characters escaped, ``#tag`` kept as a hashtag."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        out.append(_words(text[last : match.start()]))
        out.append(_plain(match.group(0)))  # a fragment in a link is no hashtag
        last = match.end()
    out.append(_words(text[last:]))
    return "".join(out)
