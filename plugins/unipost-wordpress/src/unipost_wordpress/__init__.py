"""unipost channel for WordPress: install it and ``type = "wordpress"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_wordpress._channel import WordPressChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["WordPressChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(WordPressChannel)
