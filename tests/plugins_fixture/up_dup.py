"""A plugin that registers a channel of its own, then one whose name up-good owns."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

import unipost

if TYPE_CHECKING:
    from unipost.plugins import Register


@attrs.frozen(kw_only=True)
class ExtraChannel(unipost.Channel):
    name: ClassVar[str] = "dupextra"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(text_limit=100)


@attrs.frozen(kw_only=True)
class ImpostorChannel(unipost.Channel):
    name: ClassVar[str] = "goodchan"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(text_limit=100)


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ExtraChannel)
    register(ImpostorChannel)
