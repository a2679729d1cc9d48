"""SMS segment counting: GSM-7 with its extension table, UCS-2 in UTF-16 units."""

from __future__ import annotations

import pytest

from unipost.text import sms_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # extension table: two septets each
        ("€" * 81, "GSM-7", 2, 162),
        ("Ça coute 5€ à Zürich? {ok}", "GSM-7", 1, 29),
        ("Ça coûte", "UCS-2", 1, 8),  # û is not in GSM-7 (ù is)
        ("ă" * 70, "UCS-2", 1, 70),
        ("ă" * 71, "UCS-2", 2, 71),
        ("😀" * 35, "UCS-2", 1, 70),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 2, 72),
    ],
)
def test_encoding_and_segments(text: str, encoding: str, segments: int, units: int) -> None:
    result = sms_segments(text)
    assert (result.encoding, result.segments, result.units) == (encoding, segments, units)


def test_an_escape_pair_never_straddles_two_segments() -> None:
    # 152 septets, then "€" (2): 154 > 153, so the pair starts the second segment.
    assert sms_segments("a" * 152 + "€" + "a" * 10).segments == 2
    assert sms_segments("a" * 152 + "€" + "a" * 152).segments == 3


def test_a_surrogate_pair_never_straddles_two_segments() -> None:
    assert sms_segments("ă" * 66 + "😀" + "ă" * 66).segments == 3


def test_the_cost_driver_names_the_characters() -> None:
    result = sms_segments("Fresh bread 🥐 today")
    assert result.non_gsm == ("🥐",)
    assert result.cost_driver == "UCS-2 because of '🥐': 70 characters per segment"
    assert sms_segments("plain").cost_driver == "GSM-7: 160 characters per segment"
