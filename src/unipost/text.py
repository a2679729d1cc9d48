"""Counting, truncating and splitting text in the unit each platform counts in.

Platforms disagree on what "500 characters" means: Mastodon and Bluesky count
grapheme clusters, Bluesky also caps UTF-8 bytes, Telegram offsets are UTF-16
code units, X weighs code points (most Latin 1, CJK and emoji 2, a URL 23).
Every plugin counts through this one module so none re-implements it.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterator

import attrs
import regex

__all__ = [
    "SmsSegments",
    "TextUnit",
    "count",
    "find_urls",
    "graphemes",
    "sms_segments",
    "split",
    "truncate",
]

# A pragmatic URL matcher: scheme URLs plus bare domains the platforms auto-link.
_URL = regex.compile(
    r"""(?<![\w@/])(?:https?://[^\s<>"'`]+|(?:www\.)[^\s<>"'`]+)""",
    regex.IGNORECASE | regex.VERBOSE,
)
_TRAILING_PUNCT = ".,:;!?)]}'\""
_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|[\U0001F1E6-\U0001F1FF]|\u20e3")

# twitter-text config v3 (twitter/twitter-text: config/v3.json, Apache-2.0).
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
_X_URL_LENGTH = 23
_X_RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))


class TextUnit(enum.Enum):
    """The unit a platform counts its text limit in."""

    CHARACTERS = "characters"  # Unicode code points
    GRAPHEMES = "graphemes"  # user-perceived characters (UAX #29 extended clusters)
    UTF8_BYTES = "utf8_bytes"
    UTF16_UNITS = "utf16_units"
    X_WEIGHTED = "x_weighted"  # twitter-text v3 weighting, after NFC
    THREADS = "threads"  # code points, but an emoji counts as its UTF-8 byte length


def graphemes(text: str) -> list[str]:
    """Split ``text`` into extended grapheme clusters."""
    return _GRAPHEME.findall(text)


def find_urls(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` code-point spans of the URLs in ``text``."""
    spans = []
    for match in _URL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _TRAILING_PUNCT:
            end -= 1
        spans.append((start, end))
    return spans


def _x_weight(cluster: str) -> int:
    if _EMOJI.search(cluster):
        return _X_DEFAULT_WEIGHT
    total = 0
    for char in cluster:
        point = ord(char)
        for start, end, weight in _X_RANGES:
            if start <= point <= end:
                total += weight
                break
        else:
            total += _X_DEFAULT_WEIGHT
    return total


def _count_plain(text: str, unit: TextUnit) -> int:
    if unit is TextUnit.CHARACTERS:
        return len(text)
    if unit is TextUnit.GRAPHEMES:
        return len(graphemes(text))
    if unit is TextUnit.UTF8_BYTES:
        return len(text.encode("utf-8"))
    if unit is TextUnit.UTF16_UNITS:
        return len(text.encode("utf-16-le")) // 2
    if unit is TextUnit.THREADS:
        return sum(
            len(cluster.encode("utf-8")) if _EMOJI.search(cluster) else len(cluster)
            for cluster in graphemes(text)
        )
    weighted = sum(_x_weight(cluster) for cluster in graphemes(text))
    return -(-weighted // _X_SCALE)


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """Yield ``(piece, is_url)`` in order."""
    position = 0
    for start, end in find_urls(text):
        if start > position:
            yield text[position:start], False
        yield text[start:end], True
        position = end
    if position < len(text):
        yield text[position:], False


def count(text: str, unit: TextUnit, *, url_length: int | None = None) -> int:
    """Length of ``text`` in ``unit``.

    ``url_length`` makes every URL count as that many units (Mastodon and X
    count 23); X weighting always does, as the platform does.
    """
    if unit is TextUnit.X_WEIGHTED:
        text = unicodedata.normalize("NFC", text)
        url_length = _X_URL_LENGTH if url_length is None else url_length
    if url_length is None:
        return _count_plain(text, unit)
    total = 0
    for piece, is_url in _segments(text):
        total += url_length if is_url else _count_plain(piece, unit)
    return total


def _fit(text: str, limit: int, unit: TextUnit, url_length: int | None) -> str:
    """The longest prefix of whole graphemes (never half a URL) within ``limit``."""
    if count(text, unit, url_length=url_length) <= limit:
        return text
    clusters = graphemes(text)
    lo, hi = 0, len(clusters)
    while lo < hi:  # binary search on the number of clusters kept
        mid = (lo + hi + 1) // 2
        if count("".join(clusters[:mid]), unit, url_length=url_length) <= limit:
            lo = mid
        else:
            hi = mid - 1
    prefix = "".join(clusters[:lo])
    for start, end in find_urls(text):  # a URL cut in half is worse than no URL
        if start < len(prefix) < end:
            prefix = prefix[:start]
    return prefix


def truncate(
    text: str,
    limit: int,
    unit: TextUnit,
    *,
    ellipsis: str = "…",
    suffix: str = "",
    url_length: int | None = None,
) -> str:
    """Shorten ``text`` to ``limit`` units, at a word boundary, ending in ``ellipsis``.

    ``suffix`` (typically " " + a link) is kept whole after the shortened text.
    Text that already fits is returned unchanged, with the suffix appended.
    """
    if count(text + suffix, unit, url_length=url_length) <= limit:
        return text + suffix
    tail = ellipsis + suffix
    budget = limit - count(tail, unit, url_length=url_length)
    if budget <= 0:
        return _fit(text + suffix, limit, unit, url_length)
    head = _fit(text, budget, unit, url_length)
    cut = head.rstrip()
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > len(cut) // 2:  # prefer a word boundary unless it wastes half the room
        cut = cut[:space].rstrip()
    return cut + tail


def split(
    text: str,
    limit: int,
    unit: TextUnit,
    *,
    numbered: bool = True,
    url_length: int | None = None,
) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` units, for a thread.

    Breaks at paragraph, sentence, then word boundaries; numbered parts end
    in " 1/3" and the numbering is counted inside the limit.
    """
    if count(text, unit, url_length=url_length) <= limit:
        return [text]
    reserve = len(" 99/99") if numbered else 0
    room = limit - reserve
    if room <= 0:
        raise ValueError(f"limit {limit} leaves no room for text")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if count(rest, unit, url_length=url_length) <= room:
            parts.append(rest)
            break
        head = _fit(rest, room, unit, url_length)
        cut = len(head)
        for separator in ("\n\n", ". ", "! ", "? ", "\n", " "):
            index = head.rfind(separator)
            if index > len(head) // 3:
                cut = index + len(separator)
                break
        if cut == 0:  # one grapheme bigger than the room: cannot happen for sane limits
            cut = len(graphemes(rest)[0])
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if numbered and len(parts) > 1:
        total = len(parts)
        parts = [f"{part} {index}/{total}" for index, part in enumerate(parts, 1)]
    return parts


# GSM 03.38: the default alphabet (one septet each) and the extension table (ESC + one septet).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = _GSM7_BASIC | _GSM7_EXTENSION


@attrs.frozen(kw_only=True)
class SmsSegments:
    """How an SMS body is encoded and into how many billed segments it is cut."""

    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    per_segment: int  # the room of one segment of this message: 160/153 or 70/67
    non_gsm: tuple[str, ...] = ()  # the characters that forced UCS-2, in order of appearance

    @property
    def cost_driver(self) -> str:
        """One line for ``preview``: why the message costs what it costs."""
        if self.encoding == "UCS-2":
            shown = " ".join(repr(c) for c in self.non_gsm[:5])
            return f"UCS-2 because of {shown}: {self.per_segment} characters per segment"
        return f"GSM-7: {self.per_segment} characters per segment"


def _pack(sizes: list[int], single: int, multi: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle two."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    segments, room = 1, multi
    for size in sizes:
        if size > room:
            segments, room = segments + 1, multi
        room -= size
    return segments


def sms_segments(text: str) -> SmsSegments:
    """Encoding and segment count of an SMS body (3GPP TS 23.038, as Twilio bills it).

    GSM-7 fits 160 septets in one segment, 153 per part of a longer message;
    extension characters (``^{}[]~\\|€`` and form feed) take two septets. One
    character outside GSM-7 makes the whole message UCS-2: 70 UTF-16 units in
    one segment, 67 per part (an emoji takes 2).
    """
    non_gsm = tuple(dict.fromkeys(c for c in text if c not in _GSM7))
    if not non_gsm:
        sizes = [2 if c in _GSM7_EXTENSION else 1 for c in text]
        segments = _pack(sizes, 160, 153)
        return SmsSegments(
            encoding="GSM-7",
            segments=segments,
            units=sum(sizes),
            per_segment=160 if segments <= 1 else 153,
        )
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    segments = _pack(sizes, 70, 67)
    return SmsSegments(
        encoding="UCS-2",
        segments=segments,
        units=sum(sizes),
        per_segment=70 if segments <= 1 else 67,
        non_gsm=non_gsm,
    )
