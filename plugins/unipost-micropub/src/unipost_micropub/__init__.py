"""unipost channel for Micropub: install it and ``type = "micropub"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_micropub._channel import MicropubChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["MicropubChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MicropubChannel)
