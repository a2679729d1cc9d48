"""unipost channels for SendGrid: ``type = "sendgrid"`` (Mail Send) and
``type = "sendgrid-marketing"`` (Single Sends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    Channel,
    StatusSource,
    hookimpl,
)
from unipost_sendgrid.api import API
from unipost_sendgrid.mail import SendGridMailChannel
from unipost_sendgrid.marketing import SendGridMarketingChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "STATUS_PAGE",
    "SendGridMailChannel",
    "SendGridMarketingChannel",
    "unipost_register_channels",
    "unipost_status_sources",
]


STATUS_PAGE = "https://status.sendgrid.com/api/v2/status.json"  # SendGrid's Atlassian Statuspage


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(SendGridMailChannel)
    register(SendGridMarketingChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """SendGrid's status page (status.sendgrid.com); its domain is Twilio's."""
    if (
        not isinstance(channel, (SendGridMailChannel, SendGridMarketingChannel))
        or channel.base_url != API
    ):
        return None
    return [
        StatusSource(
            domain=channel.failure_domain, url=STATUS_PAGE, format="statuspage", label="SendGrid"
        )
    ]
