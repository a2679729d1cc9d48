"""unipost channels for SendGrid: ``type = "sendgrid"`` (Mail Send) and
``type = "sendgrid-marketing"`` (Single Sends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    hookimpl,
)
from unipost_sendgrid.mail import SendGridMailChannel
from unipost_sendgrid.marketing import SendGridMarketingChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["SendGridMailChannel", "SendGridMarketingChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(SendGridMailChannel)
    register(SendGridMarketingChannel)
