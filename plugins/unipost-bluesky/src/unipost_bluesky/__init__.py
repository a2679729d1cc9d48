"""unipost channel for Bluesky: install it and ``type = "bluesky"`` is available."""

from __future__ import annotations

from typing import TYPE_CHECKING

from unipost.plugin import Channel, StatusSource, hookimpl
from unipost_bluesky._channel import CAPABILITIES, BlueskyChannel, tid_for

if TYPE_CHECKING:
    from unipost.plugin import Register

__all__ = [
    "CAPABILITIES",
    "BlueskyChannel",
    "tid_for",
    "unipost_register_channels",
    "unipost_status_sources",
]


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(BlueskyChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """The PDS's own health check, ``GET /xrpc/_health`` (``{"version": ...}``, 503 when its database is down).

    A server that does not answer is itself the outage, so no answer counts as down."""
    if not isinstance(channel, BlueskyChannel):
        return None
    return [
        StatusSource(
            domain=channel.failure_domain,
            url=channel.base_url.rstrip("/") + "/xrpc/_health",
            format="health",
            label=channel.failure_domain,
        )
    ]
