"""OAuth 1.0a (RFC 5849) HMAC-SHA1 signatures, made by oauthlib, for httpx requests.

Signing is never written by hand here: oauthlib builds the base string and
the signature; this module only moves an ``httpx.Request`` in and out. Only
form-encoded bodies take part in the signature (RFC 5849 §3.4.1.3.1): JSON
and multipart bodies are sent as they are, signed over the URL alone.
"""

from __future__ import annotations

from typing import Literal, cast

import attrs
import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, Client

from unipost.plugin import secret

__all__ = ["OAuth1Credentials", "sign"]

_FORM = "application/x-www-form-urlencoded"
_Method = Literal["DELETE", "GET", "PATCH", "POST", "PUT"]


@attrs.frozen(kw_only=True)
class OAuth1Credentials:
    """An app's consumer key pair and a user's access token pair."""

    consumer_key: str
    consumer_secret: str = secret()
    token: str = secret()
    token_secret: str = secret()


def sign(
    request: httpx.Request,
    credentials: OAuth1Credentials,
    *,
    nonce: str | None = None,
    timestamp: str | None = None,
    realm: str | None = None,
) -> httpx.Request:
    """A copy of ``request`` with its ``Authorization: OAuth ...`` header.

    ``nonce`` and ``timestamp`` are for tests against published vectors;
    oauthlib makes fresh ones otherwise.
    """
    client = Client(
        credentials.consumer_key,
        client_secret=credentials.consumer_secret,
        resource_owner_key=credentials.token,
        resource_owner_secret=credentials.token_secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        nonce=nonce,
        timestamp=timestamp,
        realm=realm,
    )
    request.read()
    form = request.headers.get("content-type", "").split(";")[0].strip() == _FORM
    body = request.content.decode() if form and request.content else None
    headers = {"Content-Type": _FORM} if form else {}
    method = cast("_Method", request.method)
    _uri, signed, _body = client.sign(
        str(request.url), http_method=method, body=body, headers=headers
    )
    out = httpx.Request(
        request.method,
        request.url,
        headers=[*request.headers.multi_items()],
        content=request.content,
        extensions=request.extensions,
    )
    out.headers["Authorization"] = signed["Authorization"]
    return out
