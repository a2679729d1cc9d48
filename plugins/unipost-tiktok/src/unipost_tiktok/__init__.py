"""unipost channel for TikTok: install it and ``type = "tiktok"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_tiktok._channel import TikTokChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["TikTokChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TikTokChannel)
