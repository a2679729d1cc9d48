"""unipost channel for Bluesky: install it and ``type = "bluesky"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_bluesky._channel import CAPABILITIES, BlueskyChannel, tid_for

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["CAPABILITIES", "BlueskyChannel", "tid_for", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(BlueskyChannel)
