"""unipost channel for Mastodon: install it and ``type = "mastodon"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_mastodon._channel import DEFAULT_CAPABILITIES, MastodonChannel
from unipost_mastodon._instance import InstanceLimits

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["DEFAULT_CAPABILITIES", "InstanceLimits", "MastodonChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MastodonChannel)
