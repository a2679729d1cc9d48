"""A well-behaved plugin: one channel that "publishes" into memory."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

import unipost

if TYPE_CHECKING:
    from unipost.plugins import Register

PUBLISHED: list[str] = []


@attrs.frozen(kw_only=True)
class GoodChannel(unipost.Channel):
    name: ClassVar[str] = "goodchan"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(text_limit=280)

    async def deliver(self, prepared: unipost.Prepared, ctx: unipost.Context) -> unipost.Receipt:
        PUBLISHED.append(prepared.text)
        return unipost.Receipt(platform_id=f"g{len(PUBLISHED)}", url="https://good.example/p")


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(GoodChannel)
