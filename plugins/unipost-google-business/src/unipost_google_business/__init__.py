"""unipost channel for Google Business Profile: ``type = "google-business"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_google_business._channel import GoogleBusinessChannel

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["GoogleBusinessChannel", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(GoogleBusinessChannel)
