"""unipost channel for Tumblr: install it and ``type = "tumblr"`` is available."""

from __future__ import annotations

from unipost.plugin import Register, hookimpl
from unipost_tumblr._channel import TumblrChannel

__all__ = ["TumblrChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TumblrChannel)
