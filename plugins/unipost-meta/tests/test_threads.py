"""Threads channel: text, image, carousel containers and the 500-unit limit."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from unipost_meta import ThreadsChannel

from unipost import Media, Post, errors, text
from unipost.testing import ChannelContract, check, deliver

from .conftest import Graph

TOKEN = "THAAthreadstoken123"
ROOT = "https://graph.threads.net/v1.0"
GRAPH = Graph(ROOT)
url = GRAPH.url


def channel(**settings: Any) -> ThreadsChannel:
    return ThreadsChannel.from_settings("threads", {"token": TOKEN, **settings})


def add_publish(httpx_mock: Any, media_id: str = "3180001") -> None:
    httpx_mock.add_response(method="POST", url=url("me/threads_publish"), json={"id": media_id})
    httpx_mock.add_response(
        method="GET",
        url=url(media_id),
        json={"permalink": "https://www.threads.net/@bakery/post/AbC"},
    )


class TestThreadsContract(ChannelContract):
    channel_class = ThreadsChannel
    settings: ClassVar[dict[str, Any]] = {"token": TOKEN}
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "error": {"message": "test", "type": "THApiException", "fbtrace_id": "T1"}
    }

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
        add_publish(httpx_mock)


def test_text_post(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
    add_publish(httpx_mock)
    receipt = deliver(channel(), Post(text="Open today", link="https://bakery.example"))
    assert receipt.platform_id == "3180001"
    assert receipt.url == "https://www.threads.net/@bakery/post/AbC"
    create, publish, _ = httpx_mock.get_requests()
    assert params(create)[0] == {
        "media_type": "TEXT",
        "text": "Open today\n\nhttps://bakery.example",
    }
    assert params(publish)[0] == {"creation_id": "3170001"}


def test_image_post_waits_for_the_container(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
    httpx_mock.add_response(method="GET", url=url("3170001"), json={"status": "IN_PROGRESS"})
    httpx_mock.add_response(method="GET", url=url("3170001"), json={"status": "FINISHED"})
    add_publish(httpx_mock)
    deliver(channel(), Post(text="Croissants", media=[Media.from_url("https://cdn.example/c.jpg")]))
    create = httpx_mock.get_requests()[0]
    assert params(create)[0] == {
        "media_type": "IMAGE",
        "image_url": "https://cdn.example/c.jpg",
        "text": "Croissants",
    }
    poll = httpx_mock.get_requests()[1]
    assert poll.url.params["fields"] == "status,error_message"


def test_carousel(httpx_mock: Any, params: Any) -> None:
    for child in ("3171", "3172"):
        httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": child})
    for child in ("3171", "3172"):
        httpx_mock.add_response(method="GET", url=url(child), json={"status": "FINISHED"})
    httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
    httpx_mock.add_response(method="GET", url=url("3170001"), json={"status": "FINISHED"})
    add_publish(httpx_mock)
    media = [
        Media.from_url("https://cdn.example/a.jpg"),
        Media.from_url("https://cdn.example/b.png"),
    ]
    deliver(channel(), Post(text="Two trays", media=media))
    creates = [
        params(r)[0] for r in httpx_mock.get_requests() if r.url.path.endswith("/me/threads")
    ]
    assert creates[0] == {
        "media_type": "IMAGE",
        "image_url": "https://cdn.example/a.jpg",
        "is_carousel_item": "true",
    }
    assert creates[2] == {"media_type": "CAROUSEL", "children": "3171,3172", "text": "Two trays"}


def test_container_error_reason_is_kept(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
    httpx_mock.add_response(
        method="GET",
        url=url("3170001"),
        json={"status": "ERROR", "error_message": "FAILED_DOWNLOADING_IMAGE"},
    )
    with pytest.raises(errors.Permanent, match="FAILED_DOWNLOADING_IMAGE"):
        deliver(channel(), Post(text="x", media=[Media.from_url("https://cdn.example/c.jpg")]))


def test_media_not_found_right_after_creation_is_retried(httpx_mock: Any) -> None:
    """Threads answers 24/4279009 (is_transient false) seconds after a container is made."""
    httpx_mock.add_response(method="POST", url=url("me/threads"), json={"id": "3170001"})
    httpx_mock.add_response(
        method="POST",
        url=url("me/threads_publish"),
        status_code=400,
        json={
            "error": {
                "message": "The requested resource does not exist",
                "type": "THApiException",
                "code": 24,
                "error_subcode": 4279009,
                "is_transient": False,
            }
        },
    )
    add_publish(httpx_mock)
    assert deliver(channel(), Post(text="Open today")).platform_id == "3180001"


def test_expired_token(httpx_mock: Any) -> None:
    httpx_mock.add_response(
        method="POST",
        url=url("me/threads"),
        status_code=400,
        json={
            "error": {
                "message": "Session has expired",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
            }
        },
    )
    with pytest.raises(errors.AuthFailed, match="expired"):
        deliver(channel(), Post(text="Open today"))


def test_emoji_count_at_their_utf8_length() -> None:
    """platforms.md §4: Threads counts an emoji as its UTF-8 bytes, so 🥐 costs 4 of 500."""
    assert ThreadsChannel.capabilities.text_unit is text.TextUnit.THREADS
    prepared = channel().prepare(Post(text="🥐" * 130))  # 130 characters, 520 bytes
    assert text.count(prepared.text, text.TextUnit.UTF8_BYTES) <= 500
    assert any(c.kind == "truncated" for c in prepared.changes)
    assert channel().prepare(Post(text="🥐" * 125)).text == "🥐" * 125
    accented = "é" * 480  # 480 characters (960 UTF-8 bytes) fit: only emoji count as bytes
    assert channel().prepare(Post(text=accented)).text == accented


def test_local_files_need_media_host(tmp_path: Any) -> None:
    photo = tmp_path / "c.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    with pytest.raises(errors.ContentRejected, match="media_host"):
        channel().prepare(Post(text="x", media=[Media.from_path(photo)]))
    hosted = channel(media_host="https://bakery.example/media").prepare(
        Post(text="x", media=[Media.from_path(photo)])
    )
    assert hosted.post.media[0].url == "https://bakery.example/media/c.jpg"


def test_user_id_setting_is_checked() -> None:
    with pytest.raises(errors.ConfigurationError, match="threads_user_id"):
        channel(threads_user_id="@bakery")


def test_check(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="GET", url=url("me"), json={"id": "1", "username": "bakery"})
    assert check(channel()) == "Threads @bakery"
