"""unipost channels for Brevo: ``type = "brevo"`` (campaigns) and ``type = "brevo-sms"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    hookimpl,
)
from unipost_brevo.campaign import BrevoCampaignChannel
from unipost_brevo.sms import BrevoSmsChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["BrevoCampaignChannel", "BrevoSmsChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(BrevoCampaignChannel)
    register(BrevoSmsChannel)
