"""The Google Business Profile channel: local posts through the My Business API v4.

A 200 from ``localPosts.create`` is not proof of publication: the answer can
carry ``state: REJECTED`` (content policy) or ``PROCESSING`` (under review), so
the state is read. ``searchUrl`` (the post on Google Search) is the receipt's
URL. A new revision of a post patches the same local post in place.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
from unipost_oauth import OAuth2App, TokenHolder, hook_store, oauth_error

from unipost.plugin import (
    Absent,
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    ConfigurationError,
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
    json_object,
    secret,
)
from unipost_google_business._errors import classify_google
from unipost_google_business._localpost import Details, details, local_post, update_mask

__all__ = ["GoogleBusinessChannel"]

API = "https://mybusiness.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
SCOPE = "https://www.googleapis.com/auth/business.manage"
_ID = re.compile(r"\d+")
_NAME = re.compile(r"accounts/\d+/locations/\d+/localPosts/[^/]+")
_PAGES = 10

CAPABILITIES = Capabilities(
    text_limit=1500,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.TRUNCATE,
    max_media=1,
    media_types=frozenset({"image/jpeg", "image/png"}),
    max_media_bytes=5 * 1024 * 1024,
    media_from_url_only=True,
    title=True,
    idempotency=Idempotency.LOOKUP,
    limits=(Limit(rate=10, per=60.0, name="edits-per-profile"),),
    health_check=True,  # check() reads tokeninfo and one local post
)


def _numeric(_instance: Any, attribute: Any, value: str) -> None:
    if not _ID.fullmatch(value):
        raise ValueError(
            f"{attribute.name} must be the numeric id (accounts/<id>, locations/<id>), not {value!r}"
        )


@attrs.frozen(kw_only=True)
class GoogleBusinessChannel(Channel):
    """One Business Profile location, posted to with an OAuth client's refresh token."""

    name = "google-business"
    capabilities = CAPABILITIES

    account_id: str = attrs.field(converter=str, validator=_numeric)
    location_id: str = attrs.field(converter=str, validator=_numeric)
    refresh_token: str | None = secret(default=None)
    client_id: str | None = None
    client_secret: str | None = secret(default=None)
    access_token: str | None = secret(default=None)
    access_token_expires_at: float | None = None
    #: When the refresh token lapses (Unix time), as the token endpoint's
    #: ``refresh_token_expires_in`` said; ``unipost check`` warns before it.
    refresh_token_expires_at: float | None = None
    language: str | None = None
    call_to_action: str | None = "LEARN_MORE"
    base_url: str = API
    token_url: str = TOKEN_URL
    _tokens: TokenHolder = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if not self.access_token and not (self.refresh_token and self.client_id):
            raise ConfigurationError(
                f"channels.{self.id}.refresh_token",
                "no credentials: Google access tokens last an hour",
                "give refresh_token, client_id and client_secret (an OAuth client with the "
                "business.manage scope)",
            )
        app = OAuth2App(
            token_url=self.token_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            rotates=False,  # Google keeps the refresh token unless it sends a new one
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
    def failure_domain(self) -> str:
        return "google"

    @property
    def tokens(self) -> TokenHolder:
        return self._tokens

    @property
    def parent(self) -> str:
        return f"accounts/{self.account_id}/locations/{self.location_id}"

    # -- rendering -------------------------------------------------------

    def link_suffix(self, post: Post, body: str) -> str:
        """The link is the button's target (or the offer's redeem URL), not text."""
        return ""

    def prepare(self, post: Post) -> Prepared:
        info = details(post.for_channel(self.id), self.id, self.call_to_action)
        if info.topic == "STANDARD" and post.title:
            # A What's new post has no title field: the title opens the summary.
            post = attrs.evolve(post, text=f"{post.title}\n\n{post.text or ''}".strip(), title=None)
        prepared = super().prepare(post)
        changes = list(prepared.changes)
        names = {"STANDARD": "What's new", "OFFER": "Offer", "EVENT": "Event"}
        changes.append(Change(kind="post_type", detail=f"a {names[info.topic]} post"))
        if info.action:
            target = f" to {info.action_url}" if info.action_url else ""
            changes.append(Change(kind="button", detail=f"{info.action} button{target}"))
        elif prepared.post.link and info.topic != "OFFER":
            changes.append(
                Change(kind="link_dropped", detail="no button chosen: the link is not shown")
            )
        return attrs.evolve(prepared, changes=tuple(changes), payload={"details": info})

    # -- requests ----------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "X-GOOG-API-FORMAT-VERSION": "2",  # field-level details in 400 answers
        }

    def body(self, prepared: Prepared) -> dict[str, Any]:
        info: Details = prepared.payload["details"]
        photos = [m.url for m in prepared.post.media if m.url]
        language = prepared.post.language or self.language
        return local_post(prepared.text, info, photos, language)

    def create_request(self, body: Mapping[str, Any]) -> Callable[[str], httpx.Request]:
        return lambda token: httpx.Request(
            "POST",
            f"{self.base_url}/v4/{self.parent}/localPosts",
            headers=self._headers(token),
            json=dict(body),
        )

    def patch_request(self, name: str, body: Mapping[str, Any]) -> Callable[[str], httpx.Request]:
        return lambda token: httpx.Request(
            "PATCH",
            f"{self.base_url}/v4/{name}",
            params={"updateMask": update_mask(str(body["topicType"]))},
            headers=self._headers(token),
            json=dict(body),
        )

    def list_request(
        self, page_size: int, page_token: str | None
    ) -> Callable[[str], httpx.Request]:
        params = {"pageSize": str(page_size)}
        if page_token:
            params["pageToken"] = page_token
        return lambda token: httpx.Request(
            "GET",
            f"{self.base_url}/v4/{self.parent}/localPosts",
            params=params,
            headers=self._headers(token),
        )

    def _previous(self, prepared: Prepared, ctx: Context) -> str | None:
        """The local post an edit replaces: the core's receipt of the earlier revision, or
        ``metadata["google.local_post"]``."""
        previous = getattr(ctx, "previous_receipt", None)
        name = getattr(previous, "platform_id", None) or prepared.post.metadata.get(
            "google.local_post"
        )
        if name is None:
            return None
        if not _NAME.fullmatch(name) or not name.startswith(self.parent + "/"):
            raise Permanent(
                f"{name!r} is not a local post of {self.parent}; set metadata google.local_post "
                "to the name the first revision's receipt gave"
            )
        return str(name)

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        body = self.body(prepared)
        name = self._previous(prepared, ctx)
        if name is None and prepared.post.revision > 1:
            raise Permanent(
                f"revision {prepared.post.revision} should change the same local post, but "
                "the earlier revision's local post is not known: give metadata google.local_post "
                "to the name in its receipt (accounts/<a>/locations/<l>/localPosts/<p>)"
            )
        build = self.create_request(body) if name is None else self.patch_request(name, body)
        response = yield from self._tokens.send(ctx.now, build)
        return self._receipt(json_object(response), edited=name is not None)

    def _receipt(self, post: Mapping[str, Any], *, edited: bool) -> Receipt:
        name = post.get("name")
        if not isinstance(name, str) or not name:
            raise Permanent("Google answered a local post without its name")
        state = post.get("state")
        if state == "REJECTED":
            raise Permanent(
                f"Google rejected local post {name} under its content policy",
                platform_code="REJECTED",
            )
        extra: dict[str, Any] = {"state": state}
        if edited:
            extra["edited"] = True
        return Receipt(platform_id=name, url=post.get("searchUrl"), extra=extra)

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """The location's local posts since the first attempt, matched on the summary."""
        since = ctx.first_attempt_at
        if since <= 0:
            return Unknown("the time of the first attempt is not known")
        if prepared.post.revision > 1:
            return Unknown("an edit patches in place; a repeated patch is harmless")
        token: str | None = None
        for _ in range(_PAGES):
            response = yield from self._tokens.send(ctx.now, self.list_request(100, token))
            page = json_object(response)
            for post in page.get("localPosts") or []:
                created = post.get("createTime")
                if not isinstance(created, str):
                    continue
                when = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
                if when >= since and post.get("summary") == prepared.text:
                    return Found(self._receipt(post, edited=False))
            token = page.get("nextPageToken")
            if not token:
                return Absent()
        return Unknown(f"more than {_PAGES * 100} local posts; not all were read")

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        """The token's scope and expiry (tokeninfo), then one read of the location's posts."""
        token = yield from self._tokens.bearer(ctx.now)
        response = yield httpx.Request("GET", TOKENINFO_URL, params={"access_token": token})
        assert response is not None
        info = json_object(response)
        if SCOPE not in str(info.get("scope", "")).split():
            raise AuthFailed(
                f"the token lacks the {SCOPE} scope; authorize again with it",
                platform_code="scope",
            )
        expires_in = info.get("expires_in")
        if isinstance(expires_in, str | int) and str(expires_in).isdigit():
            self._tokens.expires_at = ctx.now() + float(expires_in)
        yield from self._tokens.send(ctx.now, self.list_request(1, None))
        who = info.get("email") or "the authorized user"
        return self._tokens.status(f"{self.parent} as {who}")

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        url = str(response.request.url)
        if url.startswith((self.token_url, TOKENINFO_URL)):
            return oauth_error(response, now=now)
        return classify_google(response, now=now, location=self.parent)
