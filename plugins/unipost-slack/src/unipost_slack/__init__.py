"""unipost channel for Slack: install it and ``type = "slack"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import hookimpl
from unipost_slack._channel import SlackChannel
from unipost_slack._errors import classify_response

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = ["SlackChannel", "classify_response", "unipost_register_channels"]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(SlackChannel)
