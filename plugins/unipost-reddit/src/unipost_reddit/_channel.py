"""The Reddit channel: a text (``self``) or link post to one subreddit, as a script app.

A script app (reddit.com/prefs/apps) gets a token for its own account with
the password grant; the token is kept until shortly before it expires and
fetched again when Reddit answers 401. Posts go to ``/api/submit`` with
``api_type=json``, whose refusals arrive inside HTTP 200 bodies (see
``_errors``). Every request carries the descriptive User-Agent Reddit
requires; generic agents are throttled hard.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs
import httpx

from unipost.plugin import (
    Absent,
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Overflow,
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Unknown,
    json_object,
    require,
    secret,
    truncate,
)
from unipost_reddit._errors import reddit_error

__all__ = ["RedditChannel"]

TOKEN_URL = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - an endpoint, not a secret
API = "https://oauth.reddit.com"
TITLE_LIMIT = 300
TEXT_LIMIT = 40_000
KINDS = ("auto", "self", "link")
LOOKUP_PAGES = 3  # 300 submissions: more than an account makes between two attempts
_SUBREDDIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")

CAPABILITIES = Capabilities(
    text_limit=TEXT_LIMIT,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.TRUNCATE,
    title=True,  # the title is its own field (300 characters)
    link_cards=True,  # a link post shows the link's preview
    # 100 queries per minute per OAuth client (Reddit Data API terms, 2023); the
    # X-Ratelimit-* headers say what is really left.
    limits=(Limit(rate=100, per=60.0),),
    idempotency=Idempotency.LOOKUP,  # the account's submissions (see lookup_flow)
)


def _subreddit(value: str) -> str:
    value = value.strip()
    for prefix in ("/r/", "r/"):
        value = value.removeprefix(prefix)
    return value.strip("/")


def _check_subreddit(_instance: Any, _attribute: Any, value: str) -> None:
    if not _SUBREDDIT.fullmatch(value):
        raise ValueError(
            f"subreddit must be a subreddit name such as 'smallbusiness', not {value!r}"
        )


@attrs.define
class _Token:
    """Mutable holder on a frozen channel: one token per channel object until it expires."""

    value: str | None = None
    expires_at: float = 0.0


@attrs.frozen(kw_only=True)
class RedditChannel(Channel):
    """One account's posts to one subreddit through a script app."""

    name = "reddit"
    capabilities = CAPABILITIES

    subreddit: str = attrs.field(converter=_subreddit, validator=_check_subreddit)
    client_id: str = attrs.field(validator=attrs.validators.min_len(1))
    client_secret: str = secret()
    username: str = attrs.field(validator=attrs.validators.min_len(1))
    password: str = secret()
    user_agent: str | None = None
    kind: str = attrs.field(default="auto", validator=attrs.validators.in_(KINDS))
    resubmit: bool = False
    flair_id: str | None = None
    flair_text: str | None = None
    nsfw: bool = False
    spoiler: bool = False
    send_replies: bool = True
    _token: _Token = attrs.field(init=False, factory=_Token, repr=False, eq=False)

    @property
    def agent(self) -> str:
        """``<platform>:<app id>:<version> (by /u/<username>)``, Reddit's required form."""
        return self.user_agent or f"python:{self.client_id}:unipost-0.1 (by /u/{self.username})"

    @property
    def credential_key(self) -> str:
        """Rate limits are per OAuth client, whichever subreddit it posts to."""
        return f"reddit:{self.client_id}"

    # -- rendering -------------------------------------------------------

    def kind_for(self, post: Post) -> str:
        if self.kind != "auto":
            return self.kind
        return "link" if post.link and not post.text else "self"

    def prepare(self, post: Post) -> Prepared:
        """Title (300 characters), then a Markdown self text or a link.

        Media is refused (the base check, ``max_media = 0``): Reddit documents no
        media upload, and a post that silently lost its photo is not what was asked.
        """
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        kind = self.kind_for(post)
        if kind == "link" and not post.link:
            raise ContentRejected(
                f"{self.id}.link", "a link post needs a link", 'give link= or set kind = "self"'
            )
        if kind == "link":
            changes = [c for c in changes if c.kind != "link_appended"]
            if post.text:
                changes.append(Change(kind="text_dropped", detail="a link post carries no text"))
            prepared = attrs.evolve(prepared, parts=("",))
        title = post.title
        if not title:
            source = post.text or post.link or ""
            title = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
            changes.append(Change(kind="title_from_text", detail="the first line is the title"))
        if not title:
            raise ContentRejected(f"{self.id}.title", "a Reddit post needs a title", "give title=")
        short = truncate(title, TITLE_LIMIT, TextUnit.CHARACTERS)
        if short != title:
            changes.append(Change(kind="title_truncated", detail=f"to {TITLE_LIMIT} characters"))
        payload = {"kind": kind, "title": short}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    # -- requests ------------------------------------------------------------

    def token_request(self) -> httpx.Request:
        """The password grant for the script app's own account."""
        auth = httpx.BasicAuth(self.client_id, self.client_secret)
        request = httpx.Request(
            "POST",
            TOKEN_URL,
            data={
                "grant_type": "password",
                "username": self.username,
                "password": self.password,
                "scope": "submit identity",
            },
            headers={"User-Agent": self.agent},
        )
        return next(auth.auth_flow(request))

    def submit_request(self, prepared: Prepared, token: str) -> httpx.Request:
        """``POST /api/submit`` (form-encoded)."""
        kind = prepared.payload["kind"]
        data = {
            "api_type": "json",
            "sr": self.subreddit,
            "kind": kind,
            "title": prepared.payload["title"],
            "sendreplies": str(self.send_replies).lower(),
            "nsfw": str(self.nsfw).lower(),
            "spoiler": str(self.spoiler).lower(),
        }
        if kind == "link":
            data["url"] = str(prepared.post.link)
            data["resubmit"] = str(self.resubmit).lower()
        else:
            data["text"] = prepared.text
        if self.flair_id:
            data["flair_id"] = self.flair_id
        if self.flair_text:
            data["flair_text"] = self.flair_text
        return self._api("POST", "/api/submit", token, data=data)

    def _api(
        self,
        method: str,
        path: str,
        token: str,
        *,
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Request:
        headers = {"Authorization": f"bearer {token}", "User-Agent": self.agent}
        return httpx.Request(method, f"{API}{path}", data=data, params=params, headers=headers)

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Get (or reuse) a token, submit; on 401 get a new token and submit once more."""
        token = yield from self._token_flow(ctx, renew=False)
        try:
            response = yield self.submit_request(prepared, token)
        except AuthFailed as error:
            if error.status != 401:
                raise
            token = yield from self._token_flow(ctx, renew=True)  # a 401 was not applied
            response = yield self.submit_request(prepared, token)
        data = (json_object(response).get("json") or {}).get("data") or {}
        require(data, "id", what="Reddit submission")
        return Receipt(
            platform_id=str(data.get("name") or f"t3_{data['id']}"),
            url=data.get("url"),
            extra={"ratelimit_remaining": response.headers.get("x-ratelimit-remaining")},
        )

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """The account's newest submissions, back to the record's first attempt.

        A submission counts only if it is in this subreddit, has this title
        (and link, for a link post) and was created at or after the first
        attempt. ``/user/{name}/submitted?sort=new`` is read page by page until
        a post older than the first attempt shows up; past ``LOOKUP_PAGES``
        pages the answer is ``Unknown``.
        """
        token = yield from self._token_flow(ctx, renew=False)
        since = math.floor(ctx.first_attempt_at)
        after: str | None = None
        for _page in range(LOOKUP_PAGES):
            params = {"sort": "new", "limit": "100", "raw_json": "1"}
            if after:
                params["after"] = after
            path = f"/user/{self.username}/submitted"
            response = yield self._api("GET", path, token, params=params)
            listing = json_object(response).get("data") or {}
            for child in listing.get("children") or []:
                item = child.get("data") if isinstance(child, dict) else None
                if not isinstance(item, dict):
                    continue
                if float(item.get("created_utc") or 0) < since:
                    return Absent()  # sorted newest first: the rest is older still
                if self._is_ours(item, prepared):
                    permalink = str(item.get("permalink") or "")
                    return Found(
                        Receipt(
                            platform_id=str(item.get("name") or f"t3_{item.get('id')}"),
                            url=f"https://www.reddit.com{permalink}" if permalink else None,
                            extra={"found_by": "lookup"},
                        )
                    )
            after = listing.get("after")
            if not after:
                return Absent()  # the account's whole history was read
        return Unknown(f"more than {LOOKUP_PAGES * 100} submissions since the first attempt")

    def _is_ours(self, item: dict[str, Any], prepared: Prepared) -> bool:
        if str(item.get("subreddit", "")).lower() != self.subreddit.lower():
            return False
        if item.get("title") != prepared.payload["title"]:
            return False
        if prepared.payload["kind"] == "link":
            return item.get("url") == prepared.post.link
        return bool(item.get("is_self"))

    def _token_flow(self, ctx: Context, *, renew: bool) -> Flow[str]:
        cache = self._token
        if cache.value and not renew and ctx.now() < cache.expires_at:
            return cache.value
        response = yield self.token_request()
        body = json_object(response)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthFailed("Reddit's token endpoint answered without an access_token")
        cache.value = token
        cache.expires_at = ctx.now() + float(body.get("expires_in") or 3600) - 60
        return token

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The account the script app signs in as, and what the rate-limit headers say."""
        token = yield from self._token_flow(ctx, renew=False)
        response = yield self._api("GET", "/api/v1/me", token)
        me = json_object(response)
        left = response.headers.get("x-ratelimit-remaining", "?")
        return f"/u/{me.get('name')} posting to r/{self.subreddit}; {left} requests left"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Errors in 200 bodies too; 429 waits for Retry-After, else ``X-Ratelimit-Reset``."""
        return reddit_error(response, now=now)
