"""Against a real WordPress 6.1 on MariaDB, started by the session fixture (see conftest)."""

from __future__ import annotations

import time

import httpx
import pytest
from unipost_wordpress import WordPressChannel

from unipost import Media, Post
from unipost.channel import Absent, Found
from unipost.dispatcher import Dispatcher
from unipost.errors import AuthFailed, Forbidden
from unipost.outbox import MemoryStore
from unipost.testing import VirtualClock, check, deliver, lookup, png

from .conftest import WordPressServer

pytestmark = pytest.mark.integration


def channel(server: WordPressServer, **extra: object) -> WordPressChannel:
    return WordPressChannel.from_settings("wordpress", server.settings(**extra))


def test_post_with_featured_image_is_published_and_read_back(wordpress: WordPressServer) -> None:
    image = png()
    post = Post(
        id="croissant-day",
        title="Croissant day",
        text="Fresh croissants from 7am.\n\nSee https://bakery.example/menu",
        media=[Media.from_bytes(image, filename="croissants.png", alt="A tray of croissants")],
    )
    receipt = deliver(channel(wordpress), post)
    got = wordpress.get(f"/wp/v2/posts/{receipt.platform_id}", context="edit")
    assert got["title"]["raw"] == "Croissant day"
    assert got["slug"] == "croissant-day"
    assert got["status"] == "publish"
    assert "<p>Fresh croissants from 7am.</p>" in got["content"]["raw"]
    assert '<a href="https://bakery.example/menu">' in got["content"]["raw"]
    assert receipt.url == got["link"]
    assert httpx.get(receipt.url, timeout=30).status_code == 200  # the public page exists
    media = wordpress.get(f"/wp/v2/media/{got['featured_media']}", context="edit")
    assert media["alt_text"] == "A tray of croissants"
    assert httpx.get(media["source_url"], timeout=30).content == image


def test_revision_two_edits_the_same_post(wordpress: WordPressServer) -> None:
    ch = channel(wordpress)
    image = Media.from_bytes(png(), filename="offer.png", alt="The offer")
    first = deliver(
        ch, Post(id="offer-week-49", revision=1, title="Offer", text="20% off", media=[image])
    )
    second = deliver(
        ch,
        Post(
            id="offer-week-49", revision=2, title="Offer (extended)", text="25% off", media=[image]
        ),
    )
    assert second.platform_id == first.platform_id
    assert (first.extra["action"], second.extra["action"]) == ("created", "updated")
    found = wordpress.get("/wp/v2/posts", slug="offer-week-49", status="publish,draft")
    assert [p["id"] for p in found] == [int(first.platform_id)]
    assert found[0]["title"]["rendered"] == "Offer (extended)"
    assert "25% off" in found[0]["content"]["rendered"]
    revisions = wordpress.get(f"/wp/v2/posts/{first.platform_id}/revisions")
    assert revisions[0]["title"]["rendered"] == "Offer (extended)"  # WordPress's revision log
    # The image was uploaded once and reused by the edit.
    assert second.extra["featured_media"] == first.extra["featured_media"]
    attachments = wordpress.get("/wp/v2/media", parent=first.platform_id, per_page="100")
    assert len(attachments) <= 1


def test_dispatcher_publishes_and_edits_through_the_outbox(wordpress: WordPressServer) -> None:
    ch = channel(wordpress, status="draft")
    with Dispatcher(channels={ch.id: ch}, store=MemoryStore(), clock=VirtualClock()) as dispatcher:
        one = dispatcher.publish(Post(id="news-1", title="News", text="First"), to=ch.id)
        two = dispatcher.publish(
            Post(id="news-1", revision=2, title="News", text="Second"), to=ch.id
        )
    assert one.ok, str(one)
    assert two.ok, str(two)
    assert one[ch.id].platform_id == two[ch.id].platform_id
    got = wordpress.get(f"/wp/v2/posts/{one[ch.id].platform_id}", context="edit")
    assert got["status"] == "draft"
    assert got["content"]["raw"] == "<p>Second</p>"


def test_tags_are_created_once_and_reused(wordpress: WordPressServer) -> None:
    ch = channel(wordpress)
    a = deliver(ch, Post(id="tagged-a", title="A", text="a", tags=["bakery", "Offers"]))
    b = deliver(ch, Post(id="tagged-b", title="B", text="b", tags=["bakery"]))
    tags_a = wordpress.get(f"/wp/v2/posts/{a.platform_id}")["tags"]
    tags_b = wordpress.get(f"/wp/v2/posts/{b.platform_id}")["tags"]
    assert len(tags_a) == 2
    assert tags_b[0] in tags_a  # "bakery" came back as term_exists with its id
    names = {t["name"] for t in wordpress.get("/wp/v2/tags", per_page="100")}
    assert {"bakery", "Offers"} <= names


def test_without_pretty_permalinks_the_rest_route_form_works(wordpress: WordPressServer) -> None:
    receipt = deliver(
        channel(wordpress, pretty_permalinks=False), Post(id="plain-route", title="Plain", text="x")
    )
    assert wordpress.get(f"/wp/v2/posts/{receipt.platform_id}")["slug"] == "plain-route"


def test_wrong_application_password_is_auth_failed(wordpress: WordPressServer) -> None:
    ch = channel(wordpress, application_password="abcd efgh ijkl mnop qrst uvwx")
    with pytest.raises(AuthFailed) as caught:
        deliver(ch, Post(id="never", title="Never", text="x"))
    # WordPress 6.1 answers a wrong application password as a logged-out request: the
    # draft lookup is refused with 401 rest_forbidden_status inside rest_invalid_param.
    assert caught.value.platform_code == "rest_forbidden_status"
    assert caught.value.status == 401
    assert "application_password" in str(caught.value)


def test_a_subscriber_is_forbidden_to_create(wordpress: WordPressServer) -> None:
    ch = WordPressChannel.from_settings(
        "wordpress",
        {
            "site": wordpress.base,
            "username": "reader",
            "application_password": wordpress.reader_password,
        },
    )
    with pytest.raises(Forbidden) as caught:
        deliver(ch, Post(id="not-allowed", title="No", text="x"))
    assert caught.value.platform_code == "rest_forbidden_status"
    assert caught.value.status == 403


def test_check_names_the_user_and_capabilities(wordpress: WordPressServer) -> None:
    summary = check(channel(wordpress))
    assert summary.startswith("admin on 127.0.0.1")
    assert "may publish posts and upload files" in summary


def test_startup_is_bounded(wordpress: WordPressServer) -> None:
    assert wordpress.startup < 60


def test_lookup_finds_only_what_this_attempt_wrote(wordpress: WordPressServer) -> None:
    ch = channel(wordpress)
    post = Post(id="lookup-me", title="Lookup", text="x")
    started = time.time() - 2  # the record's first attempt, a moment before the write
    receipt = deliver(ch, post)
    found = lookup(ch, post, first_attempt_at=started)
    assert isinstance(found, Found)
    assert found.receipt.platform_id == receipt.platform_id
    assert found.receipt.url == receipt.url
    # A write that happened before the first attempt is not this record's.
    assert isinstance(lookup(ch, post, first_attempt_at=time.time() + 3600), Absent)
    assert isinstance(
        lookup(ch, Post(id="never-sent", title="N"), first_attempt_at=started), Absent
    )
