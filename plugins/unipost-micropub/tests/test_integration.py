"""Against django-indieweb's real Micropub and media endpoints (see conftest)."""

from __future__ import annotations

import pytest
from unipost_micropub import MicropubChannel

from unipost import Media, Post
from unipost.errors import AuthFailed, Forbidden
from unipost.testing import check, deliver, png

from .conftest import MicropubServer

pytestmark = pytest.mark.integration


def channel(server: MicropubServer, **extra: object) -> MicropubChannel:
    settings = {"endpoint": server.endpoint, "token": server.token} | extra
    return MicropubChannel.from_settings("micropub", settings)


def test_h_entry_is_created_and_location_returned(micropub: MicropubServer) -> None:
    post = Post(title="Opening hours", text="Open 9-5 today", tags=["bakery", "hours"])
    receipt = deliver(channel(micropub), post)
    assert receipt.url is not None
    assert receipt.url.startswith(micropub.base + "/")
    assert receipt.platform_id == receipt.url
    source = micropub.source(receipt.url)
    assert source["type"] == ["h-entry"]
    assert source["properties"]["content"] == ["Open 9-5 today"]
    assert source["properties"]["name"] == ["Opening hours"]
    assert source["properties"]["category"] == ["bakery", "hours"]


def test_image_goes_through_the_discovered_media_endpoint(micropub: MicropubServer) -> None:
    image = png()
    post = Post(text="New bread", media=[Media.from_bytes(image, filename="bread.png", alt="Rye")])
    receipt = deliver(channel(micropub), post)
    assert receipt.url is not None
    photo = micropub.source(receipt.url)["properties"]["photo"][0]
    # django-indieweb 0.6.2 refuses the {"value", "alt"} form with 400; the channel sent the
    # plain URL instead and says so.
    assert receipt.extra["alt_text_dropped"] is True
    assert photo.startswith(micropub.base + "/media/")
    stored = [p.read_bytes() for p in micropub.media_root.rglob("*") if p.is_file()]
    assert image in stored  # the media endpoint kept the very bytes sent


def test_a_wrong_token_is_auth_failed(micropub: MicropubServer) -> None:
    with pytest.raises(AuthFailed) as caught:
        deliver(channel(micropub, token="not-a-real-token"), Post(text="x"))
    assert caught.value.status == 401
    assert "authentication error" in str(caught.value)  # django-indieweb's plain-text body


def test_a_token_without_create_scope_is_refused(micropub: MicropubServer) -> None:
    with pytest.raises(Forbidden) as caught:
        deliver(channel(micropub, token=micropub.media_only_token), Post(text="x"))
    assert caught.value.status == 403
    assert "authorization error" in str(caught.value)  # plain text, not the spec's JSON


def test_check_reports_the_media_endpoint(micropub: MicropubServer) -> None:
    summary = check(channel(micropub))
    assert summary.startswith("Micropub at 127.0.0.1: media endpoint http")


def test_startup_is_bounded(micropub: MicropubServer) -> None:
    assert micropub.startup < 60
