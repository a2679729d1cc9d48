"""unipost channel for LinkedIn: install it and ``type = "linkedin"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_linkedin._channel import LinkedInChannel
from unipost_linkedin._little import escape

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["LinkedInChannel", "escape", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(LinkedInChannel)
