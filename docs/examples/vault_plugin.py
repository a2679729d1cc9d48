"""Credentials from your own secret store, not from unipost.toml or the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import unipost

#: Stands in for a real vault client (HashiCorp Vault, AWS Secrets Manager, a database...).
VAULT: dict[tuple[str, str], dict[str, str]] = {
    ("shout", "shout-bakery"): {"token": "shout-token-from-vault"},
}


@unipost.hookimpl
def unipost_resolve_credentials(
    channel: str, account: str, config: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Answer for the accounts the vault knows; None lets the next plugin answer."""
    return VAULT.get((channel, account))
