"""unipost channel for Ghost: install it and ``type = "ghost"`` is available."""

from __future__ import annotations

from unipost.plugin import Register, hookimpl
from unipost_ghost._channel import GhostChannel

__all__ = ["GhostChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(GhostChannel)
