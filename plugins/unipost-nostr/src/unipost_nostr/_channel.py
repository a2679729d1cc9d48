"""The Nostr channel: one signed kind-1 note, sent to every configured relay at once.

A note's id is the SHA-256 of its content, tags, author and ``created_at``, and a
relay that already has an id answers ``duplicate:``. So the channel signs the
same event on every attempt — ``created_at`` is the record's first attempt — and a
retry re-sends it safely: no relay can end up with two copies.

Relays are not separate channels: the note is one post, published to a set of
relays, and the delivery succeeds when at least ``min_accepted`` of them accept it
(every relay's answer is in the receipt). The failure domain is the relay set.
To retry and report relays one by one, configure one channel per relay instead.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

import attrs
import coincurve
import httpx

from unipost.plugin import (
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    Flow,
    Forbidden,
    Idempotency,
    Permanent,
    Post,
    Prepared,
    Receipt,
    RecipientResult,
    TextUnit,
    Transient,
    json_body,
    register_secret,
    secret,
)
from unipost_nostr import _bech32
from unipost_nostr._event import sign_event
from unipost_nostr._relay import Outcome, RelayResult, publish_to_relay

__all__ = ["NostrChannel", "parse_secret_key"]

TEXT_KIND = 1
CONTENT_LIMIT = 16_000  # relays set their own (NIP-11 limitation.max_content_length)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_HEX_KEY = re.compile(r"^[0-9a-f]{64}$")
#: C0 controls NIP-01 does not list as escapes: removed so every library serializes alike.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_RETRYABLE = {Outcome.TRANSIENT, Outcome.UNREACHABLE, Outcome.NO_ANSWER}

CAPABILITIES = Capabilities(
    text_limit=CONTENT_LIMIT,
    text_unit=TextUnit.CHARACTERS,
    max_media=4,
    media_types=IMAGE_TYPES,
    media_from_url_only=True,  # NIP-01 has no upload: images are URLs in the note (NIP-92)
    hashtags=True,
    idempotency=Idempotency.CLIENT_ID,
    health_check=True,  # each relay's NIP-11 document over HTTP GET
)


def parse_secret_key(value: str) -> coincurve.PrivateKey:
    """The key of an ``nsec1…`` (NIP-19) or 64-hex-digit secret key."""
    value = value.strip()
    try:
        raw = _bech32.decode("nsec", value) if value.startswith("nsec1") else None
    except ValueError as error:
        raise ValueError(f"secret_key: {error}") from None
    if raw is None:
        if not _HEX_KEY.match(value.lower()):
            raise ValueError("secret_key must be an nsec1… key or 64 hex digits")
        raw = bytes.fromhex(value)
    if len(raw) != 32:
        raise ValueError("secret_key must hold 32 bytes")
    return coincurve.PrivateKey(raw)


def _check_secret_key(_instance: Any, _attribute: Any, value: str) -> None:
    parse_secret_key(value)


def _check_relays(_instance: Any, _attribute: Any, value: tuple[str, ...]) -> None:
    if not value:
        raise ValueError('relays must list at least one relay, e.g. ["wss://nos.lol"]')
    for relay in value:
        parts = urlsplit(relay)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if (parts.scheme != "wss" and not (parts.scheme == "ws" and local)) or not parts.hostname:
            raise ValueError(f"relay {relay!r} must be a wss:// URL (ws:// only for localhost)")


@attrs.frozen(kw_only=True)
class NostrChannel(Channel):
    """One Nostr identity (its secret key) publishing to a set of relays."""

    name = "nostr"
    capabilities = CAPABILITIES

    secret_key: str = secret(validator=_check_secret_key)
    relays: tuple[str, ...] = attrs.field(converter=tuple, validator=_check_relays)
    min_accepted: int = 1
    ok_timeout: float = 10.0  # seconds to wait for each relay's OK
    viewer: str = "https://njump.me/{note}"  # "" for a nostr: URI
    _key: coincurve.PrivateKey = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        key = parse_secret_key(self.secret_key)
        register_secret(key.secret.hex())  # the same secret, spelled in hex
        register_secret(_bech32.encode("nsec", key.secret))
        object.__setattr__(self, "_key", key)
        if not 1 <= self.min_accepted <= len(self.relays):
            raise ValueError(f"min_accepted must be between 1 and {len(self.relays)}")
        if self.ok_timeout <= 0:
            raise ValueError("ok_timeout must be positive")

    @property
    def pubkey(self) -> str:
        """The x-only public key, hex (what events carry)."""
        return str(self._key.public_key_xonly.format().hex())

    @property
    def npub(self) -> str:
        return _bech32.encode("npub", bytes.fromhex(self.pubkey))

    @property
    def failure_domain(self) -> str:
        hosts = sorted({urlsplit(r).hostname or r for r in self.relays})
        return "nostr:" + ",".join(hosts)

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The text with image URLs appended; ``t`` tags for hashtags, ``imeta`` for images."""
        prepared = super().prepare(post)
        changes = list(prepared.changes)
        content = prepared.text
        cleaned = _CONTROL.sub("", content)
        if cleaned != content:
            changes.append(Change(kind="control_characters_removed", detail="C0 controls removed"))
            content = cleaned
        tags: list[list[str]] = [["t", tag.lower()] for tag in prepared.post.tags]
        urls = []
        for item in prepared.post.media:
            assert item.url is not None  # media_from_url_only: checked by the base prepare
            urls.append(item.url)
            meta = ["imeta", f"url {item.url}", f"m {item.mime_type}"]
            if item.width and item.height:
                meta.append(f"dim {item.width}x{item.height}")
            if item.alt:
                meta.append(f"alt {item.alt}")
            tags.append(meta)
        if urls:
            content = "\n".join([content, *urls]) if content else "\n".join(urls)
            changes.append(
                Change(kind="image_urls", detail=f"{len(urls)} image URL(s) in the note (NIP-92)")
            )
        if not content:
            raise ContentRejected(
                f"{self.id}.text", "the note is empty", "give text or an image URL"
            )
        return attrs.evolve(
            prepared, parts=(content,), changes=tuple(changes), payload={"tags": tags}
        )

    # -- delivery --------------------------------------------------------

    def event(self, prepared: Prepared, created_at: int) -> dict[str, Any]:
        """The signed kind-1 event for ``prepared``."""
        return sign_event(
            self._key,
            created_at=created_at,
            kind=TEXT_KIND,
            tags=prepared.payload["tags"],
            content=prepared.text,
        )

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        """Send the event to every relay at once; enough ``OK true`` answers make a delivery."""
        # The record's first attempt, so every attempt signs the same event (the same id).
        created_at = int(ctx.first_attempt_at or ctx.now())
        event = self.event(prepared, created_at)
        timeout = max(0.1, min(self.ok_timeout, ctx.remaining()))
        ctx.applying()  # from here a cut may leave the note on some relays
        results = await asyncio.gather(
            *(publish_to_relay(relay, event, timeout) for relay in self.relays)
        )
        accepted = [r for r in results if r.outcome is Outcome.ACCEPTED]
        if len(accepted) < self.min_accepted:
            raise _failure(results, len(accepted), self.min_accepted)
        note = _bech32.encode("note", bytes.fromhex(event["id"]))
        return Receipt(
            platform_id=event["id"],
            url=self.viewer.format(note=note) if self.viewer else f"nostr:{note}",
            recipients=tuple(
                RecipientResult(
                    recipient=r.relay,
                    ok=r.outcome is Outcome.ACCEPTED,
                    platform_id=event["id"] if r.outcome is Outcome.ACCEPTED else None,
                    reason=r.message or r.outcome.value,
                )
                for r in results
            ),
            extra={"pubkey": event["pubkey"], "created_at": created_at, "note": note},
        )

    def check_flow(self, ctx: Context) -> Flow[str]:
        """Each relay's NIP-11 information document (name and content limit)."""
        lines = [f"{self.npub}:"]
        for relay in self.relays:
            url = "http" + relay.removeprefix("ws")
            response = yield httpx.Request("GET", url, headers={"Accept": "application/nostr+json"})
            info = json_body(response)
            limit = (info.get("limitation") or {}).get("max_content_length")
            lines.append(f"{relay} ({info.get('name', 'unnamed')}, max content {limit or '?'})")
        return " ".join(lines)


def _failure(results: list[RelayResult], accepted: int, needed: int) -> Exception:
    """Too few relays accepted: retry when some failure may pass, else give up."""
    summary = "; ".join(f"{r.relay}: {r.outcome.value} {r.message}".strip() for r in results)
    message = f"{accepted} of {len(results)} relays accepted the note, {needed} needed ({summary})"
    outcomes = {r.outcome for r in results if r.outcome is not Outcome.ACCEPTED}
    if outcomes & _RETRYABLE:
        # Safe to retry: the same event (same id) is sent again, and relays deduplicate.
        return Transient(message)
    if outcomes == {Outcome.AUTH}:
        return Forbidden(
            message + "; these relays need NIP-42 authentication", platform_code="auth-required"
        )
    return Permanent(message)
