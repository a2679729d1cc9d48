"""The X channel: ``POST /2/tweets``, threads, media with alt text, two kinds of user auth.

OAuth 2.0 user context (authorization code with PKCE): an access token lasts
two hours and, with ``offline.access``, comes with a refresh token that X
rotates on every refresh. OAuth 1.0a user context: the app's API key pair and
the user's access token pair, every request signed by oauthlib. Which one is
used follows from the settings given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import httpx
from unipost_oauth import OAuth1Credentials, OAuth2App, TokenHolder, hook_store, oauth_error, sign

from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Channel,
    ConfigurationError,
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
    Pause,
    Permanent,
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Unknown,
    json_object,
    secret,
)
from unipost_x._errors import classify_x
from unipost_x._media import ALT_TEXT_LIMIT, Uploader

__all__ = ["XChannel"]

API = "https://api.x.com"
TOKEN_PATH = "/2/oauth2/token"  # noqa: S105 - a URL path, not a secret
IMAGE_BYTES = 5 * 1024 * 1024
GIF_BYTES = 15 * 1024 * 1024
VIDEO_BYTES = 512 * 1024 * 1024
MEDIA_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/quicktime"}
)
REPLY_SETTINGS = ("following", "mentionedUsers", "subscribers", "verified")
_URL = re.compile(r"https?://\S+")
_NOT_FOUND = "/2/problems/resource-not-found"  # under https://api.x.com (api.twitter.com before)

CAPABILITIES = Capabilities(
    text_limit=280,
    text_unit=TextUnit.X_WEIGHTED,
    url_length=23,
    overflow=Overflow.SPLIT,
    threads=True,
    max_media=4,
    media_types=MEDIA_TYPES,
    max_media_bytes=VIDEO_BYTES,
    link_cards=True,
    hashtags=True,
    idempotency=Idempotency.LOOKUP,
    limits=(Limit(rate=100, per=900.0, name="create-15min"),),
    health_check=True,  # check() is GET /2/users/me
    deletes=True,  # DELETE /2/tweets/:id, for the extra copy a resend left
)


def _not_found(errors: object) -> bool:
    """Whether X's partial-error list says the post does not exist (resource-not-found)."""
    return isinstance(errors, list) and any(
        isinstance(e, Mapping) and str(e.get("type", "")).endswith(_NOT_FOUND) for e in errors
    )


def _without_urls(value: str) -> str:
    """X rewrites links to t.co: compare texts with every URL taken out."""
    return " ".join(_URL.sub("", value).split())


@attrs.frozen(kw_only=True)
class XChannel(Channel):
    """One X account. Give OAuth 2.0 settings (``access_token``, and for refresh
    ``refresh_token`` + ``client_id``) or OAuth 1.0a settings (``api_key``,
    ``api_key_secret``, ``access_token``, ``access_token_secret``)."""

    name = "x"
    capabilities = CAPABILITIES

    access_token: str = secret()
    refresh_token: str | None = secret(default=None)
    client_id: str | None = None
    client_secret: str | None = secret(default=None)
    access_token_expires_at: float | None = None
    #: When the refresh token lapses (Unix time), as the token endpoint's
    #: ``refresh_token_expires_in`` said; ``unipost check`` warns before it.
    refresh_token_expires_at: float | None = None
    api_key: str | None = None
    api_key_secret: str | None = secret(default=None)
    access_token_secret: str | None = secret(default=None)
    username: str | None = None
    reply_settings: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(REPLY_SETTINGS))
    )
    base_url: str = API
    _tokens: TokenHolder = attrs.field(init=False, repr=False, eq=False)
    _me: dict[str, str] = attrs.field(init=False, factory=dict, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        oauth1 = (self.api_key, self.api_key_secret, self.access_token_secret)
        if any(oauth1) and not all(oauth1):
            raise ConfigurationError(
                f"channels.{self.id}.api_key",
                "OAuth 1.0a needs api_key, api_key_secret, access_token and access_token_secret",
                "give all four (the app's API key pair and the user's access token pair), "
                "or none of the OAuth 1.0a settings to use OAuth 2.0",
            )
        if self.refresh_token and not self.client_id:
            raise ConfigurationError(
                f"channels.{self.id}.client_id",
                "a refresh token is useless without the app's OAuth 2.0 client id",
                "add client_id (and client_secret for a confidential client)",
            )
        app = OAuth2App(
            token_url=self.base_url.rstrip("/") + TOKEN_PATH,
            client_id=self.client_id,
            client_secret=self.client_secret,
            basic_auth=bool(self.client_secret),
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
    def oauth1(self) -> bool:
        return bool(self.api_key)

    @property
    def tokens(self) -> TokenHolder:
        """The live OAuth 2.0 tokens (renewed by refreshes)."""
        return self._tokens

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation, plus X's per-kind media rules (4 photos, or 1 GIF, or 1 video)."""
        prepared = super().prepare(post)
        media = prepared.post.media
        moving = [m for m in media if not m.is_image or m.mime_type == "image/gif"]
        if moving and len(media) > 1:
            raise ContentRejected(
                f"{self.id}.media",
                "X takes up to 4 images, or one GIF, or one video per post",
                f"give a variant for {self.id!r} with a single GIF or video",
            )
        for index, item in enumerate(media):
            limit = (
                GIF_BYTES
                if item.mime_type == "image/gif"
                else IMAGE_BYTES
                if item.is_image
                else VIDEO_BYTES
            )
            if item.size and item.size > limit:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{item.size} bytes, X takes {item.mime_type} up to {limit}",
                    "resize or compress the file",
                )
            if item.alt and len(item.alt) > ALT_TEXT_LIMIT:
                raise ContentRejected(
                    f"{self.id}.media[{index}].alt",
                    f"alt text over {ALT_TEXT_LIMIT} characters",
                    "shorten the description",
                )
        if len(prepared.parts) > 1:
            changes = (
                *prepared.changes,
                Change(kind="thread", detail=f"posted as a thread of {len(prepared.parts)}"),
            )
            prepared = attrs.evolve(prepared, changes=changes)
        return prepared

    # -- requests ----------------------------------------------------------

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _credentials(self) -> OAuth1Credentials:
        assert self.api_key is not None
        assert self.api_key_secret is not None
        assert self.access_token_secret is not None
        return OAuth1Credentials(
            consumer_key=self.api_key,
            consumer_secret=self.api_key_secret,
            token=self.access_token,
            token_secret=self.access_token_secret,
        )

    def send(
        self,
        build: Callable[[str | None], httpx.Request],
        now: Callable[[], float],
        *,
        pause: float | None = None,
    ) -> Flow[httpx.Response]:
        """Send ``build(token)`` authorised (a fresh bearer, or an OAuth 1.0a signature),
        after ``pause`` seconds when given."""
        if self.oauth1:
            request = sign(build(None), self._credentials())
            return (yield request if pause is None else Pause(pause, then=request))
        return (yield from self._tokens.send(now, build, pause=pause))

    def tweet_body(
        self, prepared: Prepared, index: int, media_ids: list[str], reply_to: str | None
    ) -> dict[str, Any]:
        """The JSON of ``POST /2/tweets`` for part ``index``."""
        body: dict[str, Any] = {"text": prepared.parts[index]}
        if media_ids:
            body["media"] = {"media_ids": media_ids}
        if reply_to is not None:
            body["reply"] = {"in_reply_to_tweet_id": reply_to}
        if self.reply_settings:
            body["reply_settings"] = self.reply_settings
        return body

    def tweet_request(self, body: Mapping[str, Any]) -> Callable[[str | None], httpx.Request]:
        return lambda token: httpx.Request(
            "POST", self.base_url + "/2/tweets", headers=self._headers(token), json=dict(body)
        )

    def uploader(self, ctx: Context) -> Uploader:
        def send(
            build: Callable[[str | None], httpx.Request], *, pause: float | None = None
        ) -> Flow[httpx.Response]:
            return self.send(build, ctx.now, pause=pause)

        return Uploader(self.base_url, send, self._headers)

    def _url(self, tweet_id: str) -> str:
        who = self.username or self._me.get("username")
        return (
            f"https://x.com/{who}/status/{tweet_id}"
            if who
            else f"https://x.com/i/status/{tweet_id}"
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Upload media, then post each part as a reply to the one before."""
        uploader = self.uploader(ctx)
        media_ids = []
        for item in prepared.post.media:
            media_id = yield from uploader.upload(item)
            media_ids.append(media_id)
        ids: list[str] = []
        reply_to: str | None = None
        for index in range(len(prepared.parts)):
            body = self.tweet_body(prepared, index, media_ids if index == 0 else [], reply_to)
            response = yield from self.send(self.tweet_request(body), ctx.now)
            data = json_object(response).get("data")
            if not isinstance(data, Mapping) or not data.get("id"):
                raise Permanent("X answered a post without data.id", status=response.status_code)
            ids.append(str(data["id"]))
            reply_to = ids[-1]
        return Receipt(
            platform_id=ids[0],
            url=self._url(ids[0]),
            extra={"thread": ids} if len(ids) > 1 else {},
        )

    def _me_flow(self, ctx: Context) -> Flow[dict[str, str]]:
        """``GET /2/users/me`` once per channel object: the account's id and handle."""
        if not self._me:
            response = yield from self.send(
                lambda token: httpx.Request(
                    "GET", self.base_url + "/2/users/me", headers=self._headers(token)
                ),
                ctx.now,
            )
            data = json_object(response).get("data")
            if not isinstance(data, Mapping) or not data.get("id"):
                raise Permanent("X answered /2/users/me without data.id")
            self._me.update({"id": str(data["id"]), "username": str(data.get("username") or "")})
        return self._me

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Every post of the account since the first attempt that shows the first part.

        ``GET /2/users/{id}/tweets`` with ``start_time`` at the first attempt,
        paged to the end; only posts created at or after it can be ours. The
        first created is the receipt, any later one a copy (oldest first).
        """
        since = ctx.first_attempt_at
        if since <= 0:
            return Unknown("the time of the first attempt is not known")
        me = yield from self._me_flow(ctx)
        wanted = _without_urls(prepared.parts[0])
        start = dt.datetime.fromtimestamp(int(since), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        token: str | None = None
        found: list[tuple[float, str]] = []  # newest first, as listed
        for _ in range(10):
            params = {"start_time": start, "max_results": "100", "post.fields": "created_at"}
            if token:
                params["pagination_token"] = token
            response = yield from self.send(self._timeline_request(me["id"], params), ctx.now)
            page = json_object(response)
            for tweet in page.get("data") or []:
                created = tweet.get("created_at")
                if not isinstance(created, str):
                    continue
                when = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
                if when >= int(since) and _without_urls(str(tweet.get("text", ""))) == wanted:
                    found.append((when, str(tweet["id"])))
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, Mapping) else None
            if not token:
                break
        else:
            if not found:
                return Unknown("more than 1,000 posts since the first attempt; not all were read")
        if not found:
            return Absent()
        ranked = sorted(enumerate(found), key=lambda entry: (entry[1][0], -entry[0]))
        first, *others = (
            Receipt(platform_id=tweet_id, url=self._url(tweet_id))
            for _index, (_when, tweet_id) in ranked
        )
        return Found(first, duplicates=tuple(others))

    def delete_flow(self, platform_id: str, ctx: Context) -> Flow[None]:
        """``DELETE /2/tweets/:id`` (scope ``tweet.write``); X answers ``{"data": {"deleted": true}}``.

        The id came from the account's own timeline, so "not found" means it
        is gone already: the copy counts as removed.
        """
        try:
            response = yield from self.send(self.delete_request(platform_id), ctx.now)
        except Permanent as error:
            if error.status == 404:
                return
            raise
        body = json_object(response)
        data = body.get("data")
        if isinstance(data, Mapping) and data.get("deleted") is True:
            return
        if _not_found(body.get("errors")):
            return
        raise Permanent(f"X did not delete post {platform_id}", status=response.status_code)

    def delete_request(self, tweet_id: str) -> Callable[[str | None], httpx.Request]:
        return lambda token: httpx.Request(
            "DELETE", f"{self.base_url}/2/tweets/{tweet_id}", headers=self._headers(token)
        )

    def _timeline_request(
        self, user_id: str, params: dict[str, str]
    ) -> Callable[[str | None], httpx.Request]:
        return lambda token: httpx.Request(
            "GET",
            f"{self.base_url}/2/users/{user_id}/tweets",
            params=params,
            headers=self._headers(token),
        )

    def check_flow(self, ctx: Context) -> Flow[str | CredentialStatus]:
        """Who the credentials belong to, and when the OAuth 2.0 tokens lapse."""
        self._me.clear()  # a breaker probe must really ask X
        me = yield from self._me_flow(ctx)
        who = f"@{me['username']} (id {me['id']})"
        if self.oauth1:
            return f"{who}, OAuth 1.0a user context (tokens do not expire)"
        return self._tokens.status(f"{who}, OAuth 2.0 user context")

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Token-endpoint answers by RFC 6749; the rest by X's problem documents."""
        if response.request.url.path == TOKEN_PATH:
            return oauth_error(response, now=now)
        return classify_x(response, now=now)
