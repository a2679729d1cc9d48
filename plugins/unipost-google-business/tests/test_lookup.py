"""Reconciliation for local posts: created since the first attempt, same summary; paging to the end."""

from __future__ import annotations

from pytest_httpx import HTTPXMock
from unipost_google_business import GoogleBusinessChannel

from unipost import Post
from unipost.channel import Absent, Found, Unknown
from unipost.testing import lookup

from .conftest import API, PARENT, validate

LIST = f"{API}/v4/{PARENT}/localPosts?pageSize=100"
FIRST = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def channel() -> GoogleBusinessChannel:
    return GoogleBusinessChannel.from_settings(
        "google",
        {"account_id": "1234567890", "location_id": "9876543210", "access_token": "ya29.t"},
    )


def local(n: int, summary: str, created: str) -> dict[str, str]:
    return {
        "name": f"{PARENT}/localPosts/{n}",
        "summary": summary,
        "createTime": created,
        "state": "LIVE",
        "searchUrl": f"https://local.google.com/place?lpsid={n}",
        "topicType": "STANDARD",
    }


def test_found_on_the_second_page(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=LIST,
        json={
            "localPosts": [local(1, "Fresh bread", "2027-01-14T08:00:00Z")],
            "nextPageToken": "p2",
        },
    )
    httpx_mock.add_response(
        url=f"{LIST}&pageToken=p2",
        json={"localPosts": [local(2, "Fresh bread", "2027-01-15T08:00:03.5Z")]},
    )
    result = lookup(channel(), Post(text="Fresh bread"), first_attempt_at=FIRST)
    assert isinstance(result, Found)
    assert result.receipt.platform_id == f"{PARENT}/localPosts/2"
    assert result.receipt.url == "https://local.google.com/place?lpsid=2"
    assert {validate(r) for r in httpx_mock.get_requests()} == {
        "mybusiness.accounts.locations.localPosts.list"
    }


def test_only_older_posts_is_absent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=LIST, json={"localPosts": [local(1, "Fresh bread", "2027-01-14T08:00:00Z")]}
    )
    assert lookup(channel(), Post(text="Fresh bread"), first_attempt_at=FIRST) == Absent()


def test_unknown_when_it_cannot_read_everything(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=LIST, json={"localPosts": [], "nextPageToken": "more"})
    httpx_mock.add_response(
        url=f"{LIST}&pageToken=more",
        json={"localPosts": [], "nextPageToken": "more"},
        is_reusable=True,
    )
    assert isinstance(lookup(channel(), Post(text="Fresh bread"), first_attempt_at=FIRST), Unknown)
