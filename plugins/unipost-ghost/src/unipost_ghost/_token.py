"""The Admin API token: a short-lived HS256 JWT made from the ``{id}:{secret}`` key (PyJWT).

Ghost checks ``kid`` (the key id), ``aud`` ``/admin/`` and an expiry at most
five minutes after ``iat``; the secret is hex and signs as raw bytes. A token
is made per request from the dispatcher's clock, so none outlives its minutes.
"""

from __future__ import annotations

import re

import jwt

__all__ = ["LIFETIME", "admin_token", "check_admin_key"]

LIFETIME = 300  # seconds: Ghost refuses tokens that live longer than 5 minutes
_KEY = re.compile(r"[0-9a-fA-F]{8,}:[0-9a-fA-F]{32,}")


def check_admin_key(key: str) -> None:
    """Refuse a malformed key at configuration time, without echoing it."""
    if not _KEY.fullmatch(key.strip()):
        raise ValueError(
            "admin_api_key must be the Admin API key of a custom integration, "
            "'<id>:<hex secret>' (Ghost Admin → Settings → Integrations)"
        )


def admin_token(key: str, now: float) -> str:
    """``Ghost <this>`` is the Authorization header of every Admin API request."""
    key_id, secret = key.strip().split(":", 1)
    issued = int(now)
    return jwt.encode(
        {"iat": issued, "exp": issued + LIFETIME, "aud": "/admin/"},
        bytes.fromhex(secret),
        algorithm="HS256",
        headers={"kid": key_id},
    )
