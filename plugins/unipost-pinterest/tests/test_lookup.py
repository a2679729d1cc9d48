"""Reconciliation for pins: the board's pins since the first attempt with the same fields."""

from __future__ import annotations

from pytest_httpx import HTTPXMock
from unipost_pinterest import PinterestChannel

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.testing import lookup, png

from .conftest import API

FIRST = 1_800_000_000.0  # 2027-01-15T08:00:00Z
PINS = f"{API}/boards/999658517227244888/pins?page_size=100"
POST = Post(
    title="Croissants",
    text="Fresh",
    link="https://bakery.example",
    media=[Media.from_bytes(png(), filename="a.png")],
)


def channel() -> PinterestChannel:
    return PinterestChannel.from_settings(
        "pinterest", {"access_token": "pina_t", "board_id": "999658517227244888"}
    )


def pin(n: int, created: str, title: str = "Croissants") -> dict[str, str]:
    return {
        "id": str(n),
        "title": title,
        "description": "Fresh",
        "link": "https://bakery.example",
        "created_at": created,
    }


def test_found_since_the_first_attempt(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=PINS,
        json={
            "items": [pin(2, "2027-01-15T08:00:05"), pin(1, "2027-01-14T08:00:00")],
            "bookmark": None,
        },
    )
    result = lookup(channel(), POST, first_attempt_at=FIRST)
    assert isinstance(result, Found)
    assert result.receipt.platform_id == "2"


def test_an_older_pin_is_not_ours(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=PINS, json={"items": [pin(1, "2027-01-15T07:59:00")], "bookmark": "next"}
    )
    assert lookup(channel(), POST, first_attempt_at=FIRST) == Absent()
