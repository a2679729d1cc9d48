"""The login session kept beside a frozen channel, and when its tokens lapse.

``createSession`` answers two JWTs: ``accessJwt`` (minutes to hours) and
``refreshJwt`` (weeks to months). Their ``exp`` claim says when each lapses.
It is read without verifying the signature, on purpose: the PDS signs with
its own secret, which a client never holds, and the time is only reported
(``unipost check``), never trusted for access — the PDS still decides. So
a JWT library would add a dependency to base64-decode one JSON object.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

import attrs

from unipost.plugin import Expiry, register_secret

__all__ = ["Session", "jwt_expiry"]


def jwt_expiry(token: str | None) -> float | None:
    """The ``exp`` claim of a JWT (Unix time), or None when it has none or is not a JWT."""
    if not token or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        return float(exp)
    return None


@attrs.define
class Session:
    """Mutable holder on a frozen channel: one login serves every post (createSession is scarce)."""

    access: str | None = None
    refresh: str | None = None
    did: str | None = None
    handle: str | None = None

    def update(self, body: Mapping[str, Any]) -> None:
        self.access = str(body["accessJwt"])
        self.refresh = str(body["refreshJwt"])
        self.did = str(body["did"])
        self.handle = str(body.get("handle") or self.handle)
        register_secret(self.access)
        register_secret(self.refresh)

    def expiries(self) -> tuple[Expiry, ...]:
        """Both tokens lapse, and both are renewed without a person: the access token
        by ``refreshSession``, the refresh token by a new login with the app password."""
        found = []
        for token, credential in ((self.access, "access token"), (self.refresh, "refresh token")):
            at = jwt_expiry(token)
            if at is not None:
                found.append(
                    Expiry(
                        credential=f"session {credential}", at=at, renewable=True, source="JWT exp"
                    )
                )
        return tuple(found)
