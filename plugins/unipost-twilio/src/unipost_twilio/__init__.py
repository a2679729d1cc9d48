"""unipost channel for Twilio SMS: install it and ``type = "twilio-sms"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    Channel,
    StatusSource,
    hookimpl,
)
from unipost_twilio._channel import API, TwilioSmsChannel
from unipost_twilio._quiet import QuietHours

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "STATUS_PAGE",
    "QuietHours",
    "TwilioSmsChannel",
    "unipost_register_channels",
    "unipost_status_sources",
]


STATUS_PAGE = "https://status.twilio.com/api/v2/status.json"  # Twilio's Atlassian Statuspage


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TwilioSmsChannel, aliases=("twilio",))


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Twilio's status page (status.twilio.com)."""
    if not isinstance(channel, TwilioSmsChannel) or channel.base_url != API:
        return None
    return [
        StatusSource(
            domain=channel.failure_domain, url=STATUS_PAGE, format="statuspage", label="Twilio"
        )
    ]
