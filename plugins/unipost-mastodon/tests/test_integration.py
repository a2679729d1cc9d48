"""Against mastodon-mock, a third-party fake of the Mastodon API (no real server installs here)."""

from __future__ import annotations

import pytest
from unipost_mastodon import MastodonChannel

from unipost import Media, Post
from unipost.testing import check, deliver, png

from .conftest import MockServer

pytestmark = pytest.mark.integration


def channel(server: MockServer) -> MastodonChannel:
    return MastodonChannel.from_settings(
        "mastodon", {"instance": server.base, "token": server.token}
    )


def test_text_and_image_are_published_and_read_back(mastodon_server: MockServer) -> None:
    ch = channel(mastodon_server)
    media = Media.from_bytes(png(), filename="pixel.png", alt="One red pixel")
    receipt = deliver(
        ch, Post(text="Fresh croissants from unipost", media=[media]), delivery_key="it-image"
    )
    got = mastodon_server.get(f"/api/v1/statuses/{receipt.platform_id}").json()
    assert "Fresh croissants from unipost" in got["content"]
    assert got["media_attachments"][0]["type"] == "image"
    assert got["media_attachments"][0]["description"] == "One red pixel"
    assert receipt.url == got["url"]


def test_same_delivery_key_twice_gives_one_status(mastodon_server: MockServer) -> None:
    """A retry after a lost answer reuses the key; the server returns the first status."""
    ch = channel(mastodon_server)
    post = Post(text="Posted exactly once", id="once")
    first = deliver(ch, post, delivery_key="it-retry-1")
    second = deliver(ch, post, delivery_key="it-retry-1")
    assert first.platform_id == second.platform_id
    account = mastodon_server.get("/api/v1/accounts/verify_credentials").json()
    statuses = mastodon_server.get(f"/api/v1/accounts/{account['id']}/statuses?limit=40").json()
    assert sum("Posted exactly once" in s["content"] for s in statuses) == 1


def test_a_long_text_becomes_a_thread(mastodon_server: MockServer) -> None:
    ch = channel(mastodon_server)
    text = " ".join(f"Part of a long announcement, sentence {n}." for n in range(25))
    receipt = deliver(ch, Post(text=text), delivery_key="it-thread")
    thread = receipt.extra["thread"]
    assert len(thread) >= 2
    last = mastodon_server.get(f"/api/v1/statuses/{thread[-1]}").json()
    assert last["in_reply_to_id"] == thread[-2]


def test_check_names_the_account_and_limits(mastodon_server: MockServer) -> None:
    summary = check(channel(mastodon_server))
    assert "@alice" in summary
    assert "500 characters" in summary
