"""The hooks a plugin can implement. They register or answer; they never do I/O.

Implement them with ``@unipost.hookimpl`` in a module named by an entry point
in the ``unipost`` group (see ``docs/writing-a-plugin.md``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from unipost.channel import Channel
    from unipost.events import Event
    from unipost.status_feeds import StatusSource

__all__ = ["Register", "hookimpl"]


class Register(Protocol):
    """What ``unipost_register_channels`` is handed: call it once per channel class."""

    def __call__(self, channel_class: type[Channel], *, aliases: Iterable[str] = ()) -> None: ...


_hookspec = pluggy.HookspecMarker("unipost")
hookimpl = pluggy.HookimplMarker("unipost")


@_hookspec
def unipost_register_channels(register: Register) -> None:
    """Register channel classes: call ``register(ChannelClass, aliases=(...))`` for each."""


@_hookspec(firstresult=True)
def unipost_resolve_credentials(
    channel: str, account: str, config: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Return settings (tokens, passwords) for channel type ``channel`` configured as
    ``account``, from your own secret store; None lets the next plugin answer."""


@_hookspec(firstresult=True)
def unipost_store_credentials(channel: str, account: str, values: Mapping[str, Any]) -> bool | None:
    """Keep credentials a channel renewed itself (a rotated OAuth refresh token) in your
    secret store, so the next process resolves the new ones; return True when stored.

    The write twin of ``unipost_resolve_credentials``: a rotated refresh token is
    valid once, so losing it means the account must be authorized again."""


@_hookspec
def unipost_publish_event(event: Event) -> None:
    """Observe a delivery event (attempt, retry, breaker transition, outcome).

    Exceptions are logged and ignored: an observer never breaks delivery."""


@_hookspec
def unipost_status_sources(channel: Channel) -> Iterable[StatusSource] | None:
    """Name the public feeds that speak for ``channel`` (a configured instance): its
    platform's status page, its server's health check, its account's standing.

    Return None for channels of other plugins. The worker polls what you name
    (see ``docs/outage-awareness.md``); you only describe it, never fetch it."""
