"""A check that says when the token lapses, so unipost warns days before it does."""

from __future__ import annotations

from typing import ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Channel,
    Context,
    CredentialStatus,
    Expiry,
    Flow,
    json_object,
    secret,
)


@attrs.frozen(kw_only=True)
class TokenInfoChannel(Channel):
    """An imaginary platform whose ``GET /token`` answers ``{"user", "expires_at"}``."""

    name: ClassVar[str] = "tokeninfo"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=500)

    token: str = secret()
    base_url: str = "https://api.tokeninfo.example"

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        response = yield httpx.Request(
            "GET", f"{self.base_url}/token", headers={"Authorization": f"Bearer {self.token}"}
        )
        info = json_object(response)
        at = info.get("expires_at")
        expiries = []
        if isinstance(at, int | float) and at > 0:  # 0 or absent: it never expires
            expiries.append(Expiry(credential="access token", at=at, source="GET /token"))
        return CredentialStatus(summary=f"authenticated as @{info['user']}", expiries=expiries)
