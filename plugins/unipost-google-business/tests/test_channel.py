"""The Google Business Profile flow: every request checked against the discovery document."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_google_business import GoogleBusinessChannel

from unipost import Media, Post
from unipost.errors import ContentRejected, Forbidden, Permanent, RateLimited
from unipost.testing import ChannelContract, check, deliver

from .conftest import API, PARENT, error, validate, validate_response

TOKEN = "ya29.gbp-access-token-0123456789"
SETTINGS: dict[str, Any] = {
    "account_id": "1234567890",
    "location_id": "9876543210",
    "access_token": TOKEN,
}
CREATE = f"{API}/v4/{PARENT}/localPosts"
PHOTO = Media.from_url(
    "https://bakery.example/croissants.jpg", alt="Croissants", mime_type="image/jpeg"
)


def local_post(post_id: str = "1122334455", state: str = "LIVE", **fields: Any) -> dict[str, Any]:
    body = {
        "name": f"{PARENT}/localPosts/{post_id}",
        "languageCode": "en",
        "summary": "Fresh bread",
        "state": state,
        "updateTime": "2026-12-03T14:00:01.123Z",
        "createTime": "2026-12-03T14:00:01.123Z",
        "searchUrl": f"https://local.google.com/place?id=123&use=posts&lpsid={post_id}",
        "topicType": "STANDARD",
        **fields,
    }
    validate_response("LocalPost", body)
    return body


def channel(**settings: Any) -> GoogleBusinessChannel:
    return GoogleBusinessChannel.from_settings("google", SETTINGS | settings)


def sent_body(httpx_mock: HTTPXMock) -> dict[str, Any]:
    request = httpx_mock.get_requests()[-1]
    assert validate(request).startswith("mybusiness.accounts.locations.localPosts.")
    return json.loads(request.content)  # type: ignore[no-any-return]


class TestGoogleBusinessContract(ChannelContract):
    channel_class = GoogleBusinessChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "error": {
            "code": 400,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
        }
    }

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="POST", url=CREATE, json=local_post())


def test_whats_new_with_photo_and_button(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post())
    post = Post(
        title="Open late",
        text="Open until 9 tonight",
        link="https://bakery.example/hours",
        media=[PHOTO],
        language="en",
        metadata={"google.cta": "book"},
    )
    prepared = channel().prepare(post)
    assert [c.kind for c in prepared.changes] == ["post_type", "button"]
    receipt = deliver(channel(), prepared)
    assert sent_body(httpx_mock) == {
        "topicType": "STANDARD",
        "summary": "Open late\n\nOpen until 9 tonight",
        "languageCode": "en",
        "callToAction": {"actionType": "BOOK", "url": "https://bakery.example/hours"},
        "media": [{"mediaFormat": "PHOTO", "sourceUrl": "https://bakery.example/croissants.jpg"}],
    }
    request = httpx_mock.get_requests()[0]
    assert request.headers["X-GOOG-API-FORMAT-VERSION"] == "2"
    assert receipt.platform_id == f"{PARENT}/localPosts/1122334455"
    assert receipt.url == "https://local.google.com/place?id=123&use=posts&lpsid=1122334455"


def test_offer_with_coupon_terms_and_dates(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post(topicType="OFFER"))
    post = Post(
        title="20% off pastries",
        text="All week long",
        link="https://bakery.example/offer",
        metadata={
            "google.coupon": "PASTRY20",
            "google.terms": "One per customer",
            "google.start": "2026-12-20",
            "google.end": "2026-12-24",
        },
    )
    deliver(channel(), post)
    assert sent_body(httpx_mock) == {
        "topicType": "OFFER",
        "summary": "All week long",
        "event": {
            "title": "20% off pastries",
            "schedule": {
                "startDate": {"year": 2026, "month": 12, "day": 20},
                "endDate": {"year": 2026, "month": 12, "day": 24},
            },
        },
        "offer": {
            "couponCode": "PASTRY20",
            "redeemOnlineUrl": "https://bakery.example/offer",
            "termsConditions": "One per customer",
        },
    }


def test_event_with_times(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post(topicType="EVENT"))
    post = Post(
        title="Bread baking class",
        text="Learn sourdough",
        link="https://bakery.example/class",
        metadata={
            "google.topic": "event",
            "google.start": "2026-12-12T10:00",
            "google.end": "2026-12-12T12:30",
            "google.cta": "SIGN_UP",
        },
    )
    deliver(channel(), post)
    body = sent_body(httpx_mock)
    assert body["event"]["schedule"] == {
        "startDate": {"year": 2026, "month": 12, "day": 12},
        "endDate": {"year": 2026, "month": 12, "day": 12},
        "startTime": {"hours": 10, "minutes": 0},
        "endTime": {"hours": 12, "minutes": 30},
    }
    assert body["callToAction"] == {"actionType": "SIGN_UP", "url": "https://bakery.example/class"}


def test_call_button_has_no_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post())
    deliver(channel(call_to_action="CALL"), Post(text="Call us for catering"))
    assert sent_body(httpx_mock)["callToAction"] == {"actionType": "CALL"}


@pytest.mark.parametrize(
    ("post", "field"),
    [
        (Post(text="x", metadata={"google.topic": "event"}), "google.title"),
        (
            Post(title="T", text="x", metadata={"google.topic": "event"}),
            "google.metadata.google.start",
        ),
        (
            Post(
                title="T",
                text="x",
                metadata={"google.start": "2026-12-24", "google.end": "2026-12-20"},
            ),
            "google.metadata.google.end",
        ),
        (Post(text="x", metadata={"google.cta": "GET_OFFER"}), "google.metadata.google.cta"),
        (
            Post(text="x", metadata={"google.coupon": "A", "google.topic": "standard"}),
            "google.metadata.google.topic",
        ),
        (
            Post(
                title="T" * 59,
                text="x",
                metadata={
                    "google.topic": "offer",
                    "google.start": "2026-12-01",
                    "google.end": "2026-12-02",
                },
            ),
            "google.title",
        ),
        (
            Post(
                text="x",
                media=[Media.from_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 32, filename="a.jpg")],
            ),
            "google.media[0]",
        ),
    ],
)
def test_bad_input_is_refused_before_sending(post: Post, field: str) -> None:
    with pytest.raises(ContentRejected) as caught:
        channel().prepare(post)
    assert caught.value.field == field


def test_rejected_by_content_policy_is_permanent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post(state="REJECTED"))
    with pytest.raises(Permanent) as caught:
        deliver(channel(), Post(text="Fresh bread"))
    assert caught.value.platform_code == "REJECTED"


def test_processing_is_delivered_with_its_state(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, json=local_post(state="PROCESSING"))
    receipt = deliver(channel(), Post(text="Fresh bread"))
    assert receipt.extra["state"] == "PROCESSING"


def test_a_revision_patches_the_same_local_post(httpx_mock: HTTPXMock) -> None:
    name = f"{PARENT}/localPosts/1122334455"
    httpx_mock.add_response(
        method="PATCH",
        url=f"{API}/v4/{name}?updateMask=summary%2CcallToAction%2Cmedia",
        json=local_post(summary="Open until 10 tonight"),
    )
    post = Post(
        id="hours",
        revision=2,
        text="Open until 10 tonight",
        metadata={"google.local_post": name},
    )
    receipt = deliver(channel(), post)
    assert sent_body(httpx_mock) == {"topicType": "STANDARD", "summary": "Open until 10 tonight"}
    assert receipt.platform_id == name
    assert receipt.extra["edited"] is True


def test_a_revision_without_its_local_post_is_refused(httpx_mock: HTTPXMock) -> None:
    with pytest.raises(Permanent, match=r"google\.local_post"):
        deliver(channel(), Post(text="edit", revision=2))


def test_validation_error_names_the_field(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, **error("missing_topic"))
    with pytest.raises(Permanent) as caught:
        deliver(channel(), Post(text="x"))
    assert "topic_type: Topic type is required for post creation." in caught.value.message
    assert caught.value.platform_code == "INVALID_ARGUMENT"


def test_api_not_enabled_is_forbidden(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, **error("api_disabled"))
    with pytest.raises(Forbidden, match="Google My Business API has not been used"):
        deliver(channel(), Post(text="x"))


def test_quota_is_a_rate_limit(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, **error("quota"))
    with pytest.raises(RateLimited) as caught:
        deliver(channel(), Post(text="x"))
    assert caught.value.platform_code == "RESOURCE_EXHAUSTED"


def test_html_404_names_the_location_path(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=CREATE, status_code=404, text="<!DOCTYPE html><html>404.</html>"
    )
    with pytest.raises(Permanent, match="not a location path"):
        deliver(channel(), Post(text="x"))


def test_not_found_json_is_permanent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=CREATE, **error("not_found"))
    with pytest.raises(Permanent, match="Requested entity was not found"):
        deliver(channel(), Post(text="x"))


def test_check_reports_scope_expiry_and_reads_the_location(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"https://oauth2.googleapis.com/tokeninfo?access_token={TOKEN}",
        json={
            "azp": "123.apps.googleusercontent.com",
            "aud": "123.apps.googleusercontent.com",
            "scope": "https://www.googleapis.com/auth/business.manage",
            "exp": "1800003599",
            "expires_in": "3599",
            "email": "owner@bakery.example",
            "email_verified": "true",
        },
    )
    httpx_mock.add_response(url=f"{CREATE}?pageSize=1", json={"localPosts": [local_post()]})
    summary = check(channel())
    assert summary == f"{PARENT} as owner@bakery.example; access token expires in 60 min"
    assert (
        validate(httpx_mock.get_requests()[-1]) == "mybusiness.accounts.locations.localPosts.list"
    )


def test_settings_are_checked() -> None:
    with pytest.raises(Exception, match="numeric id"):
        channel(location_id="locations/987")
    with pytest.raises(Exception, match="refresh_token"):
        GoogleBusinessChannel.from_settings("google", {"account_id": "1", "location_id": "2"})


def test_the_validator_catches_output_only_fields() -> None:
    request = httpx.Request(
        "POST", CREATE, json={"topicType": "STANDARD", "summary": "x", "state": "LIVE"}
    )
    with pytest.raises(Exception, match="Additional properties"):
        validate(request)
