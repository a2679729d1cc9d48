"""The Matrix channel with pytest-httpx: requests, txnIds, errors."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from unipost_matrix import MatrixChannel, classify_response, transaction_id

from unipost import Media, Post, errors
from unipost.testing import deliver, png

from .conftest import error

NOW = 1764770000.0  # the dispatcher's clock, as classify() is given it

TOKEN = "syt_YWxpY2U_unit_token_0123456789"
HS = "https://matrix.example.org"
ROOM = "!bakery:example.org"
SEND = re.compile(
    rf"^{re.escape(HS)}/_matrix/client/v3/rooms/%21bakery%3Aexample\.org/send/m\.room\.message/.+$"
)
UPLOAD = re.compile(rf"^{re.escape(HS)}/_matrix/media/v3/upload\?filename=.+$")


def matrix(**settings: Any) -> MatrixChannel:
    return MatrixChannel(
        homeserver="matrix.example.org", access_token=TOKEN, room_id=ROOM, **settings
    )


def test_the_txn_id_comes_from_the_delivery_key(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=SEND, json={"event_id": "$a:example.org"})
    receipt = deliver(matrix(), Post(text="hi"), delivery_key="up1-abc")
    request = httpx_mock.get_request()
    assert request.method == "PUT"
    assert request.url.path.endswith("/send/m.room.message/unipost.up1-abc.0")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "msgtype": "m.text",
        "body": "hi",
        "format": "org.matrix.custom.html",
        "formatted_body": "hi",
    }
    assert receipt.platform_id == "$a:example.org"
    assert transaction_id("up1-abc", 2) == "unipost.up1-abc.2"


def test_images_are_uploaded_then_sent_as_m_image(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=UPLOAD, json={"content_uri": "mxc://example.org/AbC"})
    httpx_mock.add_response(url=SEND, json={"event_id": "$text:example.org"})
    httpx_mock.add_response(url=SEND, json={"event_id": "$image:example.org"})
    media = Media.from_bytes(png(2, 1), filename="bread.png")
    receipt = deliver(
        matrix(msgtype="m.notice"), Post(text="Bread", media=[media]), delivery_key="k1"
    )
    upload, text, image = httpx_mock.get_requests()
    assert upload.headers["content-type"] == "image/png"
    assert upload.content == png(2, 1)
    assert upload.url.params["filename"] == "bread.png"
    assert json.loads(text.content)["msgtype"] == "m.notice"
    assert image.url.path.endswith("/unipost.k1.1")
    assert json.loads(image.content) == {
        "msgtype": "m.image",
        "body": "bread.png",
        "filename": "bread.png",
        "url": "mxc://example.org/AbC",
        "info": {"mimetype": "image/png", "size": len(png(2, 1)), "w": 2, "h": 1},
    }
    assert receipt.extra["events"] == ["$text:example.org", "$image:example.org"]


def test_limit_exceeded_waits_retry_after_ms() -> None:
    request = httpx.Request("PUT", f"{HS}/x")
    limited = classify_response(httpx.Response(request=request, **error("limit_exceeded")), now=NOW)
    assert isinstance(limited, errors.RateLimited)
    assert limited.retry_after == 2.0


def test_soft_logout_says_so(httpx_mock: Any) -> None:
    httpx_mock.add_response(url=SEND, **error("unknown_token"))
    with pytest.raises(errors.AuthFailed, match="soft logout"):
        deliver(matrix(), Post(text="hi"))


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(errors.ConfigurationError, match="room_id must be a room id"):
        MatrixChannel.from_settings(
            "m", {"homeserver": HS, "access_token": TOKEN, "room_id": "#bakery:example.org"}
        )


def test_the_failure_domain_is_the_homeserver() -> None:
    assert matrix().failure_domain == "matrix.example.org"


def test_links_name_the_server_only_when_the_room_id_has_one() -> None:
    assert matrix().event_url("$e:example.org") == (
        "https://matrix.to/#/%21bakery%3Aexample.org/%24e%3Aexample.org?via=example.org"
    )
    v12 = MatrixChannel(homeserver=HS, access_token=TOKEN, room_id="!m-iPk9jNzSAcsSl5xShF")
    assert v12.event_url("$e") == "https://matrix.to/#/%21m-iPk9jNzSAcsSl5xShF/%24e"
