"""unipost channel for Telegram: install it and ``type = "telegram"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_telegram._channel import TelegramChannel
from unipost_telegram._errors import ChatMigrated, classify_response

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["ChatMigrated", "TelegramChannel", "classify_response", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TelegramChannel)
