"""The Reddit channel against pytest-httpx: OAuth, submit, 200-body errors, rate-limit headers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_reddit import RedditChannel

from unipost import Media, Post
from unipost.channel import Absent, Found, Unknown
from unipost.errors import (
    AuthFailed,
    ContentRejected,
    DuplicateSignal,
    Permanent,
    RateLimited,
)
from unipost.testing import ChannelContract, deliver, lookup, png

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"
SUBMIT_URL = "https://oauth.reddit.com/api/submit"
SECRET = "reddit-client-secret-123"
PASSWORD = "reddit-password-456"
SETTINGS = {
    "subreddit": "r/smallbusiness",
    "client_id": "p-jcoLKBynTLew",
    "client_secret": SECRET,
    "username": "bakery_owner",
    "password": PASSWORD,
}
DATA = json.loads((Path(__file__).parent / "data" / "reddit-responses.json").read_text())
TOKEN = {"access_token": "reddit-access-1", "token_type": "bearer", "expires_in": 86400}


def channel(**settings: Any) -> RedditChannel:
    return RedditChannel.from_settings("reddit", SETTINGS | settings)


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def token_ok(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=TOKEN_URL, json=TOKEN)


class TestRedditContract(ChannelContract):
    channel_class = RedditChannel
    settings = SETTINGS
    secrets = (SECRET, PASSWORD)
    error_body: ClassVar[Any] = None

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        # optional: after a failed first attempt the channel still holds its token
        httpx_mock.add_response(method="POST", url=TOKEN_URL, json=TOKEN, is_optional=True)
        httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["submitted"])

    def arrange_failure(
        self, httpx_mock: HTTPXMock, status: int, headers: dict[str, str], body: Any
    ) -> None:
        token_ok(httpx_mock)
        httpx_mock.add_response(method="POST", url=SUBMIT_URL, status_code=status, headers=headers)
        if status == 401:  # a 401 gets one fresh token and one more try
            token_ok(httpx_mock)
            httpx_mock.add_response(
                method="POST", url=SUBMIT_URL, status_code=status, headers=headers
            )


def test_self_post_with_script_app_oauth(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["submitted"])
    post = Post(title="We're open today 9-5", text="20% off **all** pastries.", id="p1")
    receipt = deliver(channel(), post)
    assert receipt.platform_id == "t3_1h5x9q2"
    assert receipt.url == DATA["submitted"]["json"]["data"]["url"]
    grant, submit = httpx_mock.get_requests()
    assert grant.headers["Authorization"].startswith("Basic ")
    assert form(grant) == {
        "grant_type": "password",
        "username": "bakery_owner",
        "password": PASSWORD,
        "scope": "submit identity",
    }
    assert submit.headers["Authorization"] == "bearer reddit-access-1"
    agent = "python:p-jcoLKBynTLew:unipost-0.1 (by /u/bakery_owner)"
    assert grant.headers["User-Agent"] == submit.headers["User-Agent"] == agent
    assert form(submit) == {
        "api_type": "json",
        "sr": "smallbusiness",
        "kind": "self",
        "title": "We're open today 9-5",
        "text": "20% off **all** pastries.",
        "sendreplies": "true",
        "nsfw": "false",
        "spoiler": "false",
    }


def test_link_post_refuses_resubmits_by_default(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["submitted"])
    deliver(channel(flair_id="abc-1"), Post(title="Our menu", link="https://bakery.example/menu"))
    sent = form(httpx_mock.get_requests(url=SUBMIT_URL)[0])
    assert sent["kind"] == "link"
    assert sent["url"] == "https://bakery.example/menu"
    assert sent["resubmit"] == "false"
    assert sent["flair_id"] == "abc-1"
    assert "text" not in sent


def test_the_token_is_reused_and_renewed_after_a_401(httpx_mock: HTTPXMock) -> None:
    ch = channel()
    token_ok(httpx_mock)
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["submitted"])
    httpx_mock.add_response(
        method="POST", url=SUBMIT_URL, status_code=401, json=DATA["unauthorized"]
    )
    httpx_mock.add_response(
        method="POST", url=TOKEN_URL, json=TOKEN | {"access_token": "reddit-access-2"}
    )
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["submitted"])
    deliver(ch, Post(title="One", text="a", id="one"))
    deliver(ch, Post(title="Two", text="b", id="two"))
    submits = httpx_mock.get_requests(url=SUBMIT_URL)
    assert [r.headers["Authorization"] for r in submits] == [
        "bearer reddit-access-1",
        "bearer reddit-access-1",
        "bearer reddit-access-2",
    ]
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 2


def test_a_wrong_password_is_a_200_invalid_grant(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=TOKEN_URL, json=DATA["invalid_grant"])
    with pytest.raises(AuthFailed) as caught:
        deliver(channel(), Post(title="x", text="y"))
    assert caught.value.platform_code == "invalid_grant"


@pytest.mark.parametrize(
    ("name", "expected", "code"),
    [
        ("no_subreddit", Permanent, "SUBREDDIT_NOEXIST"),
        ("no_links", Permanent, "NO_LINKS"),
        ("already_sub", DuplicateSignal, "ALREADY_SUB"),
    ],
)
def test_refusals_inside_a_200_body(
    httpx_mock: HTTPXMock, name: str, expected: type[Exception], code: str
) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA[name])
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(title="x", link="https://bakery.example/"))
    assert getattr(caught.value, "platform_code", None) == code


def test_ratelimit_in_the_body_waits_the_minutes_it_names(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(method="POST", url=SUBMIT_URL, json=DATA["ratelimit"])
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(title="x", text="y"))
    assert caught.value.retry_after == 540.0


def test_a_429_waits_for_x_ratelimit_reset(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    headers = {
        "X-Ratelimit-Used": "100",
        "X-Ratelimit-Remaining": "0.0",
        "X-Ratelimit-Reset": "37",
    }
    httpx_mock.add_response(
        method="POST",
        url=SUBMIT_URL,
        status_code=429,
        headers=headers,
        json=DATA["too_many_requests"],
    )
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(title="x", text="y"))
    assert caught.value.retry_after == 37.0


def test_remaining_requests_are_kept_on_the_receipt(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(
        method="POST",
        url=SUBMIT_URL,
        headers={"X-Ratelimit-Remaining": "598.0"},
        json=DATA["submitted"],
    )
    assert deliver(channel(), Post(title="x", text="y")).extra["ratelimit_remaining"] == "598.0"


def test_media_is_refused_with_the_fix() -> None:
    media = Media.from_bytes(png(), filename="a.png")
    with pytest.raises(ContentRejected, match="variant"):
        channel().prepare(Post(title="T", text="t", media=[media]))


def test_titles_are_cut_to_300_characters() -> None:
    prepared = channel().prepare(Post(title="word " * 100, text="t"))
    assert len(prepared.payload["title"]) <= 300
    assert any(c.kind == "title_truncated" for c in prepared.changes)


def test_a_link_post_needs_a_link() -> None:
    with pytest.raises(ContentRejected, match="link"):
        channel(kind="link").prepare(Post(title="T", text="t"))


def test_a_bad_subreddit_name_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="subreddit"):
        channel(subreddit="not a subreddit!")


def submitted(*items: dict[str, Any], after: str | None = None) -> dict[str, Any]:
    """A ``/user/{name}/submitted`` listing (reddit.com/dev/api#GET_user_{username}_submitted)."""
    return {
        "kind": "Listing",
        "data": {"after": after, "children": [{"kind": "t3", "data": item} for item in items]},
    }


def item(title: str, created: float, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"t3_{int(created)}",
        "id": str(int(created)),
        "subreddit": "smallbusiness",
        "title": title,
        "is_self": True,
        "created_utc": created,
        "permalink": f"/r/smallbusiness/comments/{int(created)}/x/",
    } | extra


FIRST_ATTEMPT = 1_796_300_000.0
LISTING = re.compile(r"https://oauth\.reddit\.com/user/bakery_owner/submitted\?.*")


def test_lookup_finds_the_submission_made_after_the_first_attempt(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(
        url=LISTING,
        json=submitted(
            item("Other post", FIRST_ATTEMPT + 30),
            item("Open today", FIRST_ATTEMPT + 5),
            item("Open today", FIRST_ATTEMPT - 600),
        ),
    )
    result = lookup(channel(), Post(title="Open today", text="x"), first_attempt_at=FIRST_ATTEMPT)
    assert isinstance(result, Found)
    assert result.receipt.platform_id == f"t3_{int(FIRST_ATTEMPT + 5)}"
    request = httpx_mock.get_requests(url=LISTING)[0]
    assert request.url.params["sort"] == "new"


def test_lookup_ignores_an_older_post_with_the_same_title(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    httpx_mock.add_response(url=LISTING, json=submitted(item("Open today", FIRST_ATTEMPT - 1)))
    result = lookup(channel(), Post(title="Open today", text="x"), first_attempt_at=FIRST_ATTEMPT)
    assert isinstance(result, Absent)


def test_lookup_pages_back_and_gives_up_as_unknown(httpx_mock: HTTPXMock) -> None:
    token_ok(httpx_mock)
    for page in range(3):
        httpx_mock.add_response(
            url=LISTING,
            json=submitted(item(f"Busy {page}", FIRST_ATTEMPT + 100 - page), after=f"t3_p{page}"),
        )
    result = lookup(channel(), Post(title="Open today", text="x"), first_attempt_at=FIRST_ATTEMPT)
    assert isinstance(result, Unknown)
    assert [r.url.params.get("after") for r in httpx_mock.get_requests(url=LISTING)] == [
        None,
        "t3_p0",
        "t3_p1",
    ]
