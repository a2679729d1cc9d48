"""The TikTok flow: creator info first, init, chunked upload, status polling with pauses."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_tiktok import TikTokChannel

import unipost
from unipost import Media, Post
from unipost.errors import (
    Ambiguous,
    AuthFailed,
    ContentRejected,
    Forbidden,
    Permanent,
    QuotaExhausted,
    RateLimited,
)
from unipost.plugins import default_host
from unipost.testing import ChannelContract, check, deliver

from .conftest import API, error, ok, validate

TOKEN = "act.tiktok-access-token-0123456789"
SETTINGS: dict[str, Any] = {"access_token": TOKEN, "privacy_level": "PUBLIC_TO_EVERYONE"}
PHOTO = Media.from_url("https://media.bakery.example/croissants.jpg", mime_type="image/jpeg")
CREATOR = f"{API}/v2/post/publish/creator_info/query/"
PHOTO_INIT = f"{API}/v2/post/publish/content/init/"
VIDEO_INIT = f"{API}/v2/post/publish/video/init/"
STATUS = f"{API}/v2/post/publish/status/fetch/"
CREATOR_INFO = {
    "creator_avatar_url": "https://p16.tiktokcdn.com/avatar.jpeg",
    "creator_username": "bakery",
    "creator_nickname": "The Bakery",
    "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
    "comment_disabled": False,
    "duet_disabled": False,
    "stitch_disabled": True,
    "max_video_post_duration_sec": 300,
}


def channel(**settings: Any) -> TikTokChannel:
    return TikTokChannel.from_settings("tiktok", SETTINGS | settings)


def arrange_photo(httpx_mock: HTTPXMock, *statuses: dict[str, Any]) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    httpx_mock.add_response(url=PHOTO_INIT, **ok({"publish_id": "p_pub_7291"}))
    for status in statuses:
        httpx_mock.add_response(url=STATUS, **ok(status))


async def no_wait(_seconds: float) -> None:
    return None


class TestTikTokContract(ChannelContract):
    channel_class = TikTokChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    sample_post: ClassVar[Post] = Post(
        text="We're open today 9-5! 20% off all pastries.", media=[PHOTO], id="contract-1"
    )
    error_body: ClassVar[Any] = {
        "data": {},
        "error": {"code": "internal_error", "message": "x", "log_id": "1"},
    }

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        arrange_photo(
            httpx_mock,
            {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7291234567890123456]},
        )

    def arrange_timeout(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
        httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=PHOTO_INIT)


def test_photo_post_polls_until_published(httpx_mock: HTTPXMock) -> None:
    arrange_photo(
        httpx_mock,
        {"status": "PROCESSING_DOWNLOAD", "downloaded_bytes": 1000},
        {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7291234567890123456]},
    )
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    post = Post(title="Croissants", text="Fresh every morning", media=[PHOTO], tags=["bakery"])
    receipt = deliver(channel(brand_organic_toggle=True), post, sleep=sleep)
    assert [validate(r) for r in httpx_mock.get_requests()] == [
        "creatorInfo",
        "photoInit",
        "status",
        "status",
    ]
    init = json.loads(httpx_mock.get_requests()[1].content)
    assert init == {
        "post_info": {
            "description": "Fresh every morning\n\n#bakery",
            "privacy_level": "PUBLIC_TO_EVERYONE",
            "disable_comment": False,
            "auto_add_music": True,
            "brand_content_toggle": False,
            "brand_organic_toggle": True,
            "title": "Croissants",
        },
        "source_info": {
            "source": "PULL_FROM_URL",
            "photo_cover_index": 0,
            "photo_images": ["https://media.bakery.example/croissants.jpg"],
        },
        "post_mode": "DIRECT_POST",
        "media_type": "PHOTO",
    }
    assert len(slept) == 2
    assert receipt.platform_id == "7291234567890123456"
    assert receipt.url == "https://www.tiktok.com/@bakery/photo/7291234567890123456"
    assert receipt.extra["publish_id"] == "p_pub_7291"


def test_a_private_post_has_no_id_yet_and_links_the_profile(httpx_mock: HTTPXMock) -> None:
    arrange_photo(httpx_mock, {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []})
    receipt = deliver(channel(privacy_level="SELF_ONLY"), Post(text="x", media=[PHOTO]))
    assert (receipt.platform_id, receipt.url) == ("p_pub_7291", "https://www.tiktok.com/@bakery")


def test_video_is_uploaded_in_chunks_with_content_range(httpx_mock: HTTPXMock) -> None:
    size = 21 * 1024 * 1024
    video = Media.from_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * (size - 12), filename="v.mp4")
    upload = "https://open-upload.tiktokapis.com/video/?upload_id=67890&upload_token=Xza123"
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    httpx_mock.add_response(url=VIDEO_INIT, **ok({"publish_id": "v_pub_1", "upload_url": upload}))
    httpx_mock.add_response(method="PUT", url=upload, status_code=206)
    httpx_mock.add_response(method="PUT", url=upload, status_code=201)
    httpx_mock.add_response(
        url=STATUS, **ok({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [1]})
    )
    receipt = deliver(channel(disable_duet=True), Post(text="Kneading #bread", media=[video]))
    requests = httpx_mock.get_requests()
    assert validate(requests[1]) == "videoInit"
    init = json.loads(requests[1].content)
    assert init["source_info"] == {
        "source": "FILE_UPLOAD",
        "video_size": size,
        "chunk_size": 10 * 1024 * 1024,
        "total_chunk_count": 2,
    }
    assert init["post_info"]["title"] == "Kneading #bread"
    assert init["post_info"]["disable_duet"] is True
    first, last = requests[2], requests[3]
    assert first.headers["Content-Range"] == f"bytes 0-{10 * 1024 * 1024 - 1}/{size}"
    assert last.headers["Content-Range"] == f"bytes {10 * 1024 * 1024}-{size - 1}/{size}"
    assert len(first.content) + len(last.content) == size
    assert first.headers["Content-Type"] == "video/mp4"
    assert receipt.url == "https://www.tiktok.com/@bakery/video/1"


def test_unaudited_app_error_says_what_to_do(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    httpx_mock.add_response(url=PHOTO_INIT, **error("unaudited"))
    with pytest.raises(Forbidden) as caught:
        deliver(channel(), Post(text="x", media=[PHOTO]))
    assert caught.value.platform_code == "unaudited_client_can_only_post_to_private_accounts"
    assert "SELF_ONLY" in caught.value.message
    assert "audit" in caught.value.message


def test_creator_info_200_with_a_cap_is_a_quota(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATOR, **error("too_many_posts_at_200"))
    with pytest.raises(QuotaExhausted) as caught:
        deliver(channel(), Post(text="x", media=[PHOTO]))
    assert caught.value.retry_after == 86400
    assert len(httpx_mock.get_requests()) == 1  # nothing was initialised


def test_a_privacy_level_the_creator_does_not_offer_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    with pytest.raises(Forbidden, match="FOLLOWER_OF_CREATOR is not offered"):
        deliver(channel(privacy_level="FOLLOWER_OF_CREATOR"), Post(text="x", media=[PHOTO]))


def test_failed_media_check_is_permanent(httpx_mock: HTTPXMock) -> None:
    arrange_photo(httpx_mock, {"status": "FAILED", "fail_reason": "picture_size_check_failed"})
    with pytest.raises(Permanent, match="picture_size_check_failed"):
        deliver(channel(), Post(text="x", media=[PHOTO]))


def test_unconfirmed_after_polling_is_ambiguous_never_resent(httpx_mock: HTTPXMock) -> None:
    from unipost_tiktok._channel import POLL_DELAYS

    arrange_photo(httpx_mock, *[{"status": "PROCESSING_DOWNLOAD"}] * len(POLL_DELAYS))
    with pytest.raises(Ambiguous) as caught:
        deliver(channel(), Post(text="x", media=[PHOTO]), timeout=3600)
    assert caught.value.detail == {"publish_id": "p_pub_7291"}
    assert len(httpx_mock.get_requests(url=PHOTO_INIT)) == 1


def test_a_status_hiccup_is_polled_again(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    httpx_mock.add_response(url=PHOTO_INIT, **ok({"publish_id": "p_pub_7291"}))
    httpx_mock.add_response(url=STATUS, **error("rate_limited"))
    httpx_mock.add_response(url=STATUS, **ok({"status": "PUBLISH_COMPLETE"}))
    receipt = deliver(channel(), Post(text="x", media=[PHOTO]))
    assert receipt.extra["moderation"] == "pending"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("expired_token", AuthFailed), ("rate_limited", RateLimited), ("invalid_param", Permanent)],
)
def test_error_bodies(httpx_mock: HTTPXMock, name: str, expected: type[Exception]) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    httpx_mock.add_response(url=PHOTO_INIT, **error(name))
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x", media=[PHOTO]))
    assert caught.value.request_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("post", "field"),
    [
        (Post(text="text only"), "tiktok.media"),
        (
            Post(
                text="x",
                media=[Media.from_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 32, filename="a.jpg")],
            ),
            "tiktok.media[0]",
        ),
        (Post(title="T" * 91, text="x", media=[PHOTO]), "tiktok.title"),
    ],
)
def test_what_tiktok_refuses_is_refused_before_sending(post: Post, field: str) -> None:
    with pytest.raises(ContentRejected) as caught:
        channel().prepare(post)
    assert caught.value.field == field


def test_check_lists_the_creator_options(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=CREATOR, **ok(CREATOR_INFO))
    assert check(channel(access_token_expires_at=4_000_000_000.0)).startswith(
        "@bakery: privacy options PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY; "
        "videos up to 300 s; access token expires in"
    )


class Vault:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    @unipost.hookimpl
    def unipost_store_credentials(self, values: Mapping[str, Any]) -> bool:
        self.kept.append(dict(values))
        return True


@pytest.fixture
def vault() -> Iterator[Vault]:
    store = Vault()
    default_host().register_plugin(store, "tiktok-test-vault")
    try:
        yield store
    finally:
        default_host()._pm.unregister(store)


def test_refresh_rotates_with_client_key(httpx_mock: HTTPXMock, vault: Vault) -> None:
    ch = channel(refresh_token="rft.1", client_key="awx123", client_secret="tt-secret-123")
    token_url = f"{API}/v2/oauth/token/"
    httpx_mock.add_response(url=CREATOR, **error("expired_token"))
    httpx_mock.add_response(
        url=token_url,
        json={
            "access_token": "act.2",
            "expires_in": 86400,
            "open_id": "afd97af1-b87b-48b9-ac98-410aghda5344",
            "refresh_expires_in": 31536000,
            "refresh_token": "rft.2",
            "scope": "user.info.basic,video.publish",
            "token_type": "Bearer",
        },
    )
    arrange_photo(httpx_mock, {"status": "PUBLISH_COMPLETE"})
    deliver(ch, Post(text="x", media=[PHOTO]))
    form = dict(httpx.QueryParams(httpx_mock.get_requests(url=token_url)[0].content.decode()))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "rft.1",
        "client_key": "awx123",
        "client_secret": "tt-secret-123",
    }
    assert [k["refresh_token"] for k in vault.kept] == ["rft.2"]
    httpx_mock.add_response(url=CREATOR, **error("expired_token"))
    httpx_mock.add_response(url=token_url, **error("refresh_refused"))
    with pytest.raises(AuthFailed, match="Refresh token is invalid or expired"):
        deliver(ch, Post(text="y", media=[PHOTO]))
    sent = [
        dict(httpx.QueryParams(r.content.decode()))["refresh_token"]
        for r in httpx_mock.get_requests(url=token_url)
    ]
    assert sent == ["rft.1", "rft.2"]
