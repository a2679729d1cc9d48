"""A complete channel plugin: one class and one hook (see docs/writing-a-plugin.md)."""

from __future__ import annotations

from typing import ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Channel,
    Context,
    DeliveryError,
    DuplicateSignal,
    Flow,
    Idempotency,
    Limit,
    Overflow,
    Prepared,
    Receipt,
    Register,
    TextUnit,
    error_for_status,
    hookimpl,
    json_object,
    require,
    secret,
)


@attrs.frozen(kw_only=True)
class ShoutChannel(Channel):
    """Shout, an imaginary microblog: ``POST /statuses`` with a bearer token."""

    name: ClassVar[str] = "shout"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=280,
        text_unit=TextUnit.GRAPHEMES,
        overflow=Overflow.TRUNCATE,
        idempotency=Idempotency.KEY,
        limits=(Limit(rate=60, per=60.0),),
    )

    token: str = secret()
    base_url: str = "https://api.shout.example"

    @property
    def failure_domain(self) -> str:
        return "shout"

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield httpx.Request(
            "POST",
            f"{self.base_url}/statuses",
            json={"status": prepared.text},
            headers={"Authorization": f"Bearer {self.token}", "Idempotency-Key": ctx.delivery_key},
        )
        data = json_object(response)  # a 2xx that is not JSON may hide a created status
        status_id = require(data, "id", what="Shout's answer")  # no id: ambiguous, not a crash
        return Receipt(platform_id=str(status_id), url=data.get("url"))

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        if response.status_code == 409:  # Shout already has a status with this key
            return DuplicateSignal("already posted", status=409)
        return error_for_status(response, now=now)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ShoutChannel, aliases=("shout-social",))
