"""unipost channel for Discord webhooks: install it and ``type = "discord"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import Channel, StatusSource, hookimpl
from unipost_discord._channel import DiscordChannel
from unipost_discord._errors import classify_response

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "STATUS_PAGE",
    "DiscordChannel",
    "classify_response",
    "unipost_register_channels",
    "unipost_status_sources",
]


STATUS_PAGE = "https://discordstatus.com/api/v2/components.json"  # Discord's Atlassian Statuspage


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(DiscordChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Discord's status page (discordstatus.com), its "API" component."""
    if not isinstance(channel, DiscordChannel):
        return None
    return [
        StatusSource(
            domain=channel.failure_domain,
            url=STATUS_PAGE,
            format="statuspage-components",
            label="Discord",
            components=("API",),  # webhooks are API calls; voice or gateway trouble is not ours
        )
    ]
