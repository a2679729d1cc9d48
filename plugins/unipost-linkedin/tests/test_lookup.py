"""Reconciliation for LinkedIn: the author's posts back to the first attempt, same commentary."""

from __future__ import annotations

from typing import Any

from pytest_httpx import HTTPXMock
from unipost_linkedin import LinkedInChannel

from unipost import Post
from unipost.channel import Absent, Found, Unknown
from unipost.testing import lookup

from .conftest import API, ORG, SETTINGS

FIRST = 1_800_000_000.0
LIST = f"{API}/rest/posts?author=urn%3Ali%3Aorganization%3A5515715&q=author&count=50&sortBy=CREATED"


def element(urn: str, commentary: str, created: float) -> dict[str, Any]:
    return {
        "id": urn,
        "author": ORG,
        "commentary": commentary,
        "createdAt": int(created * 1000),
        "lifecycleState": "PUBLISHED",
        "visibility": "PUBLIC",
    }


def channel() -> LinkedInChannel:
    return LinkedInChannel.from_settings("linkedin", SETTINGS)


def test_found_since_the_first_attempt(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{LIST}&start=0",
        match_headers={"X-RestLi-Method": "FINDER", "LinkedIn-Version": "202611"},
        json={
            "elements": [
                element("urn:li:share:2", "Other", FIRST + 60),
                element("urn:li:share:1", "Fresh \\(bread\\)", FIRST + 2),
            ],
            "paging": {"start": 0, "count": 50, "links": []},
        },
    )
    result = lookup(channel(), Post(text="Fresh (bread)"), first_attempt_at=FIRST)
    assert isinstance(result, Found)
    assert result.receipt.url == "https://www.linkedin.com/feed/update/urn:li:share:1"


def test_an_older_identical_post_is_not_ours(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{LIST}&start=0",
        json={"elements": [element("urn:li:share:1", "Fresh bread", FIRST - 10)]},
    )
    assert lookup(channel(), Post(text="Fresh bread"), first_attempt_at=FIRST) == Absent()


def test_unknown_without_the_first_attempt() -> None:
    assert isinstance(lookup(channel(), Post(text="x"), first_attempt_at=0.0), Unknown)
