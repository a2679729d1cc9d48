"""unipost channel for Nostr: install it and ``type = "nostr"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_nostr._channel import NostrChannel, parse_secret_key
from unipost_nostr._event import event_id, serialize, sign_event
from unipost_nostr._relay import Outcome, RelayResult, outcome_of, publish_to_relay

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "NostrChannel",
    "Outcome",
    "RelayResult",
    "event_id",
    "outcome_of",
    "parse_secret_key",
    "publish_to_relay",
    "serialize",
    "sign_event",
    "unipost_register_channels",
]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(NostrChannel)
