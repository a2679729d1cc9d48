"""Refresh for LinkedIn (Marketing partners): the new tokens reach the credentials hook, and a
refresh token that came back rotated replaces the old one for good."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_linkedin import LinkedInChannel

import unipost
from unipost.plugins import default_host
from unipost.testing import deliver

from .conftest import API, SETTINGS, error

TOKEN_URL = "https://www.linkedin.com/oauth/v2/accessToken"


class Vault:
    def __init__(self) -> None:
        self.kept: list[dict[str, Any]] = []

    @unipost.hookimpl
    def unipost_store_credentials(self, account: str, values: Mapping[str, Any]) -> bool:
        self.kept.append({"account": account, **values})
        return True


@pytest.fixture
def vault() -> Iterator[Vault]:
    store = Vault()
    default_host().register_plugin(store, "linkedin-test-vault")
    try:
        yield store
    finally:
        default_host()._pm.unregister(store)


def test_refresh_rotation_reaches_the_vault_and_the_old_token_is_dropped(
    httpx_mock: HTTPXMock, vault: Vault
) -> None:
    ch = LinkedInChannel.from_settings(
        "linkedin-page",
        SETTINGS
        | {"refresh_token": "li-refresh-1", "client_id": "cid", "client_secret": "csecret-123"},
    )
    for new in ("2", "3"):
        httpx_mock.add_response(method="POST", url=f"{API}/rest/posts", **error("invalid_token"))
        httpx_mock.add_response(
            method="POST",
            url=TOKEN_URL,
            json={
                "access_token": f"li-access-{new}",
                "expires_in": 5183999,
                "refresh_token": f"li-refresh-{new}",
                "refresh_token_expires_in": 31535999,
            },
        )
        httpx_mock.add_response(
            method="POST",
            url=f"{API}/rest/posts",
            match_headers={"Authorization": f"Bearer li-access-{new}"},
            status_code=201,
            headers={"x-restli-id": f"urn:li:share:{new}"},
        )
        deliver(ch, unipost.Post(text=f"post {new}"))
    sent = [
        dict(httpx.QueryParams(r.content.decode())) for r in httpx_mock.get_requests(url=TOKEN_URL)
    ]
    assert [s["refresh_token"] for s in sent] == ["li-refresh-1", "li-refresh-2"]
    assert sent[0]["client_id"] == "cid"
    assert sent[0]["client_secret"] == "csecret-123"
    assert [k["refresh_token"] for k in vault.kept] == ["li-refresh-2", "li-refresh-3"]
    assert all(k["account"] == "linkedin-page" for k in vault.kept)
    assert "refresh_token_expires_at" in vault.kept[0]
