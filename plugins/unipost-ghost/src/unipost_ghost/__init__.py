"""unipost channel for Ghost: install it and ``type = "ghost"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_ghost._channel import GhostChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["GhostChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(GhostChannel)
