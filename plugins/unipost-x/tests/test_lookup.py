"""Reconciliation: only a post created at or after the first attempt counts, and a lookup
that could not read back that far is "unknown", never "absent"."""

from __future__ import annotations

from typing import Any

from pytest_httpx import HTTPXMock
from unipost_x import XChannel

from unipost import Post
from unipost.channel import Absent, Found, Unknown
from unipost.testing import lookup

from .conftest import API, SPEC, TOKEN

FIRST = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TIMELINE = f"{API}/2/users/2244994945/tweets"
QUERY = "start_time=2027-01-15T08%3A00%3A00Z&max_results=100&post.fields=created_at"


def me(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/2/users/me",
        json={"data": {"id": "2244994945", "username": "bakery", "name": "B"}},
    )


def page(*tweets: dict[str, Any], next_token: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if next_token:
        meta["next_token"] = next_token
    return {"data": list(tweets), "meta": meta}


def test_finds_the_post_made_since_the_first_attempt(httpx_mock: HTTPXMock) -> None:
    me(httpx_mock)
    httpx_mock.add_response(
        url=f"{TIMELINE}?{QUERY}",
        json=page(
            {"id": "9", "text": "Other news", "created_at": "2027-01-15T08:00:09.000Z"},
            next_token="7140dibdnow9c7btw3z2vwioavpvutgzrzm9icis4ndix",
        ),
    )
    httpx_mock.add_response(
        url=f"{TIMELINE}?{QUERY}&pagination_token=7140dibdnow9c7btw3z2vwioavpvutgzrzm9icis4ndix",
        json=page(
            {
                "id": "8",
                "text": "Fresh bread https://t.co/abc123",
                "created_at": "2027-01-15T08:00:01.000Z",
            }
        ),
    )
    result = lookup(
        XChannel(access_token=TOKEN),
        Post(text="Fresh bread", link="https://bakery.example"),
        first_attempt_at=FIRST,
    )
    assert result == Found(result.receipt)  # type: ignore[union-attr]
    assert result.receipt.platform_id == "8"  # type: ignore[union-attr]
    assert [SPEC.validate(r) for r in httpx_mock.get_requests()] == [
        "getUsersMe",
        "getUsersPosts",
        "getUsersPosts",
    ]


def test_an_older_post_with_the_same_text_is_not_ours(httpx_mock: HTTPXMock) -> None:
    me(httpx_mock)
    httpx_mock.add_response(
        url=f"{TIMELINE}?{QUERY}",
        json=page({"id": "5", "text": "Fresh bread", "created_at": "2027-01-15T07:59:59.000Z"}),
    )
    assert (
        lookup(XChannel(access_token=TOKEN), Post(text="Fresh bread"), first_attempt_at=FIRST)
        == Absent()
    )


def test_without_the_first_attempt_time_it_is_unknown() -> None:
    result = lookup(XChannel(access_token=TOKEN), Post(text="Fresh bread"), first_attempt_at=0.0)
    assert isinstance(result, Unknown)


def test_too_many_pages_is_unknown(httpx_mock: HTTPXMock) -> None:
    me(httpx_mock)
    httpx_mock.add_response(
        url=f"{TIMELINE}?{QUERY}",
        json=page(
            {"id": "1", "text": "x", "created_at": "2027-01-15T09:00:00.000Z"}, next_token="t"
        ),
    )
    httpx_mock.add_response(
        url=f"{TIMELINE}?{QUERY}&pagination_token=t",
        json=page(
            {"id": "2", "text": "y", "created_at": "2027-01-15T09:00:00.000Z"}, next_token="t"
        ),
        is_reusable=True,
    )
    result = lookup(XChannel(access_token=TOKEN), Post(text="Fresh bread"), first_attempt_at=FIRST)
    assert isinstance(result, Unknown)
