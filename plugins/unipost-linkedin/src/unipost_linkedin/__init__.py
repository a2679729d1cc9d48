"""unipost channel for LinkedIn: install it and ``type = "linkedin"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import Channel, StatusSource, hookimpl
from unipost_linkedin._channel import API, LinkedInChannel
from unipost_linkedin._little import escape

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "STATUS_PAGE",
    "LinkedInChannel",
    "escape",
    "unipost_register_channels",
    "unipost_status_sources",
]


STATUS_PAGE = "https://www.linkedin-apistatus.com/api/v2/status.json"  # LinkedIn API's Statuspage


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(LinkedInChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """LinkedIn's developer API status page (linkedin-apistatus.com)."""
    if not isinstance(channel, LinkedInChannel) or channel.base_url != API:
        return None
    return [
        StatusSource(
            domain=channel.failure_domain, url=STATUS_PAGE, format="statuspage", label="LinkedIn"
        )
    ]
