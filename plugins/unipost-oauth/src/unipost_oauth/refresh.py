"""OAuth 2.0 bearer tokens that renew themselves inside a flow, with refresh-token rotation.

X, TikTok (and Google or LinkedIn at times) answer a refresh with a *new*
refresh token and stop honouring the old one. So the newest token is kept on
the channel object, handed at once to the ``unipost_store_credentials`` hook
(the next process resolves it from the business's secret store), and a
refresh token that was ever sent is never sent again: two deliveries that
find the access token stale at once share one refresh instead of racing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx

from unipost.plugin import (
    AuthFailed,
    CredentialStatus,
    DeliveryError,
    Expiry,
    Flow,
    Pause,
    Permanent,
    Transient,
    error_for_status,
    register_secret,
)

__all__ = ["REFRESH_MARGIN", "OAuth2App", "Store", "TokenHolder", "oauth_error"]

#: Refresh this many seconds before the platform's stated expiry.
REFRESH_MARGIN = 120.0
#: When another delivery is refreshing the same tokens, try again this much later.
_BUSY_RETRY = 1.0

#: Receives renewed credentials under the channels' setting names (``access_token``,
#: ``refresh_token``, ``access_token_expires_at``, ``refresh_token_expires_at``), so a
#: resolve hook can hand them back unchanged.
Store = Callable[[Mapping[str, Any]], bool]


@attrs.frozen(kw_only=True)
class OAuth2App:
    """A platform's token endpoint and how the client proves itself there (RFC 6749 §2.3)."""

    token_url: str
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    basic_auth: bool = False  # X confidential clients: HTTP Basic; everyone else: in the body
    client_id_param: str = "client_id"  # TikTok calls it client_key
    #: The platform may rotate: a refresh token whose answer was lost is treated as spent.
    #: Google and LinkedIn keep the refresh token; a lost answer leaves it usable.
    rotates: bool = True

    def refresh_request(self, refresh_token: str) -> httpx.Request:
        """``grant_type=refresh_token`` (RFC 6749 §6), form-encoded."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"Accept": "application/json"}
        if self.basic_auth and self.client_id and self.client_secret:
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            if self.client_id:
                form[self.client_id_param] = self.client_id
            if self.client_secret:
                form["client_secret"] = self.client_secret
        return httpx.Request("POST", self.token_url, data=form, headers=headers)


def oauth_error(response: httpx.Response, *, now: float | None = None) -> DeliveryError | None:
    """The error an RFC 6749 §5.2 token-endpoint answer means.

    A 400 or 401 there (``invalid_grant``: expired, revoked or already used;
    X answers a spent token with ``invalid_request``) means the refresh token
    is no good: ``AuthFailed``, someone must authorize the account again.
    429 and 5xx keep their usual meaning.
    """
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("error") if isinstance(body, Mapping) else None
    detail = body.get("error_description") if isinstance(body, Mapping) else None
    if response.status_code in (400, 401):
        text = f"the token endpoint refused the refresh ({code or response.status_code}"
        text += f": {detail})" if isinstance(detail, str) and detail else ")"
        return AuthFailed(
            text + "; authorize the account again",
            status=response.status_code,
            platform_code=code if isinstance(code, str) else None,
        )
    message = f"token endpoint: {code}" if isinstance(code, str) else None
    return error_for_status(response, message=message, now=now)


@attrs.define(kw_only=True)
class TokenHolder:
    """The live tokens of one channel object: mutable state beside a frozen channel."""

    access_token: str | None = attrs.field(repr=False)
    refresh_token: str | None = attrs.field(default=None, repr=False)
    expires_at: float | None = None
    refresh_expires_at: float | None = None
    app: OAuth2App | None = None
    store: Store | None = attrs.field(default=None, repr=False)
    stored: bool | None = None  # None: nothing renewed yet
    _spent: set[str] = attrs.field(factory=set, repr=False)
    _refreshing: bool = False

    def __attrs_post_init__(self) -> None:
        for value in (self.access_token, self.refresh_token):
            if value:
                register_secret(value)

    @property
    def can_refresh(self) -> bool:
        return bool(self.refresh_token and self.app and self.refresh_token not in self._spent)

    def stale(self, now: float) -> bool:
        """No access token, or one that expires within the margin."""
        if not self.access_token:
            return True
        return self.expires_at is not None and now >= self.expires_at - REFRESH_MARGIN

    def bearer(self, now: Callable[[], float]) -> Flow[str]:
        """A usable access token: refreshed first when stale and a refresh token is known."""
        if self.stale(now()) and (self.can_refresh or self._refreshing):
            return (yield from self.refresh(now, stale=self.access_token))
        if not self.access_token:
            raise AuthFailed("no access token and no refresh token: authorize the account")
        return self.access_token

    def refresh(self, now: Callable[[], float], *, stale: str | None) -> Flow[str]:
        """Trade the refresh token for new tokens, once per generation of tokens.

        ``stale`` is the access token the caller found wanting; if another
        delivery already replaced it, that newer token is used as it is.
        """
        if self.access_token and self.access_token != stale:
            return self.access_token
        if self._refreshing:
            # Never a second refresh with the same token: come back when the first is done.
            raise Transient(
                "another delivery of this account is refreshing its access token",
                retry_after=_BUSY_RETRY,
            )
        if not self.can_refresh or self.app is None or self.refresh_token is None:
            raise AuthFailed(
                "the access token expired and no unused refresh token is configured; "
                "authorize the account again",
            )
        sent = self.refresh_token
        self._refreshing = True
        try:
            if self.app.rotates:
                self._spent.add(sent)  # rotated tokens are single-use: never send this one again
            try:
                response = yield self.app.refresh_request(sent)
            except DeliveryError as error:
                if not error.may_have_applied and not isinstance(error, AuthFailed):
                    self._spent.discard(sent)  # never reached, or refused unprocessed (429, 503)
                raise
            self._accept(response, now())
            if self.refresh_token == sent:
                self._spent.discard(sent)  # no new one came back: the platform kept this one
        finally:
            self._refreshing = False
        assert self.access_token is not None
        return self.access_token

    def _accept(self, response: httpx.Response, now: float) -> None:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
            raise Permanent(
                "the token endpoint answered without an access_token", status=response.status_code
            )
        self.access_token = str(body["access_token"])
        register_secret(self.access_token)
        expires_in = _seconds(body.get("expires_in"))
        self.expires_at = now + expires_in if expires_in is not None else None
        renewed: dict[str, Any] = {
            "access_token": self.access_token,
            "access_token_expires_at": self.expires_at,
        }
        new_refresh = body.get("refresh_token")
        if isinstance(new_refresh, str) and new_refresh:
            register_secret(new_refresh)
            self.refresh_token = new_refresh
            renewed["refresh_token"] = new_refresh
        for key in ("refresh_token_expires_in", "refresh_expires_in"):
            seconds = _seconds(body.get(key))
            if seconds is not None:
                self.refresh_expires_at = now + seconds
                renewed["refresh_token_expires_at"] = self.refresh_expires_at
        if self.store is not None:
            self.stored = bool(self.store(renewed))

    def send(
        self,
        now: Callable[[], float],
        build: Callable[[str], httpx.Request],
        *,
        pause: float | None = None,
    ) -> Flow[httpx.Response]:
        """The httpx-``Auth``-like step: ``build(token)`` sent with a fresh token.

        ``pause`` waits that long first (polling). A 401 (the token was revoked
        or expired early) is answered by one refresh and one resend; a 401 was
        not applied, so resending is safe.
        """
        token = yield from self.bearer(now)
        try:
            request = build(token)
            response = yield request if pause is None else Pause(pause, then=request)
        except AuthFailed:
            if not (self.can_refresh or self._refreshing or self.access_token != token):
                raise
            token = yield from self.refresh(now, stale=token)
            response = yield build(token)
        return response

    def expiries(self) -> tuple[Expiry, ...]:
        """When the tokens lapse, as far as the platform (or the configuration) told.

        The access token is renewed automatically while an unused refresh token
        is held; the refresh token itself needs a person when it lapses.
        """
        found = []
        if self.expires_at is not None:
            found.append(
                Expiry(
                    credential="access token",
                    at=self.expires_at,
                    renewable=self.can_refresh,
                    source="expires_in / access_token_expires_at",
                )
            )
        if self.refresh_expires_at is not None:
            found.append(
                Expiry(
                    credential="refresh token",
                    at=self.refresh_expires_at,
                    source="refresh_token_expires_in / refresh_token_expires_at",
                )
            )
        return tuple(found)

    def status(self, summary: str) -> CredentialStatus:
        """For ``check()``: ``summary`` with the tokens' expiries and what a person should know."""
        notes: tuple[str, ...] = ()
        if self.stored is False:
            notes = (
                "a renewed refresh token was kept only in this process: implement "
                "unipost_store_credentials so it survives a restart",
            )
        return CredentialStatus(summary=summary, expiries=self.expiries(), notes=notes)


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
