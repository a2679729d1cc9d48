"""unipost channel for Listmonk: install it and ``type = "listmonk"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import (
    hookimpl,
)
from unipost_listmonk._channel import ListmonkChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["ListmonkChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ListmonkChannel)
