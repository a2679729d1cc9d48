"""NIP-01 events: the canonical serialization, the id, and the BIP-340 signature."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import coincurve

__all__ = ["event_id", "serialize", "sign_event"]


def serialize(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> bytes:
    """``[0,pubkey,created_at,kind,tags,content]`` as NIP-01 asks: UTF-8, no whitespace.

    ``json.dumps`` escapes ``\\n \\" \\\\ \\r \\t \\b \\f`` and keeps every other
    character verbatim (``ensure_ascii=False``), except the other C0 control
    characters, which the channel removes from the content beforehand.
    """
    array = [0, pubkey, created_at, kind, [list(tag) for tag in tags], content]
    return json.dumps(array, ensure_ascii=False, separators=(",", ":")).encode()


def event_id(
    pubkey: str, created_at: int, kind: int, tags: Sequence[Sequence[str]], content: str
) -> str:
    return hashlib.sha256(serialize(pubkey, created_at, kind, tags, content)).hexdigest()


def sign_event(
    key: coincurve.PrivateKey,
    *,
    created_at: int,
    kind: int,
    tags: Sequence[Sequence[str]],
    content: str,
) -> dict[str, Any]:
    """A complete signed event; the id depends only on its fields, never on the signature."""
    pubkey = key.public_key_xonly.format().hex()
    identifier = event_id(pubkey, created_at, kind, tags, content)
    # BIP-340 recommends fresh auxiliary randomness against side channels.
    signature = key.sign_schnorr(bytes.fromhex(identifier), os.urandom(32))
    return {
        "id": identifier,
        "pubkey": pubkey,
        "created_at": created_at,
        "kind": kind,
        "tags": [list(tag) for tag in tags],
        "content": content,
        "sig": signature.hex(),
    }
