"""The Ghost channel against pytest-httpx: JWT, Lexical, feature image, edits, errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jwt
import pytest
from pytest_httpx import HTTPXMock
from unipost_ghost import GhostChannel

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.errors import (
    AuthFailed,
    ConfigurationError,
    ContentRejected,
    Permanent,
    RateLimited,
    Transient,
)
from unipost.testing import ChannelContract, deliver, lookup, png

SITE = "https://blog.example"
ADMIN = f"{SITE}/ghost/api/admin"
KEY_ID = "6748592f4b9b7700010f6564"
KEY_SECRET = "b1b5b9c1d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1"
KEY = f"{KEY_ID}:{KEY_SECRET}"
SETTINGS = {"url": SITE, "admin_api_key": KEY}
ERRORS = json.loads((Path(__file__).parent / "data" / "ghost-errors.json").read_text())


def saved(post_id: str = "6650f1", slug: str = "contract-1", **extra: Any) -> dict[str, Any]:
    return {
        "posts": [
            {
                "id": post_id,
                "slug": slug,
                "status": "published",
                "url": f"{SITE}/{slug}/",
                "updated_at": "2026-12-03T10:00:00.000Z",
            }
            | extra
        ]
    }


def not_found(httpx_mock: HTTPXMock, slug: str) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{ADMIN}/posts/slug/{slug}/?fields=id%2Cslug%2Cupdated_at%2Curl%2Cstatus",
        status_code=404,
        json=ERRORS["not_found"],
    )


def channel(**settings: Any) -> GhostChannel:
    return GhostChannel.from_settings("ghost", SETTINGS | settings)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


class TestGhostContract(ChannelContract):
    channel_class = GhostChannel
    settings = SETTINGS
    secrets = (KEY_SECRET,)
    error_body: ClassVar[Any] = ERRORS["validation"]

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="GET", status_code=404, json=ERRORS["not_found"])
        httpx_mock.add_response(method="POST", url=f"{ADMIN}/posts/", status_code=201, json=saved())


def test_every_request_carries_a_fresh_admin_jwt(httpx_mock: HTTPXMock) -> None:
    not_found(httpx_mock, "opening")
    httpx_mock.add_response(method="POST", url=f"{ADMIN}/posts/", status_code=201, json=saved())
    deliver(channel(), Post(id="opening", title="Open", text="Today"))
    for request in httpx_mock.get_requests():
        scheme, token = request.headers["Authorization"].split(" ")
        assert scheme == "Ghost"
        assert request.headers["Accept-Version"] == "v5.0"
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": KEY_ID, "typ": "JWT"}
        claims = jwt.decode(
            token, bytes.fromhex(KEY_SECRET), algorithms=["HS256"], audience="/admin/"
        )
        assert claims["exp"] - claims["iat"] == 300  # Ghost refuses anything longer


def test_post_is_lexical_with_links_tags_and_feature_image(httpx_mock: HTTPXMock) -> None:
    not_found(httpx_mock, "bread-week")
    for name in ("one.png", "two.png"):
        httpx_mock.add_response(
            method="POST",
            url=f"{ADMIN}/images/upload/",
            status_code=201,
            json={"images": [{"url": f"{SITE}/content/images/2026/12/{name}", "ref": name}]},
        )
    httpx_mock.add_response(
        method="POST", url=f"{ADMIN}/posts/", status_code=201, json=saved(slug="bread-week")
    )
    post = Post(
        id="bread-week",
        title="Bread week",
        text="Rye on Monday\nSpelt on Tuesday\n\nMenu: https://bakery.example/menu",
        tags=["bakery", "bread"],
        media=[
            Media.from_bytes(png(), filename="one.png", alt="Rye loaves"),
            Media.from_bytes(png(), filename="two.png", alt="Spelt loaves"),
        ],
    )
    receipt = deliver(channel(), post)
    assert receipt.platform_id == "6650f1"
    assert receipt.url == f"{SITE}/bread-week/"
    upload = httpx_mock.get_requests(method="POST", url=f"{ADMIN}/images/upload/")[0]
    assert b'name="purpose"\r\n\r\nimage' in upload.content
    assert b'filename="one.png"' in upload.content
    fields = body(httpx_mock.get_requests(method="POST", url=f"{ADMIN}/posts/")[0])["posts"][0]
    assert fields["title"] == "Bread week"
    assert fields["slug"] == "bread-week"
    assert fields["status"] == "published"
    assert fields["tags"] == [{"name": "bakery"}, {"name": "bread"}]
    assert fields["feature_image"] == f"{SITE}/content/images/2026/12/one.png"
    assert fields["feature_image_alt"] == "Rye loaves"
    root = json.loads(fields["lexical"])["root"]
    first, second, card = root["children"]
    assert [n["type"] for n in first["children"]] == ["extended-text", "linebreak", "extended-text"]
    link = second["children"][1]
    assert link["type"] == "link"
    assert link["url"] == "https://bakery.example/menu"
    assert card["type"] == "image"
    assert card["src"].endswith("two.png")
    assert card["alt"] == "Spelt loaves"


def test_revision_two_edits_the_post_with_its_updated_at(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{ADMIN}/posts/slug/offer/?fields=id%2Cslug%2Cupdated_at%2Curl%2Cstatus",
        json=saved(slug="offer"),
    )
    httpx_mock.add_response(method="PUT", url=f"{ADMIN}/posts/6650f1/", json=saved(slug="offer"))
    receipt = deliver(channel(), Post(id="offer", revision=2, title="Offer", text="Now 25%"))
    assert receipt.extra["action"] == "updated"
    fields = body(httpx_mock.get_requests(method="PUT")[0])["posts"][0]
    assert fields["updated_at"] == "2026-12-03T10:00:00.000Z"


def test_a_post_without_title_takes_its_first_line() -> None:
    prepared = channel().prepare(Post(id="x", text="Fresh bread today\nmore"))
    assert prepared.payload["title"] == "Fresh bread today"
    assert any(c.kind == "title_from_text" for c in prepared.changes)


@pytest.mark.parametrize(
    ("status", "name", "expected", "code"),
    [
        (400, "invalid_jwt", AuthFailed, "INVALID_JWT"),
        (422, "validation", Permanent, "ValidationError"),
        (409, "update_collision", Transient, "UpdateCollisionError"),
        (429, "too_many_requests", RateLimited, "TooManyRequestsError"),
    ],
)
def test_real_error_bodies_are_classified(
    httpx_mock: HTTPXMock, status: int, name: str, expected: type[Exception], code: str
) -> None:
    not_found(httpx_mock, "e")
    httpx_mock.add_response(method="POST", status_code=status, json=ERRORS[name])
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(id="e", title="E", text="e"))
    assert getattr(caught.value, "platform_code", None) == code


def test_a_validation_error_names_the_field(httpx_mock: HTTPXMock) -> None:
    not_found(httpx_mock, "v")
    httpx_mock.add_response(method="POST", status_code=422, json=ERRORS["validation"])
    with pytest.raises(Permanent, match=r"posts\.title\] exceeds maximum length"):
        deliver(channel(), Post(id="v", title="V", text="v"))


def test_a_malformed_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        channel(admin_api_key="not-a-key-secretvalue")
    assert "admin_api_key" in str(caught.value)
    assert "secretvalue" not in str(caught.value)


def test_a_feature_image_given_by_url_is_not_uploaded(httpx_mock: HTTPXMock) -> None:
    not_found(httpx_mock, "remote")
    httpx_mock.add_response(method="POST", url=f"{ADMIN}/posts/", status_code=201, json=saved())
    media = Media.from_url("https://cdn.bakery.example/rye.jpg", mime_type="image/jpeg", alt="Rye")
    deliver(channel(), Post(id="remote", title="T", media=[media]))
    fields = body(httpx_mock.get_requests(method="POST")[0])["posts"][0]
    assert fields["feature_image"] == "https://cdn.bakery.example/rye.jpg"
    assert fields["feature_image_alt"] == "Rye"


@pytest.mark.parametrize(
    ("updated_at", "expected"),
    [("2026-12-03T10:00:05.000Z", Found), ("2026-12-03T09:59:00.000Z", Absent)],
)
def test_lookup_accepts_only_a_save_since_the_first_attempt(
    httpx_mock: HTTPXMock, updated_at: str, expected: type[Any]
) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{ADMIN}/posts/slug/offer/?fields=id%2Cslug%2Cupdated_at%2Curl%2Cstatus",
        json=saved(slug="offer", updated_at=updated_at),
    )
    first = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC).timestamp()
    result = lookup(channel(), Post(id="offer", title="O"), first_attempt_at=first)
    assert isinstance(result, expected)
    if isinstance(result, Found):
        assert result.receipt.url == f"{SITE}/offer/"


def test_lookup_of_a_missing_slug_is_absent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", status_code=404, json=ERRORS["not_found"])
    assert isinstance(lookup(channel(), Post(id="gone", title="G"), first_attempt_at=0.0), Absent)


def test_a_post_with_only_an_image_needs_a_title() -> None:
    with pytest.raises(ContentRejected, match="title"):
        channel().prepare(Post(id="x", media=[Media.from_bytes(png())]))
