"""unipost channel for Reddit: install it and ``type = "reddit"`` is available."""

from __future__ import annotations

from unipost.plugin import Register, hookimpl
from unipost_reddit._channel import RedditChannel

__all__ = ["RedditChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(RedditChannel)
