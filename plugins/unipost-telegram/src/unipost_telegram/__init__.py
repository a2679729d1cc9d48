"""unipost channel for Telegram: install it and ``type = "telegram"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_telegram._channel import TelegramChannel
from unipost_telegram._errors import ChatMigrated, classify_response

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["ChatMigrated", "TelegramChannel", "classify_response", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TelegramChannel)
