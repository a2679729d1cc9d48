"""unipost channel for WordPress: install it and ``type = "wordpress"`` is available."""

from __future__ import annotations

from unipost.plugin import Register, hookimpl
from unipost_wordpress._channel import WordPressChannel

__all__ = ["WordPressChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(WordPressChannel)
