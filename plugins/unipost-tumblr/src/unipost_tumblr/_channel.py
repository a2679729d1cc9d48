"""The Tumblr channel: one Neue Post Format post per unipost post, with OAuth 2.

``POST /v2/blog/{blog}/posts`` takes the NPF JSON; with files it is a
multipart request whose ``json`` part holds the post and whose other parts
carry the files, named by the identifiers the image blocks use. OAuth 2
access tokens are short-lived: with a refresh token (and the app's client id
and secret) the channel gets a new one when Tumblr answers 401, and keeps the
rotated refresh token for the rest of the process.
"""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
import httpx

from unipost.plugin import (
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Limit,
    Post,
    Prepared,
    Receipt,
    json_object,
    register_secret,
    require,
    secret,
)
from unipost_tumblr._errors import tumblr_error
from unipost_tumblr._npf import blocks, is_remote, media_identifier

__all__ = ["TumblrChannel"]

API = "https://api.tumblr.com/v2"
TOKEN_URL = f"{API}/oauth2/token"
STATES = ("published", "draft", "queue", "private")
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
IMAGE_BYTES = 10 * 1024 * 1024  # Tumblr's photo upload limit (GIFs: 10 MB too)
_BLOG = re.compile(r"[A-Za-z0-9-]+|[A-Za-z0-9.-]+\.[A-Za-z]{2,}|t:[A-Za-z0-9_-]+")

CAPABILITIES = Capabilities(
    text_limit=None,  # long text becomes several 4,096-code-point text blocks
    max_media=10,  # NPF allows more blocks; 10 photos is the photoset most themes show
    media_types=MEDIA_TYPES,
    max_media_bytes=IMAGE_BYTES,
    link_cards=True,  # the link becomes a link block (a card)
    title=True,  # the title becomes a heading block
    hashtags=False,  # tags are Tumblr tags
    limits=(
        Limit(rate=250, per=86_400.0, name="posts per user per day"),
        Limit(rate=1_000, per=3_600.0, name="calls per app per hour"),
    ),
)


def _blog(value: str) -> str:
    return value.strip().removeprefix("https://").removeprefix("http://").strip("/")


def _check_blog(_instance: Any, _attribute: Any, value: str) -> None:
    if not _BLOG.fullmatch(value):
        raise ValueError(
            f"blog must be a blog name ('bakery'), hostname ('bakery.tumblr.com') or "
            f"uuid ('t:...'), not {value!r}"
        )


@attrs.define
class _Tokens:
    """Mutable holder on a frozen channel: the access and refresh tokens after a refresh."""

    access: str | None = None
    refresh: str | None = None


@attrs.frozen(kw_only=True)
class TumblrChannel(Channel):
    """One blog, posted to with an OAuth 2 token that has the ``write`` scope."""

    name = "tumblr"
    capabilities = CAPABILITIES

    blog: str = attrs.field(converter=_blog, validator=_check_blog)
    access_token: str = secret()
    refresh_token: str | None = secret(default=None)
    client_id: str | None = None
    client_secret: str | None = secret(default=None)
    state: str = attrs.field(default="published", validator=attrs.validators.in_(STATES))
    user_agent: str = "unipost/0.1 (+https://pypi.org/project/unipost-sdk/)"
    _tokens: _Tokens = attrs.field(init=False, factory=_Tokens, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.refresh_token and not (self.client_id and self.client_secret):
            raise ValueError(
                "refresh_token needs client_id and client_secret (the app's OAuth 2 "
                "credentials from tumblr.com/oauth/apps)"
            )

    @property
    def blog_identifier(self) -> str:
        """A bare name means ``name.tumblr.com``; hostnames and uuids are used as given."""
        if "." in self.blog or self.blog.startswith("t:"):
            return self.blog
        return f"{self.blog}.tumblr.com"

    @property
    def credential_key(self) -> str:
        """The daily post limit is per user, whichever channel posts for them."""
        return f"tumblr:{self.client_id or self.blog}"

    def post_url(self, post_id: str) -> str:
        if "." in self.blog:
            return f"https://{self.blog}/post/{post_id}"
        return f"https://www.tumblr.com/{self.blog}/{post_id}"

    # -- rendering -------------------------------------------------------

    def link_suffix(self, post: Post, body: str) -> str:
        """The link is its own block (a card), not text."""
        return ""

    def prepare(self, post: Post) -> Prepared:
        """NPF blocks: heading, text, images, link; tags as Tumblr tags."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        if post.link:
            changes.append(Change(kind="link_card", detail=f"link block for {post.link}"))
        content = blocks(post.title, prepared.text, post.media, post.link)
        return attrs.evolve(prepared, changes=tuple(changes), payload={"content": content})

    def body(self, prepared: Prepared) -> dict[str, Any]:
        """The JSON of the create request."""
        body: dict[str, Any] = {"content": prepared.payload["content"], "state": self.state}
        if prepared.post.tags:
            body["tags"] = ",".join(prepared.post.tags)
        return body

    # -- requests ------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "User-Agent": self.user_agent}

    def create_request(self, prepared: Prepared, token: str) -> httpx.Request:
        """JSON alone, or multipart (``json`` part first, then one part per file)."""
        url = f"{API}/blog/{self.blog_identifier}/posts"
        body = self.body(prepared)
        media = prepared.post.media
        if all(is_remote(item) for item in media):
            return httpx.Request("POST", url, headers=self._headers(token), json=body)
        files: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("json", (None, json.dumps(body).encode(), "application/json"))
        ]
        for index, item in enumerate(media):
            if is_remote(item):
                continue
            name = item.filename or f"image-{index}.{item.mime_type.split('/')[1]}"
            files.append((media_identifier(index), (name, item.read(), item.mime_type)))
        return httpx.Request("POST", url, headers=self._headers(token), files=files)

    def refresh_request(self, refresh: str) -> httpx.Request:
        return httpx.Request(
            "POST",
            TOKEN_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": str(self.client_id),
                "client_secret": str(self.client_secret),
            },
            headers={"User-Agent": self.user_agent},
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Create the post; on 401 with a refresh token, renew the token and create once more."""
        token = self._tokens.access or self.access_token
        try:
            response = yield self.create_request(prepared, token)
        except AuthFailed as error:
            refresh = self._tokens.refresh or self.refresh_token
            if error.status != 401 or not refresh:
                raise
            token = yield from self._refresh_flow(refresh)  # a 401 was not applied
            response = yield self.create_request(prepared, token)
        created = json_object(response).get("response") or {}
        post_id = require(created if isinstance(created, dict) else {}, "id", what="Tumblr post")
        return Receipt(
            platform_id=str(post_id),
            url=self.post_url(str(post_id)),
            extra={"state": created.get("state", self.state)},
        )

    def _refresh_flow(self, refresh: str) -> Flow[str]:
        response = yield self.refresh_request(refresh)
        body = json_object(response)
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise AuthFailed("Tumblr's token endpoint answered without an access_token")
        register_secret(access)
        self._tokens.access = access
        if isinstance(body.get("refresh_token"), str):
            register_secret(body["refresh_token"])
            self._tokens.refresh = body["refresh_token"]  # Tumblr rotates refresh tokens
        return access

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The user the token belongs to, and whether it may post to this blog."""
        token = self._tokens.access or self.access_token
        response = yield httpx.Request("GET", f"{API}/user/info", headers=self._headers(token))
        user = (json_object(response).get("response") or {}).get("user") or {}
        names = {b.get("name") for b in user.get("blogs") or [] if isinstance(b, dict)}
        hosts = {f"{n}.tumblr.com" for n in names if n}
        mine = self.blog in names or self.blog_identifier in hosts
        verdict = "may post to" if mine else "is not a member of"
        return f"{user.get('name')} {verdict} {self.blog_identifier}"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """By status, refined by subcode: the daily limits are quota until tomorrow."""
        return tumblr_error(response, now=now)
