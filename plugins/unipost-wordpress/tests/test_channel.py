"""The WordPress channel against pytest-httpx: requests, slug lookup, error bodies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_wordpress import WordPressChannel

from unipost import Media, Post
from unipost.errors import AuthFailed, ConfigurationError, ContentRejected, Forbidden, Permanent
from unipost.testing import ChannelContract, deliver, png

SITE = "https://blog.example"
API = f"{SITE}/wp-json/wp/v2"
PASSWORD = "abcd EFGH ijkl MNOP qrst UVWX"
SETTINGS = {"site": SITE, "username": "editor", "application_password": PASSWORD}
ERRORS = json.loads((Path(__file__).parent / "data" / "wordpress-errors.json").read_text())


def channel(**settings: Any) -> WordPressChannel:
    return WordPressChannel.from_settings("wordpress", SETTINGS | settings)


def saved(post_id: int = 42, slug: str = "contract-1") -> dict[str, Any]:
    return {"id": post_id, "slug": slug, "status": "publish", "link": f"{SITE}/{slug}/"}


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


class TestWordPressContract(ChannelContract):
    channel_class = WordPressChannel
    settings = SETTINGS
    secrets = (PASSWORD,)
    error_body: ClassVar[Any] = None

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="GET", json=[])
        httpx_mock.add_callback(echo_slug, method="POST", url=f"{API}/posts")


def echo_slug(request: httpx.Request) -> httpx.Response:
    """A created post under the slug that was asked for, as WordPress answers."""
    return httpx.Response(201, json=saved(slug=body(request)["slug"]))


def test_create_with_featured_image_and_tags(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=re.compile(r".*/posts\?slug=offer-1&.*"), json=[])
    httpx_mock.add_response(
        method="GET", url=re.compile(r".*/media\?slug=offer-1-[0-9a-f]{16}&.*"), json=[]
    )
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/media",
        status_code=201,
        json={"id": 7, "source_url": f"{SITE}/wp-content/uploads/pixel.png"},
    )
    httpx_mock.add_response(method="POST", url=f"{API}/tags", status_code=201, json={"id": 3})
    httpx_mock.add_response(
        method="POST", url=f"{API}/tags", status_code=400, json=ERRORS["term_exists"]
    )
    httpx_mock.add_response(
        method="POST", url=f"{API}/posts", status_code=201, json=saved(slug="offer-1")
    )
    post = Post(
        id="Offer 1",
        title="Offer",
        text="20% off",
        tags=["new", "bakery"],
        media=[Media.from_bytes(png(), filename="pixel.png", alt="A pixel")],
    )
    receipt = deliver(channel(categories=[5]), post)
    assert receipt.platform_id == "42"
    assert receipt.url == f"{SITE}/offer-1/"
    assert receipt.extra["action"] == "created"
    find = httpx_mock.get_requests(method="GET")[0]
    assert find.url.params["status"] == "publish,future,draft,pending,private"
    assert find.url.params["context"] == "edit"
    assert find.headers["Authorization"] == httpx.BasicAuth("editor", PASSWORD)._auth_header
    upload = httpx_mock.get_requests(url=f"{API}/media")[0]
    assert b'name="alt_text"\r\n\r\nA pixel' in upload.content
    assert b'filename="pixel.png"' in upload.content
    sent = body(httpx_mock.get_requests(url=f"{API}/posts")[0])
    assert sent == {
        "title": "Offer",
        "content": "<p>20% off</p>",
        "status": "publish",
        "slug": "offer-1",
        "featured_media": 7,
        "categories": [5],
        "tags": [3, 2],
    }


def test_an_existing_slug_is_updated_in_place(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", json=[saved(post_id=9, slug="offer")])
    httpx_mock.add_response(method="POST", url=f"{API}/posts/9", json=saved(9, "offer"))
    receipt = deliver(channel(), Post(id="offer", revision=2, title="Offer", text="25% off"))
    assert receipt.platform_id == "9"
    assert receipt.extra["action"] == "updated"


def test_an_existing_upload_is_reused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=re.compile(r".*/posts\?.*"), json=[])
    httpx_mock.add_response(
        method="GET",
        url=re.compile(r".*/media\?.*"),
        json=[{"id": 7, "source_url": f"{SITE}/p.png", "slug": "x"}],
    )
    httpx_mock.add_response(method="POST", url=f"{API}/posts", status_code=201, json=saved())
    post = Post(id="contract-1", title="T", media=[Media.from_bytes(png(), filename="p.png")])
    assert deliver(channel(), post).extra["featured_media"] == 7


def test_without_pretty_permalinks_rest_route_is_a_query_parameter(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", json=[])
    httpx_mock.add_response(method="POST", status_code=201, json=saved())
    deliver(channel(pretty_permalinks=False), Post(id="contract-1", title="T", text="x"))
    find, create = httpx_mock.get_requests()
    assert find.url.params["rest_route"] == "/wp/v2/posts"
    assert find.url.params["slug"] == "contract-1"
    assert str(create.url) == f"{SITE}/?rest_route=%2Fwp%2Fv2%2Fposts"


def test_a_slug_wordpress_changed_is_reported(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", json=[])
    httpx_mock.add_response(method="POST", status_code=201, json=saved(slug="contract-1-2"))
    with pytest.raises(Permanent, match="slug"):
        deliver(channel(), Post(id="contract-1", title="T", text="x"))


@pytest.mark.parametrize(
    ("status", "name", "expected", "code"),
    [
        (400, "forbidden_status_logged_out", AuthFailed, "rest_forbidden_status"),
        (400, "forbidden_status_subscriber", Forbidden, "rest_forbidden_status"),
        (401, "not_logged_in", AuthFailed, "rest_not_logged_in"),
        (401, "incorrect_password", AuthFailed, "incorrect_password"),
        (400, "invalid_param", Permanent, "rest_invalid_param"),
    ],
)
def test_real_error_bodies_are_classified(
    httpx_mock: HTTPXMock, status: int, name: str, expected: type[Exception], code: str
) -> None:
    httpx_mock.add_response(method="GET", status_code=status, json=ERRORS[name])
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(id="x", title="T", text="x"))
    assert getattr(caught.value, "platform_code", None) == code


def test_the_create_refusal_says_what_role_is_needed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", json=[])
    httpx_mock.add_response(method="POST", status_code=403, json=ERRORS["cannot_create_subscriber"])
    with pytest.raises(Forbidden, match="Author role"):
        deliver(channel(), Post(id="x", title="T", text="x"))


def test_a_post_without_title_takes_its_first_line() -> None:
    prepared = channel().prepare(Post(id="x", text="Fresh bread today\nmore"))
    assert prepared.payload["title"] == "Fresh bread today"
    assert any(c.kind == "title_from_text" for c in prepared.changes)


@pytest.mark.parametrize(
    ("post_id", "slug"),
    [("offer-2026-12-01", "offer-2026-12-01"), ("Café Crème!", "cafe-creme"), ("***", None)],
)
def test_slugs_come_from_the_post_id(post_id: str, slug: str | None) -> None:
    got = channel().prepare(Post(id=post_id, title="T")).payload["slug"]
    if slug is None:
        assert got.startswith("post-")
    else:
        assert got == slug


def test_plain_http_to_another_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        channel(site="http://blog.example")


def test_media_given_only_by_url_is_refused_before_sending() -> None:
    media = Media.from_url("https://cdn.bakery.example/rye.jpg", mime_type="image/jpeg")
    with pytest.raises(ContentRejected, match=r"Media\.from_path"):
        channel().prepare(Post(id="x", title="T", media=[media]))


def test_an_html_page_instead_of_the_api_names_the_setting(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", html="<!doctype html><title>Bakery</title>")
    with pytest.raises(Permanent, match="pretty_permalinks = false"):
        deliver(channel(), Post(id="x", title="T", text="x"))


def test_an_image_only_post_has_an_empty_title() -> None:
    prepared = channel().prepare(Post(id="x", media=[Media.from_bytes(png())]))
    assert prepared.payload["title"] == ""
