"""Counting in every unit platforms use, with the hard cases."""

from __future__ import annotations

import pytest

from unipost.text import TextUnit, count, find_urls, split, truncate

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # ZWJ sequence, 7 code points
THUMBS = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone
CAFE = "cafe\u0301"  # e + combining acute
CJK = "日本語"


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        (FAMILY, TextUnit.GRAPHEMES, 1),
        (FAMILY, TextUnit.CHARACTERS, 7),
        (FAMILY, TextUnit.UTF16_UNITS, 11),
        (FAMILY, TextUnit.UTF8_BYTES, 25),
        (FAMILY, TextUnit.X_WEIGHTED, 2),
        (THUMBS, TextUnit.GRAPHEMES, 1),
        (THUMBS, TextUnit.CHARACTERS, 2),
        (THUMBS, TextUnit.UTF16_UNITS, 4),
        (THUMBS, TextUnit.X_WEIGHTED, 2),
        (CAFE, TextUnit.GRAPHEMES, 4),
        (CAFE, TextUnit.CHARACTERS, 5),
        (CAFE, TextUnit.UTF8_BYTES, 6),
        (CAFE, TextUnit.X_WEIGHTED, 4),  # NFC makes é one code point of weight 1
        (CJK, TextUnit.GRAPHEMES, 3),
        (CJK, TextUnit.UTF8_BYTES, 9),
        (CJK, TextUnit.UTF16_UNITS, 3),
        (CJK, TextUnit.X_WEIGHTED, 6),
        ("hello", TextUnit.X_WEIGHTED, 5),
        (
            FAMILY,
            TextUnit.THREADS,
            25,
        ),  # Threads: "emojis are counted as the number of UTF-8 bytes"
        (CAFE, TextUnit.THREADS, 5),
        (CJK, TextUnit.THREADS, 3),
        (
            "\u2014",
            TextUnit.X_WEIGHTED,
            1,
        ),  # em dash is in twitter-text's weight-100 range 8208-8223
    ],
)
def test_count(text: str, unit: TextUnit, expected: int) -> None:
    assert count(text, unit) == expected


def test_x_weighting_counts_each_url_as_23() -> None:
    text = "Offer: https://bakery.example/a/very/long/path/that/is/longer/than/23 today"
    assert count(text, TextUnit.X_WEIGHTED) == len("Offer: ") + 23 + len(" today")


def test_url_length_applies_to_graphemes_for_mastodon() -> None:
    text = "see https://example.com/" + "x" * 100
    assert count(text, TextUnit.GRAPHEMES, url_length=23) == 4 + 23


def test_find_urls_drops_trailing_punctuation() -> None:
    text = "Visit https://bakery.example/offer. Or www.bakery.example!"
    spans = [text[a:b] for a, b in find_urls(text)]
    assert spans == ["https://bakery.example/offer", "www.bakery.example"]


def test_truncate_keeps_graphemes_whole_and_suffix() -> None:
    text = ("croissant " * 10) + FAMILY * 5
    short = truncate(text, 30, TextUnit.GRAPHEMES, suffix=" https://b.example/x")
    assert short.endswith("… https://b.example/x")
    assert count(short, TextUnit.GRAPHEMES) <= 30
    assert "\u200d" not in short.split("…")[0][-1:]  # no half ZWJ sequence before the ellipsis


def test_truncate_never_cuts_a_url() -> None:
    text = "Read more at https://bakery.example/offers/christmas-2026 now"
    short = truncate(text, 30, TextUnit.CHARACTERS)
    url = "https://bakery.example/offers/christmas-2026"
    assert url in short or "https" not in short
    assert len(short) <= 30


def test_truncate_leaves_fitting_text_alone() -> None:
    assert truncate("short", 10, TextUnit.CHARACTERS) == "short"


def test_split_numbers_parts_within_the_limit() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    parts = split(text, 100, TextUnit.GRAPHEMES)
    assert len(parts) > 1
    assert all(count(p, TextUnit.GRAPHEMES) <= 100 for p in parts)
    assert parts[0].endswith(f" 1/{len(parts)}")
    rejoined = " ".join(p.rsplit(" ", 1)[0] for p in parts)
    assert rejoined.split() == text.split()


def test_split_utf8_bytes_with_cjk() -> None:
    text = CJK * 200
    parts = split(text, 300, TextUnit.UTF8_BYTES)
    assert all(count(p, TextUnit.UTF8_BYTES) <= 300 for p in parts)
    assert "".join(p.rsplit(" ", 1)[0] for p in parts) == text


def test_overflow_messages_splits_without_a_thread() -> None:
    """MESSAGES: several plain messages (Discord, Telegram), allowed without threads=True."""
    from typing import ClassVar

    import attrs

    import unipost

    @attrs.frozen(kw_only=True)
    class Chatty(unipost.Channel):
        name: ClassVar[str] = "chatty"
        capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(
            text_limit=50, text_unit=TextUnit.CHARACTERS, overflow=unipost.Overflow.MESSAGES
        )

    prepared = Chatty().prepare(unipost.Post(text="word " * 40))
    assert len(prepared.parts) > 1
    assert all(len(part) <= 50 for part in prepared.parts)
    assert [c.kind for c in prepared.changes] == ["split"]
    assert "messages" in prepared.changes[0].detail
