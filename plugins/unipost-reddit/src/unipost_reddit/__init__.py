"""unipost channel for Reddit: install it and ``type = "reddit"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_reddit._channel import RedditChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["RedditChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(RedditChannel)
