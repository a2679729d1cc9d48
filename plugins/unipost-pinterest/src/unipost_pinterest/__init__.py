"""unipost channel for Pinterest: install it and ``type = "pinterest"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_pinterest._channel import PinterestChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["PinterestChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(PinterestChannel)
