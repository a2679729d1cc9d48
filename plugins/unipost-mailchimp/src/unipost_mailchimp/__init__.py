"""unipost channel for Mailchimp: install it and ``type = "mailchimp"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    hookimpl,
)
from unipost_mailchimp._channel import MailchimpChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["MailchimpChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MailchimpChannel)
