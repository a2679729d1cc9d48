"""The LinkedIn flow against pytest-httpx: headers, little text, images, errors."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import jsonschema
import pytest
from pytest_httpx import HTTPXMock
from unipost_linkedin import LinkedInChannel, escape

from unipost import Media, Post
from unipost.errors import AuthFailed, DuplicateSignal, Forbidden, QuotaExhausted
from unipost.testing import ChannelContract, check, deliver, png

from .conftest import API, ORG, SETTINGS, TOKEN, check_initialize, check_post, error

URN = "urn:li:share:7141138937766391808"


def created(urn: str = URN) -> dict[str, Any]:
    return {"status_code": 201, "headers": {"x-restli-id": urn}}


def channel(**settings: Any) -> LinkedInChannel:
    return LinkedInChannel.from_settings("linkedin", SETTINGS | settings)


class TestLinkedInContract(ChannelContract):
    channel_class = LinkedInChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = {
        "message": "Empty oauth2_access_token",
        "serviceErrorCode": 401,
        "status": 401,
    }

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **created())


def test_text_post_headers_body_and_receipt(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **created())
    receipt = deliver(channel(), Post(text="Fresh (sourdough) bread_today #Bakery"))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert sent.headers["LinkedIn-Version"] == "202611"
    assert sent.headers["X-Restli-Protocol-Version"] == "2.0.0"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(sent.content)
    check_post(body)
    assert body["commentary"] == "Fresh \\(sourdough\\) bread\\_today {hashtag|\\#|Bakery}"
    assert body["author"] == ORG
    assert (receipt.platform_id, receipt.url) == (
        URN,
        f"https://www.linkedin.com/feed/update/{URN}",
    )


@pytest.mark.parametrize(
    ("text", "little"),
    [
        (
            "a\\b|c{d}e@f[g]h(i)j<k>l*m_n~o",
            "a\\\\b\\|c\\{d\\}e\\@f\\[g\\]h\\(i\\)j\\<k\\>l\\*m\\_n\\~o",
        ),
        ("Open #9to5? No: #OpenLate!", "Open \\#9to5? No: {hashtag|\\#|OpenLate}!"),
        (
            "see https://bakery.example/menu#cakes_(new)",
            "see https://bakery.example/menu\\#cakes\\_\\(new\\)",
        ),
        ("Café → 20 % off ✅", "Café → 20 % off ✅"),
    ],
)
def test_little_text_escaping(text: str, little: str) -> None:
    assert escape(text) == little


def test_a_link_without_images_is_an_article_card(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **created())
    prepared = channel().prepare(
        Post(title="Winter menu", text="New cakes", link="https://bakery.example/winter")
    )
    assert any(c.kind == "link_card" for c in prepared.changes)
    deliver(channel(), prepared)
    body = json.loads(httpx_mock.get_requests()[0].content)
    check_post(body)
    assert body["commentary"] == "Winter menu\n\nNew cakes"
    assert body["content"] == {
        "article": {"source": "https://bakery.example/winter", "title": "Winter menu"}
    }


def test_images_go_through_the_images_api(httpx_mock: HTTPXMock) -> None:
    upload = "https://www.linkedin.com/dms-uploads/sp/v2/D4E10AQ/uploaded-image/0?ca=vector_ads"
    for n in (1, 2):
        httpx_mock.add_response(
            method="POST",
            url=f"{API}/rest/images?action=initializeUpload",
            json={
                "value": {
                    "uploadUrlExpiresAt": 1650567510704,
                    "uploadUrl": upload,
                    "image": f"urn:li:image:C4E10AQFoyyAjHPMQuQ{n}",
                }
            },
        )
        httpx_mock.add_response(method="PUT", url=upload, status_code=201)
        image_url = f"{API}/rest/images/urn%3Ali%3Aimage%3AC4E10AQFoyyAjHPMQuQ{n}"
        httpx_mock.add_response(method="GET", url=image_url, json={"status": "PROCESSING"})
        httpx_mock.add_response(method="GET", url=image_url, json={"status": "AVAILABLE"})
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **created())
    media = [
        Media.from_bytes(png(), filename="a.png", alt="Croissants"),
        Media.from_bytes(png(), filename="b.png"),
    ]
    deliver(channel(), Post(text="Two photos", media=media, link="https://bakery.example"))
    requests = httpx_mock.get_requests()
    check_initialize(json.loads(requests[0].content))
    assert requests[1].content == png()
    assert requests[1].headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(requests[-1].content)
    check_post(body)
    assert body["content"] == {
        "multiImage": {
            "images": [
                {"id": "urn:li:image:C4E10AQFoyyAjHPMQuQ1", "altText": "Croissants"},
                {"id": "urn:li:image:C4E10AQFoyyAjHPMQuQ2"},
            ]
        }
    }
    assert body["commentary"].endswith("https://bakery.example")


def test_duplicate_post_is_a_duplicate_signal_naming_the_urn(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **error("duplicate"))
    with pytest.raises(DuplicateSignal) as caught:
        deliver(channel(), Post(text="Again"))
    assert caught.value.platform_code == "DUPLICATE_POST"
    assert caught.value.detail == {"existing": URN}


@pytest.mark.parametrize("name", ["invalid_token", "revoked_token"])
def test_invalid_or_revoked_token_needs_authorization(httpx_mock: HTTPXMock, name: str) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **error(name))
    with pytest.raises(AuthFailed) as caught:
        deliver(channel(), Post(text="x"))
    assert caught.value.platform_code in ("65600", "REVOKED_ACCESS_TOKEN")


def test_a_retired_version_blocks_the_channel_with_the_fix(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **error("bad_version"))
    with pytest.raises(Forbidden, match=r"set version = \"YYYYMM\".*\[channels.linkedin\]"):
        deliver(channel(), Post(text="x"))


def test_daily_throttle_waits_until_midnight_utc() -> None:
    request = httpx.Request("POST", f"{API}/rest/posts")
    now = 1_800_000_000.0  # 2027-01-15 08:00 UTC
    result = channel().classify(httpx.Response(request=request, **error("throttled")), now=now)
    assert isinstance(result, QuotaExhausted)
    assert result.retry_after == pytest.approx(16 * 3600)
    assert "midnight UTC" in result.message


def test_author_and_version_are_checked() -> None:
    with pytest.raises(Exception, match="urn:li:person"):
        channel(author="bakery")
    with pytest.raises(Exception, match="LinkedIn-Version"):
        channel(version="2026-11")


def test_check_introspects_the_token(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url="https://www.linkedin.com/oauth/v2/introspectToken",
        json={
            "active": True,
            "client_id": "client-abc",
            "authorized_at": 1_799_000_000,
            "created_at": 1_799_000_000,
            "status": "active",
            "expires_at": 4_000_000_000,
            "auth_type": "3L",
            "scope": "w_organization_social,r_organization_social",
        },
    )
    ch = channel(client_id="client-abc", client_secret="client-secret-xyz")
    summary = check(ch)
    assert summary.startswith(
        f"{ORG}, scopes w_organization_social,r_organization_social; access token expires in"
    )
    form = dict(httpx.QueryParams(httpx_mock.get_request().content.decode()))  # type: ignore[union-attr]
    assert form == {"client_id": "client-abc", "client_secret": "client-secret-xyz", "token": TOKEN}


def test_schema_catches_a_wrong_body() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check_post({"author": ORG, "commentary": "x", "visibility": "EVERYONE"})
