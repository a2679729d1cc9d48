"""Facebook Page channel: contract, flows, error mapping, lookup and check."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from typing import Any, ClassVar

import pytest
from unipost_meta import FacebookChannel

from unipost import Media, Post, errors
from unipost.channel import Absent, Found, Unknown
from unipost.testing import ChannelContract, check, deliver, lookup

from .conftest import Graph

TOKEN = "EAAfacebooktoken123"
PAGE = "1234567890"
POST_ID = f"{PAGE}_987654321"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ROOT = "https://graph.facebook.com/v23.0"
GRAPH = Graph(ROOT)
url = GRAPH.url
gerror = Graph.error


def channel(**settings: Any) -> FacebookChannel:
    return FacebookChannel.from_settings("facebook", {"page_id": PAGE, "token": TOKEN, **settings})


def add_permalink(httpx_mock: Any, post_id: str = POST_ID) -> None:
    httpx_mock.add_response(
        method="GET",
        url=url(post_id),
        json={
            "permalink_url": f"https://www.facebook.com/bakery/posts/{post_id.split('_')[1]}",
            "id": post_id,
        },
    )


class TestFacebookContract(ChannelContract):
    channel_class = FacebookChannel
    settings: ClassVar[dict[str, Any]] = {
        "page_id": PAGE,
        "token": TOKEN,
        "app_secret": "app-secret-xyz",
    }
    secrets = (TOKEN, "app-secret-xyz")
    error_body: ClassVar[Any] = {
        "error": {"message": "(#9999) test", "type": "GraphMethodException", "fbtrace_id": "T1"}
    }

    def arrange_success(self, httpx_mock: Any) -> None:
        httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID})
        add_permalink(httpx_mock)


def test_text_and_link_post(httpx_mock: Any, specs: Any, params: Any) -> None:
    httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID})
    add_permalink(httpx_mock)
    post = Post(text="Fresh croissants!", link="https://bakery.example/offer")
    receipt = deliver(channel(), post)
    assert receipt.platform_id == POST_ID
    assert receipt.url == "https://www.facebook.com/bakery/posts/987654321"
    create, permalink = httpx_mock.get_requests()
    sent, _ = params(create)
    assert sent == {"message": "Fresh croissants!", "link": "https://bakery.example/offer"}
    specs.check(create, "Page", "feed")
    specs.check(permalink, "PagePost", None)


def test_link_goes_into_the_link_parameter_not_the_text() -> None:
    prepared = channel().prepare(Post(text="Offer", link="https://bakery.example/offer"))
    assert prepared.text == "Offer"
    assert prepared.payload["kind"] == "feed"


def test_single_photo_by_url(httpx_mock: Any, specs: Any, params: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PAGE}/photos"), json={"id": "555", "post_id": POST_ID}
    )
    add_permalink(httpx_mock)
    post = Post(
        text="Croissants",
        link="https://bakery.example",
        media=[Media.from_url("https://cdn.bakery.example/c.jpg", alt="A tray of croissants")],
    )
    receipt = deliver(channel(), post)
    assert receipt.platform_id == POST_ID
    photo = httpx_mock.get_requests()[0]
    sent, _ = params(photo)
    assert sent["url"] == "https://cdn.bakery.example/c.jpg"
    assert sent["message"] == "Croissants\n\nhttps://bakery.example"  # photos take no link param
    assert sent["alt_text_custom"] == "A tray of croissants"
    specs.check(photo, "Page", "photos")


def test_single_photo_upload_is_multipart(httpx_mock: Any, specs: Any, params: Any) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PAGE}/photos"), json={"id": "555", "post_id": POST_ID}
    )
    add_permalink(httpx_mock)
    post = Post(text="Croissants", media=[Media.from_bytes(PNG, filename="c.png")])
    deliver(channel(), post)
    photo = httpx_mock.get_requests()[0]
    assert photo.headers["content-type"].startswith("multipart/form-data")
    assert PNG in photo.read()
    sent, files = params(photo)
    assert files == {"source"}
    assert sent["message"] == "Croissants"
    specs.check(photo, "Page", "photos", files=("source",))


def test_several_photos_are_uploaded_unpublished_then_attached(
    httpx_mock: Any, specs: Any, params: Any
) -> None:
    for photo_id in ("501", "502"):
        httpx_mock.add_response(method="POST", url=url(f"{PAGE}/photos"), json={"id": photo_id})
    httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID})
    add_permalink(httpx_mock)
    post = Post(
        text="Two trays",
        media=[
            Media.from_url("https://cdn.example/a.jpg"),
            Media.from_url("https://cdn.example/b.jpg"),
        ],
    )
    deliver(channel(), post)
    first, second, feed, _ = httpx_mock.get_requests()
    for upload in (first, second):
        assert params(upload)[0]["published"] == "false"
        assert upload.extensions.get("unipost.safe") is True  # invisible until attached
        specs.check(upload, "Page", "photos")
    sent, _ = params(feed)
    assert json.loads(sent["attached_media"]) == [{"media_fbid": "501"}, {"media_fbid": "502"}]
    assert not feed.extensions.get("unipost.safe")
    specs.check(feed, "Page", "feed")


def test_native_scheduling(httpx_mock: Any, specs: Any, params: Any) -> None:
    when = dt.datetime(2030, 5, 1, 9, 0, tzinfo=dt.UTC)
    httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID})
    add_permalink(httpx_mock)
    post = Post(text="Opening day", publish_at=when)
    prepared = channel(native_scheduling=True).prepare(post)
    assert any(c.kind == "scheduled" for c in prepared.changes)
    receipt = deliver(channel(native_scheduling=True), prepared)
    sent, _ = params(httpx_mock.get_requests()[0])
    assert sent["published"] == "false"
    assert sent["scheduled_publish_time"] == str(int(when.timestamp()))
    assert receipt.extra["scheduled_publish_time"] == int(when.timestamp())
    specs.check(httpx_mock.get_requests()[0], "Page", "feed")


def test_without_native_scheduling_publish_at_is_left_to_the_outbox() -> None:
    post = Post(text="Opening day", publish_at=dt.datetime(2030, 5, 1, tzinfo=dt.UTC))
    assert "scheduled_publish_time" not in channel().prepare(post).payload


def test_permalink_failure_does_not_fail_the_delivery(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID})
    httpx_mock.add_response(method="GET", url=url(POST_ID), status_code=500, json=gerror(2))
    receipt = deliver(channel(), Post(text="hi"))
    assert receipt.url == f"https://www.facebook.com/{POST_ID}"


@pytest.mark.parametrize("answer", [{}, {"id": ""}, [], "not json"])
def test_malformed_create_answer_is_ambiguous(httpx_mock: Any, params: Any, answer: Any) -> None:
    if isinstance(answer, str):
        httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), text=answer)
    else:
        httpx_mock.add_response(method="POST", url=url(f"{PAGE}/feed"), json=answer)
    with pytest.raises(errors.Ambiguous):
        deliver(channel(), Post(text="hi"))


@pytest.mark.parametrize(
    ("status", "error", "headers", "expected"),
    [
        (
            400,
            gerror(190, 463, "Error validating access token: Session has expired"),
            {},
            errors.AuthFailed,
        ),
        (403, gerror(200, message="(#200) requires pages_manage_posts"), {}, errors.Forbidden),
        (400, gerror(506, message="Duplicate status message"), {}, errors.DuplicateSignal),
        (500, gerror(1, message="An unknown error occurred"), {}, errors.Transient),
        (503, gerror(2, message="Service temporarily unavailable"), {}, errors.Transient),
        (
            400,
            gerror(4),
            {"X-App-Usage": '{"call_count":100,"total_time":10,"total_cputime":10}'},
            errors.RateLimited,
        ),
        (400, gerror(17), {"X-App-Usage": '{"call_count":100}'}, errors.RateLimited),
        (
            400,
            gerror(32),
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        PAGE: [
                            {
                                "type": "pages",
                                "call_count": 100,
                                "estimated_time_to_regain_access": 3,
                            }
                        ]
                    }
                )
            },
            errors.RateLimited,
        ),
        (
            400,
            gerror(613),
            {
                "X-Business-Use-Case-Usage": json.dumps(
                    {
                        PAGE: [
                            {
                                "type": "pages",
                                "call_count": 100,
                                "estimated_time_to_regain_access": 1,
                            }
                        ]
                    }
                )
            },
            errors.RateLimited,
        ),
        (200, gerror(100, message="Invalid parameter"), {}, errors.Permanent),
    ],
)
def test_graph_errors_on_create(
    httpx_mock: Any,
    params: Any,
    status: int,
    error: Any,
    headers: dict[str, str],
    expected: type[errors.DeliveryError],
) -> None:
    httpx_mock.add_response(
        method="POST", url=url(f"{PAGE}/feed"), status_code=status, json=error, headers=headers
    )
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="hi"))
    if expected is errors.RateLimited:
        assert caught.value.retry_after
        assert caught.value.retry_after >= 60
    if expected is errors.AuthFailed:
        assert "expired" in caught.value.message
    assert TOKEN not in str(caught.value)


def test_lookup_finds_the_post_by_text(httpx_mock: Any, specs: Any, params: Any) -> None:
    now = dt.datetime.now(dt.UTC)
    old = now - dt.timedelta(days=3)
    data = [
        {
            "id": f"{PAGE}_1",
            "message": "Fresh croissants!",
            "created_time": old.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "permalink_url": "https://www.facebook.com/old",
        },
        {
            "id": f"{PAGE}_2",
            "message": "Fresh  croissants!\n",
            "created_time": now.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "permalink_url": "https://www.facebook.com/new",
        },
    ]
    httpx_mock.add_response(method="GET", url=url(f"{PAGE}/posts"), json={"data": data})
    result = lookup(channel(), Post(text="Fresh croissants!"))
    assert isinstance(result, Found)
    assert result.receipt.platform_id == f"{PAGE}_2"  # the older one is another, earlier post
    specs.check(httpx_mock.get_requests()[0], "Page", "posts")


def test_lookup_absent(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(f"{PAGE}/posts"), json={"data": []})
    assert isinstance(lookup(channel(), Post(text="Fresh croissants!")), Absent)


def test_lookup_of_scheduled_post_reads_scheduled_posts(
    httpx_mock: Any, specs: Any, params: Any
) -> None:
    httpx_mock.add_response(method="GET", url=url(f"{PAGE}/scheduled_posts"), json={"data": []})
    post = Post(text="Later", publish_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert isinstance(lookup(channel(native_scheduling=True), post), Absent)
    specs.check(httpx_mock.get_requests()[0], "Page", "scheduled_posts")


def test_lookup_without_text_is_unknown() -> None:
    post = Post(media=[Media.from_url("https://cdn.example/a.jpg")])
    assert isinstance(lookup(channel(), post), Unknown)


def test_check_verifies_token_and_permissions(httpx_mock: Any, specs: Any, params: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(PAGE), json={"id": PAGE, "name": "Bakery"})
    httpx_mock.add_response(
        method="GET",
        url=url("debug_token"),
        json={
            "data": {
                "is_valid": True,
                "scopes": ["pages_manage_posts", "pages_read_engagement"],
                "expires_at": int(time.time()) + 10 * 86400,
                "data_access_expires_at": int(time.time()) + 80 * 86400,
            }
        },
    )
    assert check(channel()).startswith(
        "Facebook Page Bakery; permissions ok; access token expires in 10 days; "
        "data access expires in 80 days"
    )
    specs.check(httpx_mock.get_requests()[0], "Page", None)


def test_check_names_missing_permission(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(PAGE), json={"id": PAGE, "name": "Bakery"})
    httpx_mock.add_response(
        method="GET",
        url=url("debug_token"),
        json={"data": {"is_valid": True, "scopes": ["pages_show_list"]}},
    )
    with pytest.raises(errors.Forbidden, match="pages_manage_posts"):
        check(channel())


def test_check_with_expired_token(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(PAGE), status_code=400, json=gerror(190, 463))
    with pytest.raises(errors.AuthFailed):
        check(channel())


def test_check_when_debug_token_is_refused(httpx_mock: Any, params: Any) -> None:
    httpx_mock.add_response(method="GET", url=url(PAGE), json={"id": PAGE, "name": "Bakery"})
    httpx_mock.add_response(method="GET", url=url("debug_token"), status_code=400, json=gerror(100))
    assert "permissions not verified" in check(channel())


def test_too_many_photos_is_rejected() -> None:
    media = [Media.from_url(f"https://cdn.example/{i}.jpg") for i in range(11)]
    with pytest.raises(errors.ContentRejected, match="at most 10"):
        channel().prepare(Post(text="many", media=media))


def _item(n: int, message: str, at: dt.datetime) -> dict[str, str]:
    return {
        "id": f"{PAGE}_{n}",
        "message": message,
        "created_time": at.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "permalink_url": f"https://www.facebook.com/{n}",
    }


def test_yesterdays_post_with_the_same_text_is_not_todays(httpx_mock: Any, params: Any) -> None:
    """#14.3: a business posting "Open 9-5 today" daily; the lookup accepts only posts
    created since this record's first attempt, so yesterday's is no proof of today's."""
    first_attempt = dt.datetime.now(dt.UTC)
    yesterday = first_attempt - dt.timedelta(days=1)
    httpx_mock.add_response(
        method="GET",
        url=url(f"{PAGE}/posts"),
        json={"data": [_item(1, "Open 9-5 today", yesterday)]},
    )
    result = lookup(
        channel(), Post(text="Open 9-5 today"), first_attempt_at=first_attempt.timestamp()
    )
    assert isinstance(result, Absent)


def test_the_lookup_pages_back_to_the_first_attempt(httpx_mock: Any, params: Any) -> None:
    """#14.3: a post created just before a crash, with 58 newer ones after it (more than a
    page): the lookup follows the pages back to the first attempt and finds it."""
    first_attempt = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    newer = [
        _item(100 + i, f"other post {i}", first_attempt + dt.timedelta(minutes=20 - i / 10))
        for i in range(58)
    ]
    ours = _item(7, "Fresh croissants!", first_attempt + dt.timedelta(seconds=5))
    older = _item(6, "yesterday's news", first_attempt - dt.timedelta(hours=2))
    after = f"https://graph.facebook.com/v23.0/{PAGE}/posts?after=cursor2"
    httpx_mock.add_response(
        method="GET",
        url=url(f"{PAGE}/posts"),
        json={"data": newer[:25], "paging": {"next": after}},
    )
    httpx_mock.add_response(method="GET", url=after, json={"data": [*newer[25:], ours, older]})
    result = lookup(
        channel(), Post(text="Fresh croissants!"), first_attempt_at=first_attempt.timestamp()
    )
    assert isinstance(result, Found)
    assert result.receipt.platform_id == f"{PAGE}_7"


def test_a_lookup_that_cannot_look_far_enough_says_unknown(httpx_mock: Any, params: Any) -> None:
    """#14.3: running out of pages before the first attempt is never "absent"."""
    first_attempt = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    recent = dt.datetime.now(dt.UTC)
    for page in range(8):
        httpx_mock.add_response(
            method="GET",
            url=re.compile(rf".*/{PAGE}/posts.*"),
            json={
                "data": [_item(page * 10 + i, "busy page", recent) for i in range(3)],
                "paging": {"next": f"https://graph.facebook.com/v23.0/{PAGE}/posts?after=p{page}"},
            },
        )
    result = lookup(
        channel(), Post(text="Fresh croissants!"), first_attempt_at=first_attempt.timestamp()
    )
    assert isinstance(result, Unknown)
