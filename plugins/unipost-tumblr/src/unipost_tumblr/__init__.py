"""unipost channel for Tumblr: install it and ``type = "tumblr"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_tumblr._channel import TumblrChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["TumblrChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(TumblrChannel)
