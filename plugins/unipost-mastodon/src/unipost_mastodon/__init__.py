"""unipost channel for Mastodon: install it and ``type = "mastodon"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import Channel, StatusSource, hookimpl
from unipost_mastodon._channel import DEFAULT_CAPABILITIES, MastodonChannel
from unipost_mastodon._instance import InstanceLimits

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "DEFAULT_CAPABILITIES",
    "InstanceLimits",
    "MastodonChannel",
    "unipost_register_channels",
    "unipost_status_sources",
]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(MastodonChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """The instance's own health check, ``GET /health`` (Mastodon 3.0+: "OK" while it serves).

    A server that does not answer is itself the outage, so no answer counts as down."""
    if not isinstance(channel, MastodonChannel):
        return None
    return [
        StatusSource(
            domain=channel.failure_domain,
            url=channel.instance.rstrip("/") + "/health",
            format="health",
            label=channel.failure_domain,
        )
    ]
