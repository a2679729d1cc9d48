"""unipost channel for Discord webhooks: install it and ``type = "discord"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_discord._channel import DiscordChannel
from unipost_discord._errors import classify_response

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["DiscordChannel", "classify_response", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(DiscordChannel)
