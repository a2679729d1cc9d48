"""The Pinterest flow against pytest-httpx; every pin request checked against the v5 spec."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_pinterest import PinterestChannel

import unipost
from unipost import Media, Post
from unipost.errors import AuthFailed, ContentRejected, Permanent, RateLimited
from unipost.plugins import default_host
from unipost.testing import ChannelContract, check, deliver, png

from .conftest import API, PIN, SPEC, error

TOKEN = "pina_pinterest-access-token-0123456789"
SETTINGS: dict[str, Any] = {"access_token": TOKEN, "board_id": "999658517227244888"}
IMAGE = Media.from_bytes(png(), filename="croissants.png", alt="A tray of croissants")


def channel(**settings: Any) -> PinterestChannel:
    return PinterestChannel.from_settings("pinterest", SETTINGS | settings)


class TestPinterestContract(ChannelContract):
    channel_class = PinterestChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    sample_post: ClassVar[Post] = Post(
        text="We're open today 9-5! 20% off all pastries.", media=[IMAGE], id="contract-1"
    )
    error_body: ClassVar[Any] = {"code": 1, "message": "Invalid parameters."}

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        httpx_mock.add_response(method="POST", url=f"{API}/pins", status_code=201, json=PIN)


def test_pin_with_uploaded_image(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/pins", status_code=201, json=PIN)
    post = Post(
        title="Croissants",
        text="Fresh every morning",
        link="https://bakery.example/croissants",
        media=[IMAGE],
        tags=["bakery"],
    )
    receipt = deliver(channel(board_section_id="5258814934636085108"), post)
    request = httpx_mock.get_request()
    assert request is not None
    assert SPEC.validate(request) == "pins/create"
    assert json.loads(request.content) == {
        "board_id": "999658517227244888",
        "board_section_id": "5258814934636085108",
        "media_source": {
            "source_type": "image_base64",
            "content_type": "image/png",
            "data": base64.b64encode(png()).decode(),
        },
        "title": "Croissants",
        "description": "Fresh every morning\n\n#bakery",
        "link": "https://bakery.example/croissants",
        "alt_text": "A tray of croissants",
    }
    assert receipt.platform_id == "999658448514149467"
    assert receipt.url == "https://www.pinterest.com/pin/999658448514149467/"


def test_pin_with_image_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/pins", json=PIN)
    media = Media.from_url("https://bakery.example/c.jpg", mime_type="image/jpeg")
    deliver(channel(), Post(text="x", media=[media]))
    request = httpx_mock.get_request()
    assert request is not None
    SPEC.validate(request)
    assert json.loads(request.content)["media_source"] == {
        "source_type": "image_url",
        "url": "https://bakery.example/c.jpg",
    }


@pytest.mark.parametrize(
    ("post", "field"),
    [
        (Post(text="no image"), "pinterest.media"),
        (Post(title="T" * 101, text="x", media=[IMAGE]), "pinterest.title"),
        (
            Post(text="x", media=[Media.from_bytes(png(), filename="a.png", alt="a" * 501)]),
            "pinterest.media[0].alt",
        ),
        (
            Post(text="x", media=[Media.from_bytes(b"GIF89a" + b"\x00" * 64, filename="a.gif")]),
            "pinterest.media[0]",
        ),
    ],
)
def test_what_pinterest_refuses_is_refused_before_sending(post: Post, field: str) -> None:
    with pytest.raises(ContentRejected) as caught:
        channel().prepare(post)
    assert caught.value.field == field


def test_the_spec_catches_a_wrong_pin() -> None:
    bad = httpx.Request("POST", f"{API}/pins", json={"board_id": "b", "media_source": {}})
    with pytest.raises(AssertionError):
        SPEC.validate(bad)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("unauthorized", AuthFailed),
        ("rate_limited", RateLimited),
        ("invalid", Permanent),
        ("not_found", Permanent),
    ],
)
def test_error_bodies(httpx_mock: HTTPXMock, name: str, expected: type[Exception]) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/pins", **error(name))
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x", media=[IMAGE]))
    assert caught.value.platform_code is not None  # type: ignore[attr-defined]


def test_check_names_account_and_board(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{API}/user_account", json={"account_type": "BUSINESS", "username": "bakery"}
    )
    httpx_mock.add_response(
        url=f"{API}/boards/999658517227244888", json={"id": "999658517227244888", "name": "Breads"}
    )
    assert check(channel()) == "@bakery (BUSINESS), board 'Breads'"


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
    default_host().register_plugin(store, "pinterest-test-vault")
    try:
        yield store
    finally:
        default_host()._pm.unregister(store)


def test_refresh_uses_basic_auth_and_stores_the_new_token(
    httpx_mock: HTTPXMock, vault: Vault
) -> None:
    ch = channel(refresh_token="pinr_1", client_id="1484", client_secret="app-secret-123")
    httpx_mock.add_response(method="POST", url=f"{API}/pins", **error("unauthorized"))
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/oauth/token",
        json={
            "access_token": "pina_2",
            "refresh_token": "pinr_2",
            "response_type": "refresh_token",
            "token_type": "bearer",
            "expires_in": 2592000,
            "refresh_token_expires_in": 5184000,
            "scope": "boards:read,pins:write",
        },
    )
    httpx_mock.add_response(method="POST", url=f"{API}/pins", json=PIN)
    deliver(ch, Post(text="x", media=[IMAGE]))
    refresh = httpx_mock.get_requests(url=f"{API}/oauth/token")[0]
    assert (
        refresh.headers["Authorization"]
        == "Basic " + base64.b64encode(b"1484:app-secret-123").decode()
    )
    assert [k["refresh_token"] for k in vault.kept] == ["pinr_2"]
    assert httpx_mock.get_requests(url=f"{API}/pins")[1].headers["Authorization"] == "Bearer pina_2"
