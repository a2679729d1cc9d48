"""Instagram channel: containers, polling, quota, caption rules, media hosting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

import pytest
from unipost_meta import InstagramChannel

from unipost import Media, Pause, Post, errors
from unipost.channel import Absent, Found
from unipost.testing import ChannelContract, deliver, lookup

from .conftest import Graph

TOKEN = "EAAinstagramtoken123"
IG = "17841400000000001"
ROOT = "https://graph.facebook.com/v23.0"
GRAPH = Graph(ROOT)
url = GRAPH.url
gerror = Graph.error
JPEG_URL = "https://cdn.bakery.example/croissants.jpg"
SAMPLE = Post(
    text="Fresh croissants #bakery", media=[Media.from_url(JPEG_URL, alt="Croissants")], id="ig-1"
)


def channel(**settings: Any) -> InstagramChannel:
    return InstagramChannel.from_settings(
        "instagram", {"ig_user_id": IG, "token": TOKEN, **settings}
    )


def add_quota(httpx_mock: Any, usage: int = 3, total: int = 50) -> None:
    httpx_mock.add_response(
        method="GET",
        url=url(f"{IG}/content_publishing_limit"),
        json={
            "data": [
                {"quota_usage": usage, "config": {"quota_total": total, "quota_duration": 86400}}
            ]
        },
    )


def add_container(httpx_mock: Any, container: str, *statuses: str) -> None:
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), json={"id": container})
    for status in statuses:
        httpx_mock.add_response(
            method="GET", url=url(container), json={"status_code": status, "id": container}
        )


def add_publish(httpx_mock: Any, container: str = "1801", media_id: str = "1790001") -> None:
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media_publish"), json={"id": media_id})
    httpx_mock.add_response(
        method="GET",
        url=url(media_id),
        json={"permalink": "https://www.instagram.com/p/AbC123/", "id": media_id},
    )


class TestInstagramContract(ChannelContract):
    channel_class = InstagramChannel
    settings: ClassVar[dict[str, Any]] = {"ig_user_id": IG, "token": TOKEN}
    secrets = (TOKEN,)
    sample_post = SAMPLE
    error_body: ClassVar[Any] = {
        "error": {"message": "(#9999) test", "type": "OAuthException", "fbtrace_id": "T1"}
    }

    def arrange_success(self, httpx_mock: Any) -> None:
        add_quota(httpx_mock)
        add_container(httpx_mock, "1801", "FINISHED")
        add_publish(httpx_mock)


def test_image_with_polling(httpx_mock: Any, specs: Any, params: Any) -> None:
    """IN_PROGRESS makes the flow pause (without blocking other deliveries), then publish."""
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "IN_PROGRESS", "IN_PROGRESS", "FINISHED")
    add_publish(httpx_mock)
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    receipt = deliver(channel(), SAMPLE, sleep=sleep)
    assert receipt.platform_id == "1790001"
    assert receipt.url == "https://www.instagram.com/p/AbC123/"
    assert receipt.extra["container_id"] == "1801"
    assert pauses == [1.0, 2.0]
    requests = httpx_mock.get_requests()
    quota, create, *_polls, publish, permalink = requests
    sent, _ = params(create)
    assert sent == {
        "image_url": JPEG_URL,
        "alt_text": "Croissants",
        "caption": "Fresh croissants #bakery",
    }
    assert create.extensions.get("unipost.safe") is True  # a container is invisible
    assert params(publish)[0] == {"creation_id": "1801"}
    specs.check(quota, "IGUser", "content_publishing_limit")
    specs.check(create, "IGUser", "media")
    specs.check(publish, "IGUser", "media_publish")
    specs.check(permalink, "IGMedia", None)


def test_flow_yields_pause_objects() -> None:
    """Polling is a Pause yielded from the flow, never a sleep inside the plugin."""
    import httpx

    flow = channel().wait_until_ready("1801", _Ctx())
    request = next(flow)
    assert isinstance(request, httpx.Request)
    item = flow.send(httpx.Response(200, json={"status_code": "IN_PROGRESS"}, request=request))
    assert isinstance(item, Pause)


class _Ctx:
    def now(self) -> float:
        return 0.0

    def remaining(self) -> float:
        return 30.0


def test_carousel(httpx_mock: Any, specs: Any, params: Any) -> None:
    add_quota(httpx_mock)
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), json={"id": "1811"})
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), json={"id": "1812"})
    httpx_mock.add_response(method="GET", url=url("1811"), json={"status_code": "FINISHED"})
    httpx_mock.add_response(method="GET", url=url("1812"), json={"status_code": "FINISHED"})
    add_container(httpx_mock, "1801", "FINISHED")
    add_publish(httpx_mock)
    post = Post(
        text="Two trays",
        media=[Media.from_url(JPEG_URL), Media.from_url("https://cdn.example/tour.mp4")],
    )
    assert channel().prepare(post).payload["kind"] == "carousel"
    deliver(channel(), post)
    creates = [
        r for r in httpx_mock.get_requests() if r.method == "POST" and r.url.path.endswith("/media")
    ]
    first, second, parent = (params(r)[0] for r in creates)
    assert first == {"image_url": JPEG_URL, "is_carousel_item": "true"}
    assert second == {
        "media_type": "VIDEO",
        "video_url": "https://cdn.example/tour.mp4",
        "is_carousel_item": "true",
    }
    assert parent == {"media_type": "CAROUSEL", "children": "1811,1812", "caption": "Two trays"}
    for request in creates:
        specs.check(request, "IGUser", "media")


def test_reel(httpx_mock: Any, specs: Any, params: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "IN_PROGRESS", "FINISHED")
    add_publish(httpx_mock)
    post = Post(text="Behind the scenes", media=[Media.from_url("https://cdn.example/reel.mp4")])
    assert channel().prepare(post).payload["kind"] == "reel"
    deliver(channel(), post)
    create = httpx_mock.get_requests()[1]
    assert params(create)[0] == {
        "media_type": "REELS",
        "video_url": "https://cdn.example/reel.mp4",
        "caption": "Behind the scenes",
    }
    specs.check(create, "IGUser", "media")


def test_quota_exhausted_sends_no_publish(httpx_mock: Any) -> None:
    add_quota(httpx_mock, usage=50, total=50)
    with pytest.raises(errors.QuotaExhausted, match="50 of 50"):
        deliver(channel(), SAMPLE)
    assert [r.method for r in httpx_mock.get_requests()] == ["GET"]


def test_publish_limit_error_is_quota_exhausted(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "FINISHED")
    httpx_mock.add_response(
        method="POST", url=url(f"{IG}/media_publish"), status_code=400, json=gerror(9, 2207042)
    )
    with pytest.raises(errors.QuotaExhausted):
        deliver(channel(), SAMPLE)


def test_container_error_is_permanent_with_reason(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801")
    httpx_mock.add_response(
        method="GET", url=url("1801"), json={"status_code": "ERROR", "status": "Error: 2207009"}
    )
    with pytest.raises(errors.Permanent, match="aspect ratio"):
        deliver(channel(), SAMPLE)


def test_container_expired_is_transient(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "EXPIRED")
    with pytest.raises(errors.Transient):
        deliver(channel(), SAMPLE)


def test_polling_gives_up_within_the_deadline(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), json={"id": "1801"})
    httpx_mock.add_response(
        method="GET", url=url("1801"), json={"status_code": "IN_PROGRESS"}, is_reusable=True
    )
    with pytest.raises(errors.Transient, match="still processing"):
        deliver(channel(poll_timeout=5.0), SAMPLE)


def test_media_not_ready_on_publish_is_retried(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "FINISHED")
    httpx_mock.add_response(
        method="POST", url=url(f"{IG}/media_publish"), status_code=400, json=gerror(9007, 2207027)
    )
    add_publish(httpx_mock)
    assert deliver(channel(), SAMPLE).platform_id == "1790001"


def test_publish_timeout_settled_by_container_status(httpx_mock: Any) -> None:
    """A timed-out publish whose container is PUBLISHED is found, not published again."""
    import httpx

    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "FINISHED")
    httpx_mock.add_exception(
        httpx.ReadTimeout("timed out"), method="POST", url=url(f"{IG}/media_publish")
    )
    httpx_mock.add_response(method="GET", url=url("1801"), json={"status_code": "PUBLISHED"})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    httpx_mock.add_response(
        method="GET",
        url=url(f"{IG}/media"),
        json={"data": [{"id": "1790009", "caption": SAMPLE.text, "timestamp": stamp}]},
    )
    httpx_mock.add_response(
        method="GET", url=url("1790009"), json={"permalink": "https://www.instagram.com/p/X/"}
    )
    receipt = deliver(channel(), SAMPLE)
    assert receipt.platform_id == "1790009"
    assert sum(1 for r in httpx_mock.get_requests() if r.url.path.endswith("media_publish")) == 1


def test_publish_timeout_with_unpublished_container_publishes_it_once_more(httpx_mock: Any) -> None:
    import httpx

    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "FINISHED")
    httpx_mock.add_exception(
        httpx.ReadTimeout("timed out"), method="POST", url=url(f"{IG}/media_publish")
    )
    httpx_mock.add_response(method="GET", url=url("1801"), json={"status_code": "FINISHED"})
    add_publish(httpx_mock)
    assert deliver(channel(), SAMPLE).platform_id == "1790001"


def test_malformed_publish_answer_is_ambiguous(httpx_mock: Any) -> None:
    add_quota(httpx_mock)
    add_container(httpx_mock, "1801", "FINISHED")
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media_publish"), json={"ok": True})
    with pytest.raises(errors.Ambiguous):
        deliver(channel(), SAMPLE)


def test_malformed_container_answer_is_transient(httpx_mock: Any) -> None:
    """A container is invisible, so an answer without its id is safe to retry."""
    add_quota(httpx_mock)
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), json={})
    with pytest.raises(errors.Transient):
        deliver(channel(), SAMPLE)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (gerror(190, 463), errors.AuthFailed),
        (gerror(10, message="(#10) requires instagram_content_publish"), errors.Forbidden),
        (gerror(4), errors.RateLimited),
        (gerror(2), errors.Transient),
    ],
)
def test_errors_on_container_creation(
    httpx_mock: Any, error: Any, expected: type[errors.DeliveryError]
) -> None:
    add_quota(httpx_mock)
    httpx_mock.add_response(method="POST", url=url(f"{IG}/media"), status_code=400, json=error)
    with pytest.raises(expected):
        deliver(channel(), SAMPLE)


def test_text_only_is_rejected() -> None:
    with pytest.raises(errors.ContentRejected, match="need an image or a video") as caught:
        channel().prepare(Post(text="No picture"))
    assert caught.value.field == "instagram.media"


def test_local_file_is_rejected_without_media_host(tmp_path: Path) -> None:
    photo = tmp_path / "croissants.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    with pytest.raises(errors.ContentRejected, match="media_host"):
        channel().prepare(Post(text="hi", media=[Media.from_path(photo)]))


def test_local_file_is_referred_to_under_media_host(tmp_path: Path) -> None:
    photo = tmp_path / "croissants 1.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    prepared = channel(media_host="https://bakery.example/media").prepare(
        Post(text="hi", media=[Media.from_path(photo)])
    )
    assert prepared.post.media[0].url == "https://bakery.example/media/croissants%201.jpg"
    assert any(c.kind == "media_hosted" for c in prepared.changes)


def test_media_host_must_be_https() -> None:
    with pytest.raises(errors.ConfigurationError, match="media_host"):
        channel(media_host="ftp://bakery.example")


def test_variant_media_is_hosted_too(tmp_path: Path) -> None:
    photo = tmp_path / "v.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    post = Post(text="hi", variants={"instagram": {"media": (Media.from_path(photo),)}})
    prepared = channel(media_host="https://bakery.example/m/").prepare(post)
    assert prepared.post.media[0].url == "https://bakery.example/m/v.jpg"


def test_too_many_hashtags() -> None:
    text = " ".join(f"#tag{i}" for i in range(31))
    with pytest.raises(errors.ContentRejected, match="31 hashtags") as caught:
        channel().prepare(Post(text=text, media=SAMPLE.media))
    assert caught.value.field == "instagram.text"


def test_too_many_mentions() -> None:
    text = " ".join(f"@friend{i}" for i in range(21)) + " mail me at a@b.example"
    with pytest.raises(errors.ContentRejected, match="21 @mentions"):
        channel().prepare(Post(text=text, media=SAMPLE.media))


def test_thirty_hashtags_are_fine() -> None:
    text = " ".join(f"#tag{i}" for i in range(30))
    channel().prepare(Post(text=text, media=SAMPLE.media))


def test_png_is_not_accepted() -> None:
    with pytest.raises(errors.ContentRejected, match="image/png"):
        channel().prepare(Post(text="hi", media=[Media.from_url("https://cdn.example/a.png")]))


def test_lookup(httpx_mock: Any, specs: Any) -> None:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    httpx_mock.add_response(
        method="GET",
        url=url(f"{IG}/media"),
        json={"data": [{"id": "1790009", "caption": SAMPLE.text, "timestamp": stamp}]},
    )
    httpx_mock.add_response(
        method="GET", url=url("1790009"), json={"permalink": "https://www.instagram.com/p/X/"}
    )
    result = lookup(channel(), SAMPLE)
    assert isinstance(result, Found)
    assert result.receipt.url == "https://www.instagram.com/p/X/"
    specs.check(httpx_mock.get_requests()[0], "IGUser", "media")


def test_lookup_absent(httpx_mock: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(f"{IG}/media"), json={"data": []})
    assert isinstance(lookup(channel(), SAMPLE), Absent)
