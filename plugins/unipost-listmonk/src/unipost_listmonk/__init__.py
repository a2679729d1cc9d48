"""unipost channel for Listmonk: install it and ``type = "listmonk"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

import unipost
from unipost_listmonk._channel import ListmonkChannel

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["ListmonkChannel", "unipost_register_channels"]


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ListmonkChannel)
