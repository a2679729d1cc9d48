"""A complete channel plugin: one class and one hook (see docs/writing-a-plugin.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs
import httpx

import unipost
from unipost.channel import Flow
from unipost.classify import error_for_status
from unipost.errors import DeliveryError, DuplicateSignal

if TYPE_CHECKING:
    from unipost.plugins import Register


@attrs.frozen(kw_only=True)
class ShoutChannel(unipost.Channel):
    """Shout, an imaginary microblog: ``POST /statuses`` with a bearer token."""

    name: ClassVar[str] = "shout"
    capabilities: ClassVar[unipost.Capabilities] = unipost.Capabilities(
        text_limit=280,
        text_unit=unipost.TextUnit.GRAPHEMES,
        overflow=unipost.Overflow.TRUNCATE,
        idempotency=unipost.Idempotency.KEY,
        limits=(unipost.Limit(rate=60, per=60.0),),
    )

    token: str = unipost.secret()
    base_url: str = "https://api.shout.example"

    @property
    def failure_domain(self) -> str:
        return "shout"

    def publish_flow(
        self, prepared: unipost.Prepared, ctx: unipost.Context
    ) -> Flow[unipost.Receipt]:
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/statuses",
            json={"status": prepared.text},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": ctx.delivery_key},
        )
        assert response is not None  # a flow is answered None only after a Pause
        data = response.json()
        return unipost.Receipt(platform_id=str(data["id"]), url=data["url"])

    def classify(self, response: httpx.Response) -> DeliveryError | None:
        if response.status_code == 409:  # Shout already has a status with this key
            return DuplicateSignal("already posted", status=409)
        return error_for_status(response)


@unipost.hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ShoutChannel, aliases=("shout-social",))
