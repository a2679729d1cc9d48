"""unipost channel for TikTok: install it and ``type = "tiktok"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_tiktok._channel import TikTokChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["TikTokChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TikTokChannel)
