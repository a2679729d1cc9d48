"""The LinkedIn channel: the Posts API (``/rest/posts``) and the Images API.

Every call names the API version (``LinkedIn-Version: YYYYMM``, retired about
a year after release, so it is a setting) and Rest.li 2.0. A member posts
with ``w_member_social``; an organization page with ``w_organization_social``
by a member with an admin or content-poster role. Access tokens last 60 days;
programmatic refresh exists only for approved Marketing partners, so refresh
settings are optional and ``check()`` says when the token lapses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
from unipost_oauth import OAuth2App, TokenHolder, hook_store, oauth_error

from unipost.plugin import (
    Absent,
    AuthFailed,
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
    LookupResult,
    Media,
    Overflow,
    Permanent,
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Transient,
    Unknown,
    json_object,
    secret,
)
from unipost_linkedin._errors import classify_linkedin
from unipost_linkedin._little import escape

__all__ = ["LinkedInChannel"]

API = "https://api.linkedin.com"
OAUTH = "https://www.linkedin.com/oauth/v2"
DEFAULT_VERSION = "202611"
ALT_TEXT_LIMIT = 4086
IMAGE_PIXELS = 36_152_320
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif"})
_AUTHOR = re.compile(r"urn:li:(person|organization):[A-Za-z0-9_-]+")
_VERSION = re.compile(r"20\d{2}(0[1-9]|1[0-2])(\.\d{2})?")
_POLLS = (1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 10.0, 10.0)
_PAGE = 50
_PAGES = 10

CAPABILITIES = Capabilities(
    text_limit=3000,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.TRUNCATE,
    max_media=20,
    media_types=MEDIA_TYPES,
    link_cards=True,
    hashtags=True,
    idempotency=Idempotency.LOOKUP,
)


def _check_author(_instance: Any, _attribute: Any, value: str) -> None:
    if not _AUTHOR.fullmatch(value):
        raise ValueError(
            f"author must be urn:li:person:<id> or urn:li:organization:<id>, not {value!r}"
        )


def _check_version(_instance: Any, _attribute: Any, value: str) -> None:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"version must be a LinkedIn-Version such as 202611, not {value!r}")


@attrs.frozen(kw_only=True)
class LinkedInChannel(Channel):
    """One LinkedIn author: a member (``urn:li:person:...``) or a page (``urn:li:organization:...``)."""

    name = "linkedin"
    capabilities = CAPABILITIES

    access_token: str = secret()
    author: str = attrs.field(validator=_check_author)
    version: str = attrs.field(default=DEFAULT_VERSION, validator=_check_version)
    refresh_token: str | None = secret(default=None)
    client_id: str | None = None
    client_secret: str | None = secret(default=None)
    access_token_expires_at: float | None = None
    #: When the refresh token lapses (Unix time), as the token endpoint's
    #: ``refresh_token_expires_in`` said; ``unipost check`` warns before it.
    refresh_token_expires_at: float | None = None
    visibility: str = attrs.field(
        default="PUBLIC", validator=attrs.validators.in_(("PUBLIC", "CONNECTIONS", "LOGGED_IN"))
    )
    base_url: str = API
    oauth_url: str = OAUTH
    _tokens: TokenHolder = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        app = OAuth2App(
            token_url=self.oauth_url + "/accessToken",
            client_id=self.client_id,
            client_secret=self.client_secret,
            rotates=False,  # LinkedIn keeps the refresh token (fixed 365 days) and returns it
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
        """A link without images becomes an article card, not text."""
        return super().link_suffix(post, body) if post.media else ""

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        for index, item in enumerate(prepared.post.media):
            if item.alt and len(item.alt) > ALT_TEXT_LIMIT:
                raise ContentRejected(
                    f"{self.id}.media[{index}].alt",
                    f"alt text over {ALT_TEXT_LIMIT} characters",
                    "shorten the description",
                )
            if item.width and item.height and item.width * item.height > IMAGE_PIXELS:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{item.width}x{item.height} px, LinkedIn takes under {IMAGE_PIXELS} pixels",
                    "scale the image down",
                )
        commentary = escape(prepared.text)
        changes = list(prepared.changes)
        if commentary != prepared.text:
            changes.append(
                Change(kind="escaped", detail="reserved characters escaped for LinkedIn")
            )
        if prepared.post.link and not prepared.post.media:
            changes.append(
                Change(kind="link_card", detail=f"article card for {prepared.post.link}")
            )
        return attrs.evolve(prepared, changes=tuple(changes), payload={"commentary": commentary})

    # -- requests ----------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "LinkedIn-Version": self.version,
            "X-Restli-Protocol-Version": "2.0.0",
            "Accept": "application/json",
        }

    def post_body(self, prepared: Prepared, images: list[str]) -> dict[str, Any]:
        """The JSON of ``POST /rest/posts``."""
        post = prepared.post
        body: dict[str, Any] = {
            "author": self.author,
            "commentary": prepared.payload.get("commentary", escape(prepared.text)),
            "visibility": self.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        alts = [m.alt or "" for m in post.media]
        if len(images) == 1:
            media: dict[str, Any] = {"id": images[0]}
            if alts[0]:
                media["altText"] = alts[0]
            body["content"] = {"media": media}
        elif images:
            entries = [
                {"id": urn, **({"altText": alt} if alt else {})}
                for urn, alt in zip(images, alts, strict=True)
            ]
            body["content"] = {"multiImage": {"images": entries}}
        elif post.link:
            body["content"] = {"article": {"source": post.link, "title": post.title or post.link}}
        return body

    def post_request(self, body: Mapping[str, Any]) -> Callable[[str], httpx.Request]:
        return lambda token: httpx.Request(
            "POST", self.base_url + "/rest/posts", headers=self._headers(token), json=dict(body)
        )

    def initialize_request(self) -> Callable[[str], httpx.Request]:
        body = {"initializeUploadRequest": {"owner": self.author}}
        return lambda token: httpx.Request(
            "POST",
            self.base_url + "/rest/images",
            params={"action": "initializeUpload"},
            headers=self._headers(token),
            json=body,
        )

    def image_request(self, urn: str) -> Callable[[str], httpx.Request]:
        return lambda token: httpx.Request(
            "GET",
            f"{self.base_url}/rest/images/{quote(urn, safe='')}",
            headers=self._headers(token),
        )

    def _upload(self, media: Media, ctx: Context) -> Flow[str]:
        """initializeUpload → PUT the bytes → poll until the image is AVAILABLE."""
        response = yield from self._tokens.send(ctx.now, self.initialize_request())
        value = json_object(response).get("value")
        if not isinstance(value, Mapping) or not value.get("uploadUrl") or not value.get("image"):
            raise Permanent("LinkedIn answered initializeUpload without uploadUrl and image")
        urn = str(value["image"])
        content = media.read()
        yield from self._tokens.send(
            ctx.now,
            lambda token: httpx.Request(
                "PUT",
                str(value["uploadUrl"]),
                headers={"Authorization": f"Bearer {token}", "Content-Type": media.mime_type},
                content=content,
            ),
        )
        wait: float | None = None  # the first look is at once
        for delay in _POLLS:
            response = yield from self._tokens.send(ctx.now, self.image_request(urn), pause=wait)
            status = json_object(response).get("status")
            if status == "AVAILABLE":
                return urn
            if status in ("FAILED", "PROCESSING_FAILED"):
                raise Permanent(f"LinkedIn could not process image {urn}")
            wait = delay
        raise Transient(f"LinkedIn is still processing image {urn}; try again later")

    @staticmethod
    def url(urn: str) -> str:
        return f"https://www.linkedin.com/feed/update/{urn}"

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        images = []
        for item in prepared.post.media:
            urn = yield from self._upload(item, ctx)
            images.append(urn)
        response = yield from self._tokens.send(
            ctx.now, self.post_request(self.post_body(prepared, images))
        )
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            raise Transient(
                "LinkedIn answered without the post's URN (x-restli-id)",
                status=response.status_code,
                may_have_applied=True,
            )
        return Receipt(platform_id=urn, url=self.url(urn))

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """The author's posts, newest first, back to the first attempt: same commentary wins.

        Needs read access to the author's posts (``r_organization_social`` for a
        page; ``r_member_social`` for a member, which LinkedIn grants rarely).
        """
        since = ctx.first_attempt_at
        if since <= 0:
            return Unknown("the time of the first attempt is not known")
        wanted = prepared.payload.get("commentary", escape(prepared.text))
        for page in range(_PAGES):
            params = {
                "author": self.author,
                "q": "author",
                "count": str(_PAGE),
                "start": str(page * _PAGE),
                "sortBy": "CREATED",
            }
            response = yield from self._tokens.send(
                ctx.now,
                lambda token, params=params: httpx.Request(  # type: ignore[misc]
                    "GET",
                    self.base_url + "/rest/posts",
                    params=params,
                    headers={**self._headers(token), "X-RestLi-Method": "FINDER"},
                ),
            )
            elements = json_object(response).get("elements") or []
            oldest = None
            for element in elements:
                created = element.get("createdAt")
                if not isinstance(created, int | float):
                    continue
                oldest = created / 1000 if oldest is None else min(oldest, created / 1000)
                if created / 1000 >= since and element.get("commentary") == wanted:
                    urn = str(element["id"])
                    return Found(Receipt(platform_id=urn, url=self.url(urn)))
            if len(elements) < _PAGE or (oldest is not None and oldest < since):
                return Absent()
        return Unknown(f"more than {_PAGE * _PAGES} posts since the first attempt")

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        """Introspect the token (with the app's client id and secret), else read userinfo."""
        if self.client_id and self.client_secret:
            form = {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "token": self._tokens.access_token or "",
            }
            response = yield httpx.Request("POST", self.oauth_url + "/introspectToken", data=form)
            assert response is not None
            info = json_object(response)
            if not info.get("active"):
                raise AuthFailed(
                    f"LinkedIn says the token is {info.get('status') or 'not active'}; "
                    "authorize the account again"
                )
            expires = info.get("expires_at")
            if isinstance(expires, int | float):
                self._tokens.expires_at = float(expires)
            scopes = info.get("scope") or "?"
            return self._tokens.status(f"{self.author}, scopes {scopes}")
        response = yield from self._tokens.send(
            ctx.now,
            lambda token: httpx.Request(
                "GET", self.base_url + "/v2/userinfo", headers={"Authorization": f"Bearer {token}"}
            ),
        )
        who = json_object(response).get("name") or "the token's member"
        status = self._tokens.status(f"{self.author} (token of {who})")
        if status.expiries:
            return status
        unknown = (
            "expiry unknown (tokens last 60 days: set client_id and client_secret "
            "so check can ask LinkedIn)"
        )
        return CredentialStatus(summary=status.summary, notes=(*status.notes, unknown))

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        if str(response.request.url).startswith(self.oauth_url):
            return oauth_error(response, now=now)
        return classify_linkedin(response, now=now, channel_id=self.id, version=self.version)
