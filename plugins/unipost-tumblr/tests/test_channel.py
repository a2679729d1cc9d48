"""The Tumblr channel against pytest-httpx: NPF blocks, multipart media, OAuth 2, subcodes."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_tumblr import TumblrChannel

from unipost import Media, Post
from unipost.errors import AuthFailed, Permanent, QuotaExhausted, RateLimited, Transient
from unipost.testing import ChannelContract, deliver, png

POSTS = "https://api.tumblr.com/v2/blog/bakery.tumblr.com/posts"
TOKEN_URL = "https://api.tumblr.com/v2/oauth2/token"
ACCESS = "tumblr-access-token-1"
REFRESH = "tumblr-refresh-token-1"
CLIENT_SECRET = "tumblr-client-secret-1"
SETTINGS = {"blog": "bakery", "access_token": ACCESS}
DATA = json.loads((Path(__file__).parent / "data" / "tumblr-responses.json").read_text())


def channel(**settings: Any) -> TumblrChannel:
    return TumblrChannel.from_settings("tumblr", SETTINGS | settings)


def parts(request: httpx.Request) -> dict[str, Any]:
    """The multipart body, part by part (name → (headers, payload))."""
    raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(raw + request.content)
    out = {}
    for part in message.iter_parts():
        out[part.get_param("name", header="content-disposition")] = part
    return out


class TestTumblrContract(ChannelContract):
    channel_class = TumblrChannel
    settings = SETTINGS
    secrets = (ACCESS,)
    error_body: ClassVar[Any] = DATA["bad_npf"]

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])


def test_text_post_is_npf_with_heading_link_formatting_and_link_block(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])
    post = Post(
        title="Bread week",
        text="Rye on Monday 🍞 see https://bakery.example/rye\nSpelt on Tuesday",
        link="https://bakery.example/menu",
        tags=["bakery", "bread"],
    )
    receipt = deliver(channel(), post)
    assert receipt.platform_id == "1234567891234567"
    assert receipt.url == "https://www.tumblr.com/bakery/1234567891234567"
    request = httpx_mock.get_requests()[0]
    assert request.headers["Authorization"] == f"Bearer {ACCESS}"
    assert request.headers["User-Agent"].startswith("unipost/")
    body = json.loads(request.content)
    assert body["state"] == "published"
    assert body["tags"] == "bakery,bread"
    heading, first, second, link = body["content"]
    assert heading == {"type": "text", "text": "Bread week", "subtype": "heading1"}
    text = first["text"]
    span = first["formatting"][0]
    # offsets count code points: the emoji before the URL is one, not two (UTF-16) or four
    assert text[span["start"] : span["end"]] == "https://bakery.example/rye"
    assert span == {"start": 20, "end": 46, "type": "link", "url": "https://bakery.example/rye"}
    assert second == {"type": "text", "text": "Spelt on Tuesday"}
    assert link == {"type": "link", "url": "https://bakery.example/menu"}


def test_images_go_as_multipart_with_identifiers(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])
    image = png()
    post = Post(text="Fresh", media=[Media.from_bytes(image, filename="rye.png", alt="Rye")])
    deliver(channel(state="queue"), post)
    sent = parts(httpx_mock.get_requests()[0])
    assert list(sent) == ["json", "unipost-media-0"]
    body = json.loads(sent["json"].get_content())
    assert sent["json"].get_content_type() == "application/json"
    assert body["state"] == "queue"
    block = body["content"][-1]
    assert block["type"] == "image"
    assert block["alt_text"] == "Rye"
    assert block["media"][0]["identifier"] == "unipost-media-0"
    assert block["media"][0]["type"] == "image/png"
    assert sent["unipost-media-0"].get_content() == image


def test_a_long_paragraph_becomes_several_text_blocks() -> None:
    prepared = channel().prepare(Post(text="word " * 2000))
    texts = [b["text"] for b in prepared.payload["content"]]
    assert len(texts) == 3
    assert all(len(t) <= 4096 for t in texts)


def test_a_custom_domain_blog_links_to_its_own_host(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url="https://api.tumblr.com/v2/blog/blog.bakery.example/posts",
        status_code=201,
        json=DATA["created"],
    )
    receipt = deliver(channel(blog="blog.bakery.example"), Post(text="x"))
    assert receipt.url == "https://blog.bakery.example/post/1234567891234567"


def test_a_401_renews_the_token_and_posts_once_more(httpx_mock: HTTPXMock) -> None:
    ch = channel(refresh_token=REFRESH, client_id="client-1", client_secret=CLIENT_SECRET)
    httpx_mock.add_response(method="POST", url=POSTS, status_code=401, json=DATA["unauthorized"])
    httpx_mock.add_response(method="POST", url=TOKEN_URL, json=DATA["token"])
    httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])
    httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])
    deliver(ch, Post(text="one"))
    deliver(ch, Post(text="two"))
    refresh = httpx_mock.get_requests(url=TOKEN_URL)[0]
    assert {k: v[0] for k, v in parse_qs(refresh.content.decode()).items()} == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "client_id": "client-1",
        "client_secret": CLIENT_SECRET,
    }
    auths = [r.headers["Authorization"] for r in httpx_mock.get_requests(url=POSTS)]
    assert auths == [f"Bearer {ACCESS}", "Bearer tumblr-access-2", "Bearer tumblr-access-2"]


def test_without_a_refresh_token_a_401_is_auth_failed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=401, json=DATA["unauthorized"])
    with pytest.raises(AuthFailed):
        deliver(channel(), Post(text="x"))


def test_a_refresh_token_needs_the_app_credentials() -> None:
    with pytest.raises(ValueError, match="client_id and client_secret"):
        channel(refresh_token=REFRESH)


@pytest.mark.parametrize(
    ("status", "name", "expected", "code"),
    [
        (400, "bad_npf", Permanent, "8001"),
        (403, "daily_posts", QuotaExhausted, "8023"),
        (403, "daily_media", QuotaExhausted, "8004"),
        (500, "upload_error", Transient, "8006"),
        (429, "limit_exceeded", RateLimited, None),
    ],
)
def test_documented_errors_are_classified(
    httpx_mock: HTTPXMock, status: int, name: str, expected: type[Exception], code: str | None
) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=status, json=DATA[name])
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x"))
    assert getattr(caught.value, "platform_code", None) == code


def test_the_daily_post_limit_waits_until_tomorrow(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=403, json=DATA["daily_posts"])
    with pytest.raises(QuotaExhausted) as caught:
        deliver(channel(), Post(text="x"))
    assert caught.value.retry_after is not None
    assert 60 <= caught.value.retry_after <= 86_400


def test_a_bad_blog_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="blog"):
        channel(blog="not a blog")


def test_media_given_by_url_is_referenced_in_json(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=POSTS, status_code=201, json=DATA["created"])
    media = Media.from_url("https://cdn.bakery.example/rye.jpg", mime_type="image/jpeg")
    deliver(channel(), Post(text="x", media=[media]))
    request = httpx_mock.get_requests()[0]
    assert request.headers["Content-Type"] == "application/json"
    block = json.loads(request.content)["content"][-1]
    assert block["media"] == [{"type": "image/jpeg", "url": "https://cdn.bakery.example/rye.jpg"}]
