"""The Micropub channel against pytest-httpx: mf2 JSON, media endpoint, Location, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_micropub import MicropubChannel

from unipost import Media, Post
from unipost.errors import Ambiguous, AuthFailed, Forbidden, Permanent
from unipost.testing import ChannelContract, deliver, png

ENDPOINT = "https://blog.example/micropub"
MEDIA = "https://blog.example/micropub/media"
TOKEN = "indieauth-token-123"
SETTINGS = {"endpoint": ENDPOINT, "token": TOKEN}
ERRORS = json.loads((Path(__file__).parent / "data" / "micropub-errors.json").read_text())
ENTRY = "https://blog.example/2026/12/03/1"


def channel(**settings: Any) -> MicropubChannel:
    return MicropubChannel.from_settings("micropub", SETTINGS | settings)


def created(httpx_mock: HTTPXMock, status: int = 201) -> None:
    httpx_mock.add_response(
        method="POST", url=ENDPOINT, status_code=status, headers={"Location": ENTRY}
    )


class TestMicropubContract(ChannelContract):
    channel_class = MicropubChannel
    settings = SETTINGS
    secrets = (TOKEN,)
    error_body: ClassVar[Any] = ERRORS["invalid_request"]

    def arrange_success(self, httpx_mock: HTTPXMock) -> None:
        created(httpx_mock)


def test_h_entry_as_mf2_json(httpx_mock: HTTPXMock) -> None:
    created(httpx_mock)
    post = Post(title="Hours", text="Open 9-5", tags=["bakery"], link="https://bakery.example")
    receipt = deliver(channel(syndicate_to=["https://social.example/@bakery"]), post)
    assert receipt.platform_id == receipt.url == ENTRY
    request = httpx_mock.get_requests()[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "type": ["h-entry"],
        "properties": {
            "content": ["Open 9-5\n\nhttps://bakery.example"],
            "name": ["Hours"],
            "category": ["bakery"],
            "mp-syndicate-to": ["https://social.example/@bakery"],
        },
    }


def test_202_accepted_with_a_relative_location(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=ENDPOINT, status_code=202, headers={"Location": "/notes/7"}
    )
    receipt = deliver(channel(), Post(text="x"))
    assert receipt.url == "https://blog.example/notes/7"
    assert receipt.extra == {"accepted": True}


def test_no_location_is_not_a_success(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=ENDPOINT, status_code=200)
    with pytest.raises(Ambiguous, match="Location"):
        deliver(channel(), Post(text="x"))


def test_files_go_to_the_discovered_media_endpoint_then_photo_with_alt(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(
        method="GET", url=f"{ENDPOINT}?q=config", json={"media-endpoint": MEDIA}
    )
    httpx_mock.add_response(
        method="POST", url=MEDIA, status_code=201, headers={"Location": f"{MEDIA}/a.png"}
    )
    created(httpx_mock)
    image = png()
    deliver(channel(), Post(text="Rye", media=[Media.from_bytes(image, filename="a.png", alt="A")]))
    upload = httpx_mock.get_requests(url=MEDIA)[0]
    assert b'name="file"; filename="a.png"' in upload.content
    assert image in upload.content
    entry = json.loads(httpx_mock.get_requests(url=ENDPOINT)[0].content)
    assert entry["properties"]["photo"] == [{"value": f"{MEDIA}/a.png", "alt": "A"}]


def test_an_endpoint_query_string_is_kept_for_q_config(httpx_mock: HTTPXMock) -> None:
    endpoint = "https://blog.example/?micropub=1"
    httpx_mock.add_response(method="GET", url=f"{endpoint}&q=config", json={})
    httpx_mock.add_response(
        method="POST", url=endpoint, status_code=201, headers={"Location": ENTRY}
    )
    deliver(channel(endpoint=endpoint), Post(text="x", media=[Media.from_bytes(png())]))
    # no media endpoint: the whole entry went as multipart with the file (§3.3.1)
    create = httpx_mock.get_requests(method="POST")[0]
    assert create.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="h"\r\n\r\nentry' in create.content
    assert b'name="photo"; filename=' in create.content


def test_an_endpoint_that_refuses_photo_objects_gets_plain_urls(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=MEDIA, status_code=201, headers={"Location": f"{MEDIA}/a.png"}
    )
    httpx_mock.add_response(
        method="POST", url=ENDPOINT, status_code=400, text=ERRORS["plain_invalid_request"]
    )
    created(httpx_mock)
    post = Post(text="x", media=[Media.from_bytes(png(), alt="A")])
    receipt = deliver(channel(media_endpoint=MEDIA), post)
    assert receipt.extra["alt_text_dropped"] is True
    retry = json.loads(httpx_mock.get_requests(url=ENDPOINT)[1].content)
    assert retry["properties"]["photo"] == [f"{MEDIA}/a.png"]


@pytest.mark.parametrize(
    ("status", "name", "expected", "code"),
    [
        (400, "invalid_request", Permanent, "invalid_request"),
        (401, "insufficient_scope", AuthFailed, "insufficient_scope"),
        (403, "insufficient_scope", AuthFailed, "insufficient_scope"),
        (403, "forbidden", Forbidden, "forbidden"),
    ],
)
def test_spec_errors_are_classified(
    httpx_mock: HTTPXMock, status: int, name: str, expected: type[Exception], code: str
) -> None:
    httpx_mock.add_response(method="POST", url=ENDPOINT, status_code=status, json=ERRORS[name])
    with pytest.raises(expected) as caught:
        deliver(channel(), Post(text="x"))
    assert getattr(caught.value, "platform_code", None) == code


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (401, "plain_authentication_error", AuthFailed),
        (403, "plain_authorization_error", Forbidden),
        (400, "plain_invalid_request", Permanent),
    ],
)
def test_plain_text_errors_are_read_too(
    httpx_mock: HTTPXMock, status: int, name: str, expected: type[Exception]
) -> None:
    httpx_mock.add_response(method="POST", url=ENDPOINT, status_code=status, text=ERRORS[name])
    with pytest.raises(expected, match=ERRORS[name]):
        deliver(channel(), Post(text="x"))


def test_a_bad_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        channel(endpoint="blog.example/micropub")


def test_the_token_never_goes_in_the_body(httpx_mock: HTTPXMock) -> None:
    created(httpx_mock)
    deliver(channel(), Post(text="x"))
    request: httpx.Request = httpx_mock.get_requests()[0]
    assert TOKEN.encode() not in request.content


def test_media_given_by_url_is_referenced_not_uploaded(httpx_mock: HTTPXMock) -> None:
    created(httpx_mock)
    media = Media.from_url("https://cdn.bakery.example/rye.jpg", mime_type="image/jpeg", alt="Rye")
    deliver(channel(), Post(text="x", media=[media]))
    entry = json.loads(httpx_mock.get_requests()[0].content)  # no q=config, no upload
    assert entry["properties"]["photo"] == [
        {"value": "https://cdn.bakery.example/rye.jpg", "alt": "Rye"}
    ]
