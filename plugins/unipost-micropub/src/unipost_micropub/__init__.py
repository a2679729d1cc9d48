"""unipost channel for Micropub: install it and ``type = "micropub"`` is available."""

from __future__ import annotations

from unipost.plugin import Register, hookimpl
from unipost_micropub._channel import MicropubChannel

__all__ = ["MicropubChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MicropubChannel)
