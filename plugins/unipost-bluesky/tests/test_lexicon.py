"""The createRecord inputs the channel builds validate against the stored atproto lexicons."""

from __future__ import annotations

from typing import Any

import pytest
from unipost_bluesky import BlueskyChannel, tid_for

from unipost import Media, Post
from unipost.testing import png

from .lexicon import LexiconError, Lexicons

LEXICONS = Lexicons()
DID = "did:plc:bakery000000000000000000"
BLOB = {
    "$type": "blob",
    "ref": {"$link": "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bvzxbx4sjb5nqbau"},
    "mimeType": "image/png",
    "size": 70,
}
ROOT = {
    "uri": f"at://{DID}/app.bsky.feed.post/{tid_for('k')}",
    "cid": "bafyreigm7jpafllw2apmnysmhwxqye5qm34dbwm4gbwlzuxtplubehx4t4",
}
CHANNEL = BlueskyChannel(handle="bakery.example", app_password="abcd-efgh-ijkl-mnop", langs=("en",))


def build(post: Post, index: int = 0, *, blobs: int = 0, thread: bool = False) -> dict[str, Any]:
    prepared = CHANNEL.prepare(post)
    return CHANNEL.create_record_body(
        prepared,
        index,
        DID,
        tid_for("key", index),
        dids={"alice.example": "did:plc:alice0000000000000000"},
        blobs=[BLOB] * blobs,
        thread=[ROOT] if thread else [],
        created_at="2026-12-01T09:00:00.000Z",
    )


CASES = {
    "text": build(Post(text="Open today 9-5")),
    "facets": build(
        Post(text="Hi @alice.example! Ünïcode #brötchen 🥐", link="https://bakery.example/o")
    ),
    "images": build(
        Post(
            text="Fresh", media=[Media.from_bytes(png(4, 3), alt="Rolls"), Media.from_bytes(png())]
        ),
        blobs=2,
    ),
    "card": build(Post(title="Our offer", text="20% off", link="https://bakery.example/offer")),
    "reply": build(Post(text="word " * 100), 1, thread=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_create_record_input_and_post_record_validate(name: str) -> None:
    body = CASES[name]
    LEXICONS.validate_input("com.atproto.repo.createRecord", body)
    LEXICONS.validate_record("app.bsky.feed.post", body["record"])
    assert LEXICONS.doc("app.bsky.feed.post")["defs"]["main"]["key"] == "tid"
    LEXICONS.check({"type": "string", "format": "tid"}, body["rkey"], "app.bsky.feed.post", "rkey")


def test_the_cases_use_every_embed_and_facet_kind() -> None:
    features = {f["features"][0]["$type"] for f in CASES["facets"]["record"]["facets"]}
    assert features == {f"app.bsky.richtext.facet#{k}" for k in ("link", "mention", "tag")}
    assert CASES["images"]["record"]["embed"]["$type"] == "app.bsky.embed.images"
    assert CASES["card"]["record"]["embed"]["$type"] == "app.bsky.embed.external"
    assert "reply" in CASES["reply"]["record"]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(text="x" * 301),
        lambda r: r.update(langs=["en", "de", "fr", "it"]),
        lambda r: r.update(embed={"$type": "app.bsky.embed.images", "images": [{"image": BLOB}]}),
        lambda r: r.update(facets=[{"index": {"byteStart": -1, "byteEnd": 2}, "features": []}]),
        lambda r: r.update(createdAt="yesterday"),
    ],
)
def test_the_validator_rejects_broken_records(change: Any) -> None:
    """Guard against a vacuous check: each of these breaks a lexicon rule."""
    record = dict(CASES["text"]["record"])
    change(record)
    with pytest.raises(LexiconError):
        LEXICONS.validate_record("app.bsky.feed.post", record)
