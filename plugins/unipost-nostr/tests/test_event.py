"""NIP-01 events and NIP-19 keys, checked by an independent implementation (rust-nostr)."""

from __future__ import annotations

import hashlib
import json

import coincurve
import nostr_sdk
import pytest
from unipost_nostr import NostrChannel, event_id, parse_secret_key, serialize, sign_event

from unipost import errors

from .conftest import SECRET_HEX, independently_valid

TRICKY = 'Line one\nTab\there "quoted" back\\slash\r\n🥐 croissant é ✓ </script> & \u2028'


def key() -> coincurve.PrivateKey:
    return parse_secret_key(SECRET_HEX)


def test_the_serialization_is_nip_01_s() -> None:
    pubkey = key().public_key_xonly.format().hex()
    raw = serialize(pubkey, 1764770000, 1, [["t", "bread"]], TRICKY)
    expected = (
        f'[0,"{pubkey}",1764770000,1,[["t","bread"]],'
        '"Line one\\nTab\\there \\"quoted\\" back\\\\slash\\r\\n🥐 croissant é ✓ </script> & \u2028"]'
    )
    assert raw.decode() == expected  # no whitespace, only the listed escapes, the rest verbatim
    assert (
        event_id(pubkey, 1764770000, 1, [["t", "bread"]], TRICKY) == hashlib.sha256(raw).hexdigest()
    )


def test_signed_events_verify_in_rust_nostr() -> None:
    event = sign_event(key(), created_at=1764770000, kind=1, tags=[["t", "bread"]], content=TRICKY)
    assert independently_valid(event)
    parsed = nostr_sdk.Event.from_json(json.dumps(event))
    assert parsed.id().to_hex() == event["id"]
    assert parsed.author().to_hex() == event["pubkey"]


def test_a_tampered_event_fails_the_independent_check() -> None:
    event = sign_event(key(), created_at=1764770000, kind=1, tags=[], content="Fresh bread")
    assert not independently_valid({**event, "content": "Stale bread"})
    signature = bytearray(bytes.fromhex(event["sig"]))
    signature[0] ^= 1
    assert not independently_valid({**event, "sig": signature.hex()})


def test_nsec_and_hex_give_the_same_key_as_rust_nostr() -> None:
    keys = nostr_sdk.Keys.parse(SECRET_HEX)
    nsec = keys.secret_key().to_bech32()
    assert parse_secret_key(nsec).secret.hex() == SECRET_HEX
    channel = NostrChannel(secret_key=nsec, relays=["wss://relay.example"])
    assert channel.pubkey == keys.public_key().to_hex()
    assert channel.npub == keys.public_key().to_bech32()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("nsec1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqsmhltgm", "checksum"),
        ("npub1abc", "nsec1"),
        ("12ab", "64 hex digits"),
    ],
)
def test_bad_keys_name_the_setting(value: str, problem: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=problem):
        NostrChannel.from_settings("nostr", {"secret_key": value, "relays": ["wss://r.example"]})


def test_relays_must_be_wss_except_locally() -> None:
    with pytest.raises(errors.ConfigurationError, match="wss://"):
        NostrChannel.from_settings(
            "nostr", {"secret_key": SECRET_HEX, "relays": ["ws://relay.example"]}
        )
    with pytest.raises(errors.ConfigurationError, match="min_accepted"):
        NostrChannel.from_settings(
            "nostr", {"secret_key": SECRET_HEX, "relays": ["wss://a.example"], "min_accepted": 2}
        )
    NostrChannel(secret_key=SECRET_HEX, relays=["ws://127.0.0.1:7777"])
