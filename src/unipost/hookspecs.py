"""The three hooks a plugin can implement. They register or answer; they never do I/O.

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


@_hookspec
def unipost_publish_event(event: Event) -> None:
    """Observe a delivery event (attempt, retry, breaker transition, outcome).

    Exceptions are logged and ignored: an observer never breaks delivery."""
