"""The Mastodon flow against pytest-httpx: media processing, threads, limits, errors."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_mastodon import MastodonChannel

from unipost import Media, Post
from unipost.errors import AuthFailed, ConfigurationError, Permanent, RateLimited
from unipost.testing import ChannelContract, check, deliver, png

BASE = "https://social.example"
TOKEN = "mastodon-secret-token-123"
KEY = "up1-testkey0000000000000000000000000"
SETTINGS = {"instance": BASE, "token": TOKEN}


def instance(max_characters: int = 500, max_media: int = 4, url: int = 23) -> dict[str, Any]:
    return {
        "domain": "social.example",
        "version": "4.3.2",
        "configuration": {
            "statuses": {
                "max_characters": max_characters,
                "max_media_attachments": max_media,
                "characters_reserved_per_url": url,
            }
        },
    }


def status(status_id: str) -> dict[str, Any]:
    return {
        "id": status_id,
        "url": f"{BASE}/@alice/{status_id}",
        "uri": f"{BASE}/users/alice/statuses/{status_id}",
    }


def channel(**settings: Any) -> MastodonChannel:
    return MastodonChannel.from_settings("mastodon", SETTINGS | settings)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


class TestMastodonContract(ChannelContract):
    channel_class = MastodonChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {"error": "Something went wrong"}

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
        httpx_mock.add_response(method="POST", url=f"{BASE}/api/v1/statuses", json=status("109"))


def test_text_status_carries_settings_and_idempotency_key(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/v1/statuses", json=status("1"))
    post = Post(text="Fresh bread", link="https://bakery.example/offer", language="de", id="p")
    ch = channel(visibility="unlisted", spoiler_text="food", language="en")
    receipt = deliver(ch, post, delivery_key=KEY)
    assert receipt.platform_id == "1"
    assert receipt.url == f"{BASE}/@alice/1"
    sent = httpx_mock.get_requests(method="POST")[0]
    assert sent.headers["Idempotency-Key"] == KEY
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body(sent) == {
        "status": "Fresh bread\n\nhttps://bakery.example/offer",
        "visibility": "unlisted",
        "language": "de",
        "spoiler_text": "food",
        "sensitive": True,
    }


def test_media_processing_is_polled_with_pauses(httpx_mock: HTTPXMock) -> None:
    """202 from /api/v2/media: poll GET /api/v1/media/:id (206, then 200 with a url)."""
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/api/v2/media", status_code=202, json={"id": "m1", "url": None}
    )
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/api/v1/media/m1", status_code=206, json={"id": "m1", "url": None}
    )
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/api/v1/media/m1", json={"id": "m1", "url": f"{BASE}/m1.png"}
    )
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/v1/statuses", json=status("2"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    media = Media.from_bytes(png(), filename="bread.png", alt="A loaf", focus=(0.5, -0.25))
    receipt = deliver(channel(), Post(text="Look", media=[media]), sleep=sleep)
    assert receipt.platform_id == "2"
    assert len(slept) == 2
    assert all(s > 0 for s in slept)
    upload = httpx_mock.get_requests(method="POST", url=f"{BASE}/api/v2/media")[0]
    assert b'name="description"\r\n\r\nA loaf' in upload.content
    assert b'name="focus"\r\n\r\n0.5,-0.25' in upload.content
    assert b'filename="bread.png"' in upload.content
    assert body(httpx_mock.get_requests(method="POST", url=f"{BASE}/api/v1/statuses")[0])[
        "media_ids"
    ] == ["m1"]


def test_long_text_becomes_a_reply_thread(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    for status_id in ("10", "11", "12"):
        httpx_mock.add_response(
            method="POST", url=f"{BASE}/api/v1/statuses", json=status(status_id)
        )
    text = " ".join(f"Sentence number {n} about our bakery." for n in range(30))
    ch = channel()
    prepared = ch.prepare(Post(text=text))
    assert len(prepared.parts) == 3
    assert any(c.kind == "thread" for c in prepared.changes)
    receipt = deliver(ch, prepared, delivery_key=KEY)
    sent = httpx_mock.get_requests(method="POST")
    assert [r.headers["Idempotency-Key"] for r in sent] == [KEY, f"{KEY}.1", f"{KEY}.2"]
    assert [body(r).get("in_reply_to_id") for r in sent] == [None, "10", "11"]
    assert receipt.platform_id == "10"
    assert receipt.extra["thread"] == ["10", "11", "12"]


def test_validation_error_is_permanent_with_the_message(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/statuses",
        status_code=422,
        json={"error": "Validation failed: Text character limit of 500 exceeded"},
    )
    with pytest.raises(Permanent) as caught:
        deliver(channel(), Post(text="hello"))
    assert caught.value.status == 422
    assert "Text character limit of 500 exceeded" in caught.value.message


def test_rate_limit_waits_until_the_iso_reset(httpx_mock: HTTPXMock) -> None:
    reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/statuses",
        status_code=429,
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(),
        },
        json={"error": "Too many requests"},
    )
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(text="hello"))
    assert caught.value.retry_after == pytest.approx(90, abs=5)


def test_reset_parsing_handles_microseconds_and_z() -> None:
    response = httpx.Response(
        429,
        headers={"X-RateLimit-Reset": "2026-03-01T12:00:30.123456Z"},
        request=httpx.Request("POST", f"{BASE}/api/v1/statuses"),
    )
    now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()
    error = channel().classify(response, now=now)
    assert isinstance(error, RateLimited)
    assert error.retry_after == pytest.approx(30.123456)


def test_a_reset_in_the_past_is_unknown_not_zero() -> None:
    """Every recorded real 429 had its reset in the past: 0 s would make a tight loop (#14.1)."""
    response = httpx.Response(
        429,
        headers={"X-RateLimit-Reset": "2026-03-01T11:59:00Z"},
        request=httpx.Request("POST", f"{BASE}/api/v1/statuses"),
    )
    now = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC).timestamp()
    error = channel().classify(response, now=now)
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_bad_token_is_auth_failed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/statuses",
        status_code=401,
        json={"error": "The access token is invalid"},
    )
    with pytest.raises(AuthFailed) as caught:
        deliver(channel(), Post(text="hello"))
    assert "access token is invalid" in caught.value.message


def test_instance_limit_below_settings_fails_before_posting(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance(max_characters=100))
    with pytest.raises(Permanent) as caught:
        deliver(channel(), Post(text="x" * 300))
    assert "set max_characters = 100" in caught.value.message
    assert not httpx_mock.get_requests(method="POST")


def test_larger_instance_limit_is_used_by_prepare() -> None:
    ch = channel(max_characters=5000)
    assert ch.capabilities.text_limit == 5000
    assert MastodonChannel.capabilities.text_limit == 500
    assert len(ch.prepare(Post(text="word " * 900)).parts) == 1


def test_content_warning_counts_against_the_limit() -> None:
    ch = channel(spoiler_text="Long warning text")
    assert ch.capabilities.text_limit == 500 - len("Long warning text")


def test_servers_without_v2_instance_still_post(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v2/instance", status_code=404, text="<html>not found</html>"
    )
    # Mastodon 3.x: v1 only (its ``max_toot_chars`` era had no configuration block).
    httpx_mock.add_response(url=f"{BASE}/api/v1/instance", json={"version": "3.3.0"})
    httpx_mock.add_response(method="POST", url=f"{BASE}/api/v1/statuses", json=status("3"))
    assert deliver(channel(), Post(text="hello")).platform_id == "3"


def test_instance_limits_are_fetched_once_per_channel(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance())
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/api/v1/statuses", json=status("4"), is_reusable=True
    )
    ch = channel()
    deliver(ch, Post(text="one"))
    deliver(ch, Post(text="two"))
    assert len(httpx_mock.get_requests(url=f"{BASE}/api/v2/instance")) == 1


def test_check_reports_account_and_instance_limits(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/accounts/verify_credentials", json={"acct": "alice"}
    )
    httpx_mock.add_response(url=f"{BASE}/api/v2/instance", json=instance(max_characters=1000))
    summary = check(channel())
    assert "@alice on social.example" in summary
    assert "1000 characters" in summary
    assert "set max_characters = 1000" in summary


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        channel(visibility="everyone")
    with pytest.raises(ConfigurationError):
        MastodonChannel.from_settings(
            "m", {"instance": "https://x.example", "token": "t" * 8, "colour": "red"}
        )
    assert channel(instance="social.example/").instance == "https://social.example"
    assert channel().failure_domain == "social.example"
