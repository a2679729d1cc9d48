"""unipost channel for Twilio SMS: install it and ``type = "twilio-sms"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    hookimpl,
)
from unipost_twilio._channel import TwilioSmsChannel
from unipost_twilio._quiet import QuietHours

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["QuietHours", "TwilioSmsChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TwilioSmsChannel, aliases=("twilio",))
