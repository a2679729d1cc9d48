"""Publishing to relays: a fake relay that verifies with rust-nostr, and real nostr-relay."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from unipost_nostr import NostrChannel, Outcome, outcome_of, publish_to_relay

from unipost import Media, Post, errors
from unipost.testing import ChannelContract, deliver

from .conftest import SECRET_HEX, FakeRelay, fetch, independently_valid


def channel(*relays: str, **settings: Any) -> NostrChannel:
    return NostrChannel(secret_key=SECRET_HEX, relays=list(relays), **settings)


class TestNostrContract(ChannelContract):
    channel_class = NostrChannel
    http = False  # WebSockets, not HTTP: the status-code tests do not apply
    settings: ClassVar[dict[str, Any]] = {"secret_key": SECRET_HEX, "relays": ["ws://127.0.0.1:9"]}
    secrets = (SECRET_HEX,)
    relay_url: ClassVar[str] = ""

    @pytest.fixture(autouse=True)
    def _relay(self, fake_relay: FakeRelay) -> None:
        type(self).relay_url = fake_relay.url

    def make_channel(self) -> NostrChannel:
        return NostrChannel.from_settings(
            "nostr", {"secret_key": SECRET_HEX, "relays": [self.relay_url]}
        )

    def arrange_success(self, httpx_mock: Any) -> None:
        """The fake relay answers OK true by default; no HTTP is involved."""


def test_the_note_is_signed_and_accepted(fake_relay: FakeRelay) -> None:
    post = Post(
        text="Fresh bread",
        link="https://bakery.example/bread",
        tags=["Bread", "sourdough"],
        media=[Media.from_url("https://bakery.example/loaf.jpg", alt="A loaf")],
    )
    receipt = deliver(channel(fake_relay.url), post)
    (event,) = fake_relay.received
    assert fake_relay.verdicts == [True]  # rust-nostr agrees with the id and the signature
    assert event["kind"] == 1
    assert event["content"] == (
        "Fresh bread\n\n#Bread #sourdough\n\nhttps://bakery.example/bread\n"
        "https://bakery.example/loaf.jpg"
    )
    assert event["tags"] == [
        ["t", "bread"],
        ["t", "sourdough"],
        ["imeta", "url https://bakery.example/loaf.jpg", "m image/jpeg", "alt A loaf"],
    ]
    assert receipt.platform_id == event["id"]
    assert receipt.url is not None
    assert receipt.url.startswith("https://njump.me/note1")
    assert [(r.recipient, r.ok) for r in receipt.recipients] == [(fake_relay.url, True)]


def test_a_local_image_is_refused_before_signing(fake_relay: FakeRelay) -> None:
    from unipost.testing import png

    with pytest.raises(errors.ContentRejected, match="public URL"):
        channel(fake_relay.url).prepare(Post(text="x", media=[Media.from_bytes(png())]))


@pytest.mark.parametrize(
    ("message", "outcome"),
    [
        ("", Outcome.ACCEPTED),
        ("duplicate: already have this event", Outcome.ACCEPTED),
        ("rate-limited: slow down", Outcome.TRANSIENT),
        ("error: could not connect to the database", Outcome.TRANSIENT),
        ("auth-required: we only accept events from registered users", Outcome.AUTH),
        ("blocked: you are banned from posting here", Outcome.REJECTED),
        ("invalid: event creation date is too far off from the current time", Outcome.REJECTED),
        ("pow: difficulty 25>=24", Outcome.REJECTED),
        ("restricted: not allowed to write", Outcome.REJECTED),
    ],
)
def test_ok_prefixes(message: str, outcome: Outcome) -> None:
    """The machine-readable prefixes of NIP-01 (examples from nips/01.md)."""
    assert outcome_of(message == "", message) is outcome


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("blocked", errors.Permanent),
        ("rate-limited", errors.Transient),
        ("auth-required", errors.Forbidden),
        ("duplicate", None),
    ],
)
def test_one_relay_s_answer_decides(
    fake_relay: FakeRelay, answer: str, expected: type[errors.DeliveryError] | None
) -> None:
    fake_relay.reset(answer)
    if expected is None:
        assert deliver(channel(fake_relay.url), Post(text="hi")).platform_id
        return
    with pytest.raises(expected, match=f"0 of 1 relays accepted .*{answer}"):
        deliver(channel(fake_relay.url), Post(text="hi"))


def test_a_relay_that_never_answers_is_retryable(fake_relay: FakeRelay) -> None:
    fake_relay.reset("silent")
    with pytest.raises(errors.Transient, match="no_answer no OK within"):
        deliver(channel(fake_relay.url, ok_timeout=0.5), Post(text="hi"))
    assert len(fake_relay.received) == 1


def test_enough_relays_make_a_delivery_and_each_is_reported(fake_relay: FakeRelay) -> None:
    dead = "ws://127.0.0.1:9"  # discard port: nothing listens
    receipt = deliver(channel(fake_relay.url, dead, ok_timeout=2), Post(text="hi"))
    results = {r.recipient: r for r in receipt.recipients}
    assert results[fake_relay.url].ok
    assert not results[dead].ok
    assert results[dead].reason is not None
    with pytest.raises(errors.Transient, match="1 of 2 relays accepted the note, 2 needed"):
        deliver(channel(fake_relay.url, dead, min_accepted=2, ok_timeout=2), Post(text="hi"))


@pytest.mark.integration
def test_real_relays_store_the_note_and_deduplicate_a_resend(real_relays: list[str]) -> None:
    nostr = channel(*real_relays, min_accepted=2)
    prepared = nostr.prepare(Post(text="Real relays: croissants at 7 🥐"))
    receipt = deliver(nostr, prepared)
    assert all(r.ok for r in receipt.recipients)
    for relay in real_relays:
        (stored,) = asyncio.run(fetch(relay, receipt.platform_id))
        assert stored["content"] == "Real relays: croissants at 7 🥐"
        assert stored["pubkey"] == nostr.pubkey
        assert independently_valid(stored)
    # The same event again (as a retry sends it): each relay answers duplicate, nothing new.
    event = nostr.event(prepared, int(receipt.extra["created_at"]))
    assert event["id"] == receipt.platform_id
    for relay in real_relays:
        result = asyncio.run(publish_to_relay(relay, event, 10))
        assert result.outcome is Outcome.ACCEPTED
        assert result.message.startswith("duplicate:")
        assert len(asyncio.run(fetch(relay, event["id"]))) == 1


@pytest.mark.integration
def test_real_relays_refuse_bad_signatures_and_oversized_notes(real_relays: list[str]) -> None:
    nostr = channel(real_relays[0])
    event = nostr.event(nostr.prepare(Post(text="signed")), 1764770000 + 10**6)
    tampered = {**event, "content": "not what was signed"}
    result = asyncio.run(publish_to_relay(real_relays[0], tampered, 10))
    assert result.outcome is Outcome.REJECTED
    assert result.message.startswith("invalid:")
    # nostr-relay's default max_event_size is 4,096 characters: its own words come back.
    with pytest.raises(errors.Permanent, match="invalid: 280 characters should be enough"):
        deliver(nostr, Post(text="word " * 1000))


def test_every_attempt_signs_the_same_event(fake_relay: FakeRelay) -> None:
    """created_at is the record's first attempt: a retry re-sends the same id, never a twin."""
    nostr = channel(fake_relay.url)
    post = Post(text="Retry me")
    first = deliver(nostr, post, attempt=1, first_attempt_at=1764770000.0)
    again = deliver(nostr, post, attempt=2, first_attempt_at=1764770000.0)
    assert first.platform_id == again.platform_id
    assert [e["id"] for e in fake_relay.received] == [first.platform_id] * 2
    assert fake_relay.received[0]["created_at"] == 1764770000
