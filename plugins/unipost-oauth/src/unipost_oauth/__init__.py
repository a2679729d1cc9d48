"""The OAuth layer shared by unipost's X, LinkedIn, Google, Pinterest and TikTok channels.

* :class:`TokenHolder` — OAuth 2.0 bearer tokens that refresh inside a flow,
  with rotated refresh tokens stored through ``unipost_store_credentials``
  and never sent twice.
* :func:`sign` — OAuth 1.0a HMAC-SHA1 signatures by oauthlib (X's user context).
* :func:`hook_store` — the default place renewed tokens go: the plugin host's hook.

This distribution registers no channel; the platform plugins depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unipost_oauth.oauth1 import OAuth1Credentials, sign
from unipost_oauth.refresh import REFRESH_MARGIN, OAuth2App, Store, TokenHolder, oauth_error

__all__ = [
    "REFRESH_MARGIN",
    "OAuth1Credentials",
    "OAuth2App",
    "Store",
    "TokenHolder",
    "hook_store",
    "oauth_error",
    "sign",
]


def hook_store(channel: str, account: str) -> Store:
    """Renewed credentials for ``[channels.<account>]`` go to the process's plugin host."""

    def store(values: Mapping[str, Any]) -> bool:
        from unipost.plugins import default_host

        return default_host().store_credentials(channel, account, values)

    return store
