"""Against the reference Bluesky PDS on 127.0.0.1: what was published is what is stored."""

from __future__ import annotations

import time

import httpx
import pytest
from unipost_bluesky import BlueskyChannel, tid_for

from unipost import Dispatcher, Media, MemoryStore, Post
from unipost.channel import Found
from unipost.testing import check, check_status, deliver, lookup, png

from .conftest import Pds

pytestmark = pytest.mark.integration
POST = "app.bsky.feed.post"


@pytest.fixture(scope="module")
def channel(pds: Pds) -> BlueskyChannel:
    return BlueskyChannel.from_settings(
        "bluesky", {"handle": pds.handle, "app_password": pds.app_password, "base_url": pds.base}
    )


def record(pds: Pds, uri: str) -> dict[str, object]:
    rkey = uri.rsplit("/", 1)[-1]
    response = pds.xrpc("com.atproto.repo.getRecord", repo=pds.did, collection=POST, rkey=rkey)
    response.raise_for_status()
    value: dict[str, object] = response.json()["value"]
    return value


def test_text_post_is_stored(pds: Pds, channel: BlueskyChannel) -> None:
    receipt = deliver(
        channel, Post(text="Open today 9-5, 20% off all pastries."), delivery_key="pds-text"
    )
    assert receipt.platform_id == f"at://{pds.did}/{POST}/{tid_for('pds-text')}"
    assert receipt.url == f"https://bsky.app/profile/{pds.handle}/post/{tid_for('pds-text')}"
    assert record(pds, receipt.platform_id)["text"] == "Open today 9-5, 20% off all pastries."


def test_image_with_alt_text_is_stored_with_its_blob(pds: Pds, channel: BlueskyChannel) -> None:
    data = png(4, 3)
    media = Media.from_bytes(data, filename="rolls.png", alt="Four bread rolls")
    receipt = deliver(channel, Post(text="Fresh rolls", media=[media]), delivery_key="pds-image")
    (image,) = record(pds, receipt.platform_id)["embed"]["images"]  # type: ignore[index]
    assert image["alt"] == "Four bread rolls"
    assert image["aspectRatio"] == {"width": 4, "height": 3}
    blob = pds.xrpc("com.atproto.sync.getBlob", did=pds.did, cid=image["image"]["ref"]["$link"])
    assert blob.content == data


def test_link_gets_a_facet_and_a_card(pds: Pds, channel: BlueskyChannel) -> None:
    post = Post(
        title="December offer", text="20% off ☕ #pastries", link="https://bakery.example/offer"
    )
    receipt = deliver(channel, post, delivery_key="pds-link")
    value = record(pds, receipt.platform_id)
    text = str(value["text"]).encode()
    facets = {f["features"][0]["$type"]: f["index"] for f in value["facets"]}  # type: ignore[attr-defined]
    link = facets["app.bsky.richtext.facet#link"]
    assert text[link["byteStart"] : link["byteEnd"]] == b"https://bakery.example/offer"
    tag = facets["app.bsky.richtext.facet#tag"]
    assert text[tag["byteStart"] : tag["byteEnd"]] == b"#pastries"
    external = value["embed"]["external"]  # type: ignore[index]
    assert external["uri"] == "https://bakery.example/offer"
    assert external["title"] == "December offer"


def test_mention_of_a_local_account_resolves_to_its_did(pds: Pds, channel: BlueskyChannel) -> None:
    receipt = deliver(
        channel, Post(text=f"Thanks @{pds.handle} for the help"), delivery_key="pds-mention"
    )
    (facet,) = record(pds, receipt.platform_id)["facets"]  # type: ignore[misc]
    assert facet["features"][0]["did"] == pds.did


def test_thread_is_a_reply_chain(pds: Pds, channel: BlueskyChannel) -> None:
    text = " ".join(f"Sentence {n} of our long announcement." for n in range(25))
    receipt = deliver(channel, Post(text=text), delivery_key="pds-thread")
    uris = receipt.extra["thread"]
    assert len(uris) >= 2
    root = pds.xrpc(
        "com.atproto.repo.getRecord", repo=pds.did, collection=POST, rkey=uris[0].rsplit("/", 1)[-1]
    )
    second = record(pds, uris[1])
    assert second["reply"]["root"] == {"uri": uris[0], "cid": root.json()["cid"]}  # type: ignore[index]
    assert record(pds, uris[-1])["reply"]["parent"]["uri"] == uris[-2]  # type: ignore[index]


def test_retry_with_the_same_key_creates_no_second_record(
    pds: Pds, channel: BlueskyChannel
) -> None:
    """The first answer is 'lost' (we deliver again); the rkey makes the second a read-back."""
    post = Post(text="Posted once, whatever happens", id="once")

    def count() -> int:
        listed = pds.xrpc(
            "com.atproto.repo.listRecords", repo=pds.did, collection=POST, limit="100"
        ).json()
        return sum(r["value"]["text"] == "Posted once, whatever happens" for r in listed["records"])

    first = deliver(channel, post, delivery_key="pds-retry")
    second = deliver(channel, post, delivery_key="pds-retry")
    assert first.platform_id == second.platform_id
    assert first.extra["cid"] == second.extra["cid"]
    assert count() == 1
    found = lookup(channel, post, delivery_key="pds-retry")
    assert isinstance(found, Found)
    assert found.receipt.platform_id == first.platform_id


def test_an_expired_session_is_refreshed(pds: Pds, channel: BlueskyChannel) -> None:
    """A revoked access token gets a fresh session instead of failing the post."""
    channel._session.access = "not-a-valid-token"
    receipt = deliver(channel, Post(text="after refresh"), delivery_key="pds-refresh")
    assert record(pds, receipt.platform_id)["text"] == "after refresh"


def test_check_names_the_account(pds: Pds, channel: BlueskyChannel) -> None:
    assert check(channel).startswith(f"@{pds.handle} ({pds.did})")
    # The real PDS's JWTs carry exp claims: both session tokens are reported, renewable.
    status = check_status(channel)
    assert [e.credential for e in status.expiries] == [
        "session access token",
        "session refresh token",
    ]
    assert all(e.renewable and e.at > time.time() for e in status.expiries)


def test_server_refuses_what_the_lexicon_refuses(pds: Pds) -> None:
    """The PDS validates records: the 301-grapheme limit we enforce in prepare() is real."""
    session = httpx.post(
        f"{pds.base}/xrpc/com.atproto.server.createSession",
        json={"identifier": pds.handle, "password": pds.app_password},
    ).json()
    response = httpx.post(
        f"{pds.base}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        json={
            "repo": pds.did,
            "collection": POST,
            "record": {"$type": POST, "text": "x" * 301, "createdAt": "2026-12-01T09:00:00.000Z"},
        },
    )
    assert response.status_code == 400


def test_an_extra_copy_is_deleted_from_the_repo_and_again_is_no_error(
    pds: Pds, channel: BlueskyChannel
) -> None:
    """#14.5: remove-duplicate's deleteRecord on the real PDS; a copy already gone is a no-op."""
    text = "Soup of the day: leek and potato"
    copy = deliver(channel, Post(text=text), delivery_key="pds-copy")  # posted under another key

    def flag(dispatcher: Dispatcher, record_id: str) -> None:
        record = dispatcher.store.record(record_id)
        record.possible_duplicate = True  # as the worker's second look would have it
        record.extra = {"duplicates": [{"platform_id": copy.platform_id, "url": copy.url}]}
        dispatcher.store.save(record)

    with Dispatcher(channels={"bluesky": channel}, store=MemoryStore()) as dispatcher:
        assert dispatcher.publish(Post(text=text, id="soup"), "bluesky").ok
        [ours] = dispatcher.store.query(post_id="soup")
        flag(dispatcher, ours.id)
        assert not dispatcher.remove_duplicate(ours.id).possible_duplicate
        gone = pds.xrpc(
            "com.atproto.repo.getRecord",
            repo=pds.did,
            collection=POST,
            rkey=copy.platform_id.rsplit("/", 1)[-1],
        )
        assert gone.status_code == 400
        assert gone.json()["error"] == "RecordNotFound"
        assert record(pds, str(ours.platform_id))["text"] == text
        flag(dispatcher, ours.id)  # flagged again: the PDS "ensures it doesn't exist"
        assert not dispatcher.remove_duplicate(ours.id).possible_duplicate
