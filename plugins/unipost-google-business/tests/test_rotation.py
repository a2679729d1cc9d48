"""Google OAuth: the access token is refreshed (first use, then expiry); a refresh token Google
rotates reaches the credentials hook and replaces the old one; invalid_grant needs a person."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_google_business import GoogleBusinessChannel

import unipost
from unipost.errors import AuthFailed
from unipost.plugins import default_host
from unipost.testing import deliver

from .conftest import API, PARENT, TOKEN_URL, error

CREATE = f"{API}/v4/{PARENT}/localPosts"
CREATED = {
    "name": f"{PARENT}/localPosts/1",
    "state": "LIVE",
    "searchUrl": "https://local.google.com/x",
}


class Vault:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    @unipost.hookimpl
    def unipost_store_credentials(self, channel: str, values: Mapping[str, Any]) -> bool:
        self.kept.append({"channel": channel, **values})
        return True


@pytest.fixture
def vault() -> Iterator[Vault]:
    store = Vault()
    default_host().register_plugin(store, "google-test-vault")
    try:
        yield store
    finally:
        default_host()._pm.unregister(store)


def channel() -> GoogleBusinessChannel:
    return GoogleBusinessChannel.from_settings(
        "google",
        {
            "account_id": "1234567890",
            "location_id": "9876543210",
            "refresh_token": "1//g-refresh-1",
            "client_id": "123.apps.googleusercontent.com",
            "client_secret": "GOCSPX-secret",
        },
    )


def refreshed(access: str, refresh: str | None = None) -> dict[str, Any]:
    body = {
        "access_token": access,
        "expires_in": 3599,
        "scope": "https://www.googleapis.com/auth/business.manage",
        "token_type": "Bearer",
    }
    if refresh:
        body["refresh_token"] = refresh
    return body


def test_first_use_refreshes_and_a_rotated_token_replaces_the_old(
    httpx_mock: HTTPXMock, vault: Vault
) -> None:
    ch = channel()
    httpx_mock.add_response(url=TOKEN_URL, json=refreshed("ya29.a1"))
    httpx_mock.add_response(
        method="POST", url=CREATE, match_headers={"Authorization": "Bearer ya29.a1"}, json=CREATED
    )
    httpx_mock.add_response(method="POST", url=CREATE, **error("expired_token"))
    httpx_mock.add_response(url=TOKEN_URL, json=refreshed("ya29.a2", "1//g-refresh-2"))
    httpx_mock.add_response(
        method="POST", url=CREATE, match_headers={"Authorization": "Bearer ya29.a2"}, json=CREATED
    )
    httpx_mock.add_response(method="POST", url=CREATE, **error("expired_token"))
    httpx_mock.add_response(url=TOKEN_URL, json=refreshed("ya29.a3"))
    httpx_mock.add_response(
        method="POST", url=CREATE, match_headers={"Authorization": "Bearer ya29.a3"}, json=CREATED
    )
    for text in ("one", "two", "three"):
        deliver(ch, unipost.Post(text=text))
    forms = [
        dict(httpx.QueryParams(r.content.decode())) for r in httpx_mock.get_requests(url=TOKEN_URL)
    ]
    assert [f["refresh_token"] for f in forms] == [
        "1//g-refresh-1",
        "1//g-refresh-1",
        "1//g-refresh-2",
    ]
    assert forms[0] == {
        "grant_type": "refresh_token",
        "refresh_token": "1//g-refresh-1",
        "client_id": "123.apps.googleusercontent.com",
        "client_secret": "GOCSPX-secret",
    }
    assert [k.get("refresh_token") for k in vault.kept] == [None, "1//g-refresh-2", None]
    assert all(k["channel"] == "google-business" for k in vault.kept)


def test_invalid_grant_needs_a_person(httpx_mock: HTTPXMock, vault: Vault) -> None:
    httpx_mock.add_response(url=TOKEN_URL, **error("invalid_grant"))
    with pytest.raises(AuthFailed, match="Token has been expired or revoked"):
        deliver(channel(), unipost.Post(text="x"))
