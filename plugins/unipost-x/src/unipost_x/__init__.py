"""unipost channel for X: install it and ``type = "x"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_x._channel import XChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["XChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(XChannel)
