"""The X flow against pytest-httpx, every request checked against X's OpenAPI spec."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_oauth.testing import form_fields
from unipost_x import XChannel
from unipost_x._media import CHUNK_BYTES

from unipost import Media, Post
from unipost.errors import DuplicateSignal, Permanent, QuotaExhausted, RateLimited
from unipost.testing import ChannelContract, check, deliver, png

from .conftest import API, ERRORS, SETTINGS, SPEC, TOKEN, error


def created(tweet_id: str, text: str = "hi") -> dict[str, Any]:
    return {"data": {"id": tweet_id, "text": text, "edit_history_post_ids": [tweet_id]}}


def validated(httpx_mock: HTTPXMock) -> list[str]:
    """Every request sent, checked against the spec; their operation ids."""
    return [SPEC.validate(request) for request in httpx_mock.get_requests()]


class TestXContract(ChannelContract):
    channel_class = XChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = ERRORS["unauthorized"]["body"]

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", json=created("1850"))


def test_text_post_is_valid_and_has_a_url(httpx_mock: HTTPXMock, channel: XChannel) -> None:
    httpx_mock.add_response(
        method="POST", url=f"{API}/2/tweets", status_code=201, json=created("1")
    )
    receipt = deliver(channel, Post(text="Fresh bread", link="https://bakery.example/b"))
    assert validated(httpx_mock) == ["createPosts"]
    sent = httpx_mock.get_request()
    assert sent is not None
    assert json.loads(sent.content) == {"text": "Fresh bread\n\nhttps://bakery.example/b"}
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (receipt.platform_id, receipt.url) == ("1", "https://x.com/bakery/status/1")


def test_long_text_is_a_reply_thread_within_the_weighted_limit(httpx_mock: HTTPXMock) -> None:
    for tweet_id in ("10", "11", "12"):
        httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", json=created(tweet_id))
    channel = XChannel(access_token=TOKEN, reply_settings="following")
    text = " ".join(f"日本語の文 {n} についてのパン屋さん。" for n in range(20))
    prepared = channel.prepare(Post(text=text))
    assert len(prepared.parts) == 3
    receipt = deliver(channel, prepared)
    bodies = [json.loads(r.content) for r in httpx_mock.get_requests()]
    assert [b.get("reply") for b in bodies] == [
        None,
        {"in_reply_to_tweet_id": "10"},
        {"in_reply_to_tweet_id": "11"},
    ]
    assert all(b["reply_settings"] == "following" for b in bodies)
    assert validated(httpx_mock) == ["createPosts"] * 3
    assert receipt.extra["thread"] == ["10", "11", "12"]
    assert receipt.url == "https://x.com/i/status/10"


def test_images_use_the_simple_upload_and_get_alt_text(
    httpx_mock: HTTPXMock, channel: XChannel
) -> None:
    for media_id in ("701", "702"):
        httpx_mock.add_response(
            method="POST",
            url=f"{API}/2/media/upload",
            json={
                "data": {"id": media_id, "media_key": f"3_{media_id}", "expires_after_secs": 86400}
            },
        )
        httpx_mock.add_response(
            method="POST", url=f"{API}/2/media/metadata", json={"data": {"id": media_id}}
        )
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", json=created("5"))
    media = [
        Media.from_bytes(png(), filename="a.png", alt="A tray of croissants"),
        Media.from_bytes(png(), filename="b.png", alt="Sourdough loaves"),
    ]
    deliver(channel, Post(text="Look", media=media))
    assert validated(httpx_mock) == [
        "mediaUpload",
        "createMediaMetadata",
        "mediaUpload",
        "createMediaMetadata",
        "createPosts",
    ]
    upload, alt = httpx_mock.get_requests()[:2]
    assert form_fields(upload) == {"media_category": "tweet_image", "media": png()}
    assert json.loads(alt.content) == {
        "id": "701",
        "metadata": {"alt_text": {"text": "A tray of croissants"}},
    }
    post = json.loads(httpx_mock.get_requests()[-1].content)
    assert post["media"] == {"media_ids": ["701", "702"]}


def test_video_is_chunked_and_polled_until_processed(
    httpx_mock: HTTPXMock, channel: XChannel
) -> None:
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (CHUNK_BYTES + 100)
    media = Media.from_bytes(video, filename="clip.mp4", alt="Kneading dough")
    assert media.mime_type == "video/mp4"
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/media/upload/initialize",
        json={"data": {"id": "900", "media_key": "7_900", "expires_after_secs": 86400}},
    )
    for _ in range(2):
        httpx_mock.add_response(method="POST", url=f"{API}/2/media/upload/900/append", json={})
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/media/upload/900/finalize",
        json={
            "data": {"id": "900", "processing_info": {"state": "pending", "check_after_secs": 3}}
        },
    )
    status_url = f"{API}/2/media/upload?media_id=900&command=STATUS"
    httpx_mock.add_response(
        method="GET",
        url=status_url,
        json={
            "data": {
                "id": "900",
                "processing_info": {
                    "state": "in_progress",
                    "check_after_secs": 5,
                    "progress_percent": 40,
                },
            }
        },
    )
    httpx_mock.add_response(
        method="GET",
        url=status_url,
        json={
            "data": {
                "id": "900",
                "processing_info": {"state": "succeeded", "progress_percent": 100},
            }
        },
    )
    httpx_mock.add_response(method="POST", url=f"{API}/2/media/metadata", json={})
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", json=created("6"))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    deliver(channel, Post(text="Watch", media=[media]), sleep=sleep)
    assert validated(httpx_mock) == [
        "initializeMediaUpload",
        "appendMediaUpload",
        "appendMediaUpload",
        "finalizeMediaUpload",
        "getMediaUploadStatus",
        "getMediaUploadStatus",
        "createMediaMetadata",
        "createPosts",
    ]
    init, first, second = httpx_mock.get_requests()[:3]
    assert json.loads(init.content) == {
        "media_type": "video/mp4",
        "total_bytes": len(video),
        "media_category": "tweet_video",
    }
    assert form_fields(first)["segment_index"] == "0"
    assert form_fields(second)["segment_index"] == "1"
    assert len(form_fields(first)["media"]) + len(form_fields(second)["media"]) == len(video)
    assert slept == [3.0, 5.0]


def test_failed_processing_is_permanent(httpx_mock: HTTPXMock, channel: XChannel) -> None:
    httpx_mock.add_response(url=f"{API}/2/media/upload/initialize", json={"data": {"id": "901"}})
    httpx_mock.add_response(url=f"{API}/2/media/upload/901/append", json={})
    httpx_mock.add_response(
        url=f"{API}/2/media/upload/901/finalize",
        json={
            "data": {
                "id": "901",
                "processing_info": {"state": "failed", "error": {"message": "InvalidMedia"}},
            }
        },
    )
    gif = b"GIF89a" + b"\x00" * 64
    with pytest.raises(Permanent, match="InvalidMedia"):
        deliver(channel, Post(text="gif", media=[Media.from_bytes(gif, filename="a.gif")]))


def test_x_refuses_mixed_media_before_sending(channel: XChannel) -> None:
    gif = Media.from_bytes(b"GIF89a" + b"\x00" * 64, filename="a.gif")
    image = Media.from_bytes(png(), filename="a.png")
    with pytest.raises(Exception, match="one GIF, or one video"):
        channel.prepare(Post(text="mixed", media=[gif, image]))


def test_duplicate_content_is_a_duplicate_signal(httpx_mock: HTTPXMock, channel: XChannel) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("duplicate"))
    with pytest.raises(DuplicateSignal) as caught:
        deliver(channel, Post(text="Fresh bread"))
    assert caught.value.platform_code == "duplicate-content"
    assert "duplicate content" in caught.value.message


def test_legacy_rate_limit_body_waits_for_the_reset(channel: XChannel) -> None:
    now = 1_800_000_000.0
    request = httpx.Request("POST", f"{API}/2/tweets")
    response = httpx.Response(
        request=request,
        headers={
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(int(now) + 420),
        },
        **error("rate_limited"),
    )
    result = channel.classify(response, now=now)
    assert isinstance(result, RateLimited)
    assert result.retry_after == pytest.approx(420)
    assert "Rate limit exceeded (code 88)" in result.message
    past = httpx.Response(
        request=request,
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(now) - 5)},
        **error("rate_limited"),
    )
    stale = channel.classify(past, now=now)
    assert isinstance(stale, RateLimited)
    assert stale.retry_after is None  # a reset in the past is unknown, never 0


def test_24_hour_cap_and_usage_cap_are_quotas(channel: XChannel) -> None:
    now = 1_800_000_000.0
    request = httpx.Request("POST", f"{API}/2/tweets")
    daily = httpx.Response(
        request=request,
        headers={
            "x-user-limit-24hour-remaining": "0",
            "x-user-limit-24hour-reset": str(int(now) + 3600),
        },
        **error("rate_limited"),
    )
    result = channel.classify(daily, now=now)
    assert isinstance(result, QuotaExhausted)
    assert result.retry_after == pytest.approx(3600)
    capped = channel.classify(httpx.Response(request=request, **error("usage_capped")), now=now)
    assert isinstance(capped, QuotaExhausted)


def test_validation_error_is_permanent_with_detail(
    httpx_mock: HTTPXMock, channel: XChannel
) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("invalid_request"))
    with pytest.raises(Permanent, match="parameters to your request was invalid"):
        deliver(channel, Post(text="x"))


def test_oauth1_requests_are_signed_and_still_valid(httpx_mock: HTTPXMock) -> None:
    channel = XChannel.from_settings(
        "x",
        {
            "api_key": "consumer-key",
            "api_key_secret": "consumer-secret-123",
            "access_token": "user-token-123",
            "access_token_secret": "user-token-secret-123",
        },
    )
    httpx_mock.add_response(method="POST", url=f"{API}/2/media/upload", json={"data": {"id": "77"}})
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", json=created("8"))
    deliver(channel, Post(text="signed", media=[Media.from_bytes(png(), filename="a.png")]))
    assert validated(httpx_mock) == ["mediaUpload", "createPosts"]
    for request in httpx_mock.get_requests():
        header = request.headers["Authorization"]
        assert header.startswith("OAuth ")
        assert 'oauth_consumer_key="consumer-key"' in header
        assert 'oauth_token="user-token-123"' in header
        assert "oauth_signature=" in header


def test_half_an_oauth1_configuration_is_refused() -> None:
    with pytest.raises(Exception, match=r"OAuth 1\.0a needs api_key"):
        XChannel.from_settings("x", {"access_token": "t", "api_key": "k"})


def test_check_names_the_account_and_the_expiry(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/2/users/me",
        json={"data": {"id": "2244994945", "username": "bakery", "name": "B"}},
    )
    channel = XChannel(access_token=TOKEN, access_token_expires_at=4_000_000_000.0)
    summary = check(channel)
    assert summary.startswith(
        "@bakery (id 2244994945), OAuth 2.0 user context; access token expires in"
    )
    assert validated(httpx_mock) == ["getUsersMe"]
