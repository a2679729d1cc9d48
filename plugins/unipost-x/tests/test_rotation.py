"""OAuth 2.0 refresh-token rotation for X: the new refresh token reaches the credentials hook,
and the old one is never sent again (X invalidates the whole token family when a rotated token
is reused: trypostit/trypost#126)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_x import XChannel

import unipost
from unipost.errors import AuthFailed
from unipost.plugins import default_host
from unipost.testing import deliver

from .conftest import API, REFRESH, error


class Vault:
    def __init__(self) -> None:
        self.kept: list[tuple[str, str, dict[str, Any]]] = []

    @unipost.hookimpl
    def unipost_store_credentials(
        self, channel: str, account: str, values: Mapping[str, Any]
    ) -> bool:
        self.kept.append((channel, account, dict(values)))
        return True


@pytest.fixture
def vault() -> Iterator[Vault]:
    store = Vault()
    host = default_host()
    host.register_plugin(store, "test-vault")
    try:
        yield store
    finally:
        host._pm.unregister(store)


def token_answer(access: str, refresh: str) -> dict[str, Any]:
    return {
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": access,
        "scope": "tweet.write tweet.read users.read media.write offline.access",
        "refresh_token": refresh,
    }


SETTINGS = {
    "access_token": "expired-access-1",
    "refresh_token": REFRESH,
    "client_id": "client-abc",
    "client_secret": "client-secret-xyz",
}


def channel() -> XChannel:
    return XChannel.from_settings("x-shop", SETTINGS)


def test_a_401_rotates_the_refresh_token_into_the_vault(
    httpx_mock: HTTPXMock, vault: Vault
) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("unauthorized"))
    httpx_mock.add_response(
        method="POST", url=f"{API}/2/oauth2/token", json=token_answer("access-2", "refresh-2")
    )
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/tweets",
        match_headers={"Authorization": "Bearer access-2"},
        json={"data": {"id": "42", "text": "hi"}},
    )
    ch = channel()
    receipt = deliver(ch, unipost.Post(text="hi"))
    assert receipt.platform_id == "42"
    refresh = httpx_mock.get_requests(url=f"{API}/2/oauth2/token")[0]
    assert dict(httpx.QueryParams(refresh.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
    }
    basic = base64.b64encode(b"client-abc:client-secret-xyz").decode()
    assert refresh.headers["Authorization"] == f"Basic {basic}"
    assert vault.kept == [
        (
            "x",
            "x-shop",
            {
                "access_token": "access-2",
                "refresh_token": "refresh-2",
                "access_token_expires_at": pytest.approx(ch.tokens.expires_at),
            },
        )
    ]
    assert ch.tokens.refresh_token == "refresh-2"
    # What the vault kept is settings: the next process builds the channel from them as they are.
    again = XChannel.from_settings("x-shop", {**SETTINGS, **vault.kept[0][2]})
    assert again.tokens.refresh_token == "refresh-2"


def test_the_old_refresh_token_is_never_reused(httpx_mock: HTTPXMock, vault: Vault) -> None:
    """Second expiry: the refresh sends refresh-2, never the first token again."""
    ch = channel()
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("unauthorized"))
    httpx_mock.add_response(url=f"{API}/2/oauth2/token", json=token_answer("access-2", "refresh-2"))
    httpx_mock.add_response(
        method="POST", url=f"{API}/2/tweets", json={"data": {"id": "1", "text": "a"}}
    )
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("unauthorized"))
    httpx_mock.add_response(url=f"{API}/2/oauth2/token", json=token_answer("access-3", "refresh-3"))
    httpx_mock.add_response(
        method="POST", url=f"{API}/2/tweets", json={"data": {"id": "2", "text": "b"}}
    )
    deliver(ch, unipost.Post(text="a"))
    deliver(ch, unipost.Post(text="b"))
    sent = [
        dict(httpx.QueryParams(r.content.decode()))["refresh_token"]
        for r in httpx_mock.get_requests(url=f"{API}/2/oauth2/token")
    ]
    assert sent == [REFRESH, "refresh-2"]
    assert [k[2]["refresh_token"] for k in vault.kept] == ["refresh-2", "refresh-3"]


def test_a_refused_refresh_needs_a_person(httpx_mock: HTTPXMock, vault: Vault) -> None:
    httpx_mock.add_response(method="POST", url=f"{API}/2/tweets", **error("unauthorized"))
    httpx_mock.add_response(url=f"{API}/2/oauth2/token", **error("refresh_refused"))
    ch = channel()
    with pytest.raises(AuthFailed, match="authorize the account again"):
        deliver(ch, unipost.Post(text="a"))
    assert not ch.tokens.can_refresh  # the spent token is not tried again
    assert vault.kept == []


def test_an_expired_token_is_refreshed_before_the_post(httpx_mock: HTTPXMock, vault: Vault) -> None:
    ch = XChannel.from_settings(
        "x-shop",
        {
            "access_token": "old",
            "access_token_expires_at": 1.0,
            "refresh_token": REFRESH,
            "client_id": "public-client",
        },
    )
    httpx_mock.add_response(url=f"{API}/2/oauth2/token", json=token_answer("new", "refresh-2"))
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/tweets",
        match_headers={"Authorization": "Bearer new"},
        json={"data": {"id": "3", "text": "c"}},
    )
    deliver(ch, unipost.Post(text="c"))
    refresh = httpx_mock.get_requests(url=f"{API}/2/oauth2/token")[0]
    form = dict(httpx.QueryParams(refresh.content.decode()))
    assert form["client_id"] == "public-client"  # a public (PKCE) client sends its id in the body
    assert "Authorization" not in refresh.headers
    assert json.loads(httpx_mock.get_requests(method="POST", url=f"{API}/2/tweets")[0].content) == {
        "text": "c"
    }
