"""unipost channel for Reddit: install it and ``type = "reddit"`` is available."""

from __future__ import annotations

from unipost.plugin import Channel, Register, StatusSource, hookimpl
from unipost_reddit._channel import RedditChannel

__all__ = ["STATUS_PAGE", "RedditChannel", "unipost_register_channels", "unipost_status_sources"]


STATUS_PAGE = "https://www.redditstatus.com/api/v2/status.json"  # Reddit's Atlassian Statuspage


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(RedditChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Reddit's status page (redditstatus.com)."""
    if not isinstance(channel, RedditChannel):
        return None
    return [
        StatusSource(
            domain=channel.failure_domain, url=STATUS_PAGE, format="statuspage", label="Reddit"
        )
    ]
