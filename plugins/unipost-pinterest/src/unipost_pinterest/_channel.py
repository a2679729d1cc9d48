"""The Pinterest channel (API v5): one pin per post, on a chosen board.

A pin is an image with a title (100 characters), a description (800), a
destination link (2,048) and alt text (500): text-only pins do not exist. A
local image is sent inline as base64 (JPEG or PNG); an image with a public URL
is fetched by Pinterest. Apps on Trial access publish pins only their creator
can see.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
from unipost_oauth import OAuth2App, TokenHolder, hook_store, oauth_error

from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    CredentialStatus,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Overflow,
    Permanent,
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Unknown,
    error_for_status,
    json_object,
    secret,
)

__all__ = ["PinterestChannel"]

API = "https://api.pinterest.com/v5"
TITLE_LIMIT = 100
ALT_TEXT_LIMIT = 500
LINK_LIMIT = 2048
_DIGITS = frozenset("0123456789")
_PAGES = 10

CAPABILITIES = Capabilities(
    text_limit=800,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.TRUNCATE,
    max_media=1,
    media_types=frozenset({"image/jpeg", "image/png"}),
    max_media_bytes=20 * 1024 * 1024,
    title=True,
    hashtags=True,
    idempotency=Idempotency.LOOKUP,
    limits=(Limit(rate=100, per=1.0, name="per-user-second"),),
    health_check=True,  # check() reads the account and the board
)


def _board(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and (not value or not set(value) <= _DIGITS):
        raise ValueError(
            f"{attribute.name} must be the numeric id from GET /v5/boards, not {value!r}"
        )


@attrs.frozen(kw_only=True)
class PinterestChannel(Channel):
    """Pins on one board of one Pinterest account (scopes ``boards:read``, ``pins:write``)."""

    name = "pinterest"
    capabilities = CAPABILITIES

    access_token: str = secret()
    board_id: str = attrs.field(converter=str, validator=_board)
    board_section_id: str | None = attrs.field(default=None, validator=_board)
    refresh_token: str | None = secret(default=None)
    client_id: str | None = None
    client_secret: str | None = secret(default=None)
    access_token_expires_at: float | None = None
    #: When the refresh token lapses (Unix time), as the token endpoint's
    #: ``refresh_token_expires_in`` said; ``unipost check`` warns before it.
    refresh_token_expires_at: float | None = None
    base_url: str = API
    _tokens: TokenHolder = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        app = OAuth2App(
            token_url=self.base_url + "/oauth/token",
            client_id=self.client_id,
            client_secret=self.client_secret,
            basic_auth=True,  # Pinterest: HTTP Basic with the app id and secret
        )
        tokens = TokenHolder(
            access_token=self.access_token,
            refresh_token=self.refresh_token,
            expires_at=self.access_token_expires_at,
            refresh_expires_at=self.refresh_token_expires_at,
            app=app,
            store=hook_store(self.name, self.id),
        )
        object.__setattr__(self, "_tokens", tokens)

    @property
    def tokens(self) -> TokenHolder:
        return self._tokens

    # -- rendering -------------------------------------------------------

    def link_suffix(self, post: Post, body: str) -> str:
        """The link is the pin's destination, not text."""
        return ""

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        source = prepared.post
        if not source.media:
            raise ContentRejected(
                f"{self.id}.media",
                "Pinterest has no text-only pins",
                f"add an image, or give a variant for {self.id!r}, or route elsewhere",
            )
        if source.title and len(source.title) > TITLE_LIMIT:
            raise ContentRejected(
                f"{self.id}.title", f"over {TITLE_LIMIT} characters", "shorten the title"
            )
        if source.link and len(source.link) > LINK_LIMIT:
            raise ContentRejected(
                f"{self.id}.link", f"over {LINK_LIMIT} characters", "use a shorter link"
            )
        alt = source.media[0].alt
        if alt and len(alt) > ALT_TEXT_LIMIT:
            raise ContentRejected(
                f"{self.id}.media[0].alt", f"over {ALT_TEXT_LIMIT} characters", "shorten it"
            )
        changes = list(prepared.changes)
        if source.link:
            changes.append(Change(kind="link", detail=f"the pin links to {source.link}"))
        return attrs.evolve(prepared, changes=tuple(changes))

    # -- requests ----------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def pin_body(self, prepared: Prepared) -> dict[str, Any]:
        """The JSON of ``POST /v5/pins`` (``PinCreate``)."""
        post = prepared.post
        image = post.media[0]
        source: dict[str, Any]
        if image.url is not None and image.data is None and image.path is None:
            source = {"source_type": "image_url", "url": image.url}
        else:
            source = {
                "source_type": "image_base64",
                "content_type": image.mime_type,
                "data": base64.b64encode(image.read()).decode(),
            }
        body: dict[str, Any] = {"board_id": self.board_id, "media_source": source}
        if self.board_section_id:
            body["board_section_id"] = self.board_section_id
        if post.title:
            body["title"] = post.title
        if prepared.text:
            body["description"] = prepared.text
        if post.link:
            body["link"] = post.link
        if image.alt:
            body["alt_text"] = image.alt
        return body

    def pin_request(self, body: Mapping[str, Any]) -> Callable[[str], httpx.Request]:
        return lambda token: httpx.Request(
            "POST", self.base_url + "/pins", headers=self._headers(token), json=dict(body)
        )

    @staticmethod
    def url(pin_id: str) -> str:
        return f"https://www.pinterest.com/pin/{pin_id}/"

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        response = yield from self._tokens.send(ctx.now, self.pin_request(self.pin_body(prepared)))
        pin = json_object(response)
        if not pin.get("id"):
            raise Permanent("Pinterest answered a pin without an id", status=response.status_code)
        return Receipt(platform_id=str(pin["id"]), url=self.url(str(pin["id"])))

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """The board's pins (``GET /v5/boards/{id}/pins``), newest first, back to the first attempt."""
        since = ctx.first_attempt_at
        if since <= 0:
            return Unknown("the time of the first attempt is not known")
        body = self.pin_body(prepared)
        bookmark: str | None = None
        for _ in range(_PAGES):
            params = {"page_size": "100"}
            if bookmark:
                params["bookmark"] = bookmark
            response = yield from self._tokens.send(
                ctx.now,
                lambda token, params=params: httpx.Request(  # type: ignore[misc]
                    "GET",
                    f"{self.base_url}/boards/{self.board_id}/pins",
                    params=params,
                    headers=self._headers(token),
                ),
            )
            page = json_object(response)
            oldest: float | None = None
            for pin in page.get("items") or []:
                created = pin.get("created_at")
                if not isinstance(created, str):
                    continue
                when = dt.datetime.fromisoformat(created).replace(tzinfo=dt.UTC).timestamp()
                oldest = when if oldest is None else min(oldest, when)
                same = all(
                    pin.get(key) == body.get(key) for key in ("title", "description", "link")
                )
                if when >= since and same:
                    return Found(Receipt(platform_id=str(pin["id"]), url=self.url(str(pin["id"]))))
            bookmark = page.get("bookmark")
            if not bookmark or (oldest is not None and oldest < since):
                return Absent()
        return Unknown("more pins on the board since the first attempt than were read")

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        """The account (``GET /v5/user_account``) and the board it posts to."""
        response = yield from self._tokens.send(
            ctx.now,
            lambda token: httpx.Request(
                "GET", self.base_url + "/user_account", headers=self._headers(token)
            ),
        )
        account = json_object(response)
        response = yield from self._tokens.send(
            ctx.now,
            lambda token: httpx.Request(
                "GET", f"{self.base_url}/boards/{self.board_id}", headers=self._headers(token)
            ),
        )
        board = json_object(response)
        who = account.get("username") or "?"
        kind = account.get("account_type") or "account"
        return self._tokens.status(f"@{who} ({kind}), board {board.get('name') or self.board_id!r}")

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """``{"code", "message"}`` bodies, by status."""
        if response.request.url.path.endswith("/oauth/token"):
            return oauth_error(response, now=now)
        if response.status_code < 400:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, Mapping) else None
        code = body.get("code") if isinstance(body, Mapping) else None
        error = error_for_status(
            response, message=message if isinstance(message, str) else None, now=now
        )
        if error is not None and code is not None:
            error.platform_code = str(code)
        return error
