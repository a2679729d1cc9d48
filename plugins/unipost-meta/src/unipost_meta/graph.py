"""The Graph API layer the four Meta channels share.

Facebook, Instagram, WhatsApp and Threads speak one API: the same version
prefix, token handling, ``appsecret_proof``, error body and usage headers.
This module builds the requests and holds the channel bases; reading Graph's
errors lives in :mod:`unipost_meta.graph_errors` and finding a post again in
:mod:`unipost_meta.graph_lookup`, so an error code or a header is mapped once
and all four channels agree on it (they also share one failure domain,
``meta``: one outage, one breaker).
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Ambiguous,
    AuthFailed,
    Change,
    Channel,
    ContentRejected,
    Context,
    CredentialStatus,
    DeliveryError,
    Expiry,
    Flow,
    Forbidden,
    Found,
    LookupResult,
    Media,
    Pause,
    Permanent,
    Post,
    Prepared,
    Receipt,
    Transient,
    Unknown,
    json_body,
    secret,
)
from unipost_meta.graph_errors import (
    INSTAGRAM_SUBCODES,
    error_for_graph,
    instagram_subcode,
    number,
)
from unipost_meta.graph_lookup import lookup_since, search_recent

__all__ = [
    "DEFAULT_API_VERSION",
    "ContainerChannel",
    "GraphChannel",
    "appsecret_proof",
    "form",
    "numeric_id",
]

#: The Graph API version every call is pinned to unless ``api_version`` is set.
DEFAULT_API_VERSION = "v23.0"
GRAPH_URL = "https://graph.facebook.com"
FAILURE_DOMAIN = "meta"

_VERSION = re.compile(r"v\d+\.\d+")


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the token keyed by the app secret, as Graph's ``appsecret_proof``."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def form(params: Mapping[str, Any]) -> dict[str, str]:
    """Graph parameters as form fields: booleans lower-case, lists and objects as JSON."""
    fields: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, list | tuple | dict):
            fields[name] = json.dumps(value, separators=(",", ":"))
        else:
            fields[name] = str(value)
    return fields


def check_version(_instance: Any, attribute: Any, value: str) -> None:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"{attribute.name} {value!r} is not a Graph API version like 'v23.0'")


def numeric_id(_instance: Any, attribute: Any, value: str) -> None:
    """Graph account ids are numbers; a name or URL here is a common copy-paste slip."""
    if not value.isdigit():
        raise ValueError(
            f"{attribute.name} {value!r} must be the numeric id Graph gives the account"
        )


def strip_slash(value: str) -> str:
    return value.rstrip("/")


def check_base_url(_instance: Any, attribute: Any, value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{attribute.name} {value!r} is not an http(s) URL")


def created_id(
    response: httpx.Response, what: str, *, key: str = "id", visible: bool = True
) -> str:
    """The id of what a create made; a 2xx without one is Ambiguous when it may be visible."""
    value = json_body(response).get(key)
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    text = f"{what}: HTTP {response.status_code} without an {key!r} in the answer"
    if visible:
        raise Ambiguous(text + " (the post may have been created)", status=response.status_code)
    raise Transient(text, status=response.status_code)


@attrs.frozen(kw_only=True)
class GraphChannel(Channel):
    """Settings and request building shared by every Graph channel."""

    token: str = secret()
    app_secret: str | None = secret(default=None)
    api_version: str = attrs.field(default=DEFAULT_API_VERSION, validator=check_version)
    base_url: str = attrs.field(default=GRAPH_URL, converter=strip_slash, validator=check_base_url)

    #: Permissions ``check`` requires in the token's scopes (read from ``/debug_token``).
    permissions: ClassVar[tuple[str, ...]] = ()

    @property
    def failure_domain(self) -> str:
        """Meta products fail together: one breaker for Facebook, Instagram, WhatsApp, Threads."""
        return FAILURE_DOMAIN

    def url(self, *path: str) -> str:
        return "/".join((self.base_url, self.api_version, *path))

    def _auth(self, params: Mapping[str, Any] | None) -> tuple[dict[str, str], dict[str, str]]:
        query = form(params or {})
        if self.app_secret:
            query["appsecret_proof"] = appsecret_proof(self.token, self.app_secret)
        return {"Authorization": f"Bearer {self.token}"}, query

    def get(self, *path: str, params: Mapping[str, Any] | None = None) -> httpx.Request:
        """A read: GET is safe to repeat, so a timeout on it is Transient."""
        headers, query = self._auth(params)
        return httpx.Request("GET", self.url(*path), params=query, headers=headers)

    def post(
        self,
        *path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        json_body: Mapping[str, Any] | None = None,
        safe: bool = False,
    ) -> httpx.Request:
        """A write. ``safe`` marks writes that cannot create anything visible (uploads)."""
        headers, query = self._auth(None)
        extensions = {"unipost.safe": True} if safe else {}
        if json_body is not None:
            return httpx.Request(
                "POST",
                self.url(*path),
                params=query,
                headers=headers,
                json=json_body,
                extensions=extensions,
            )
        return httpx.Request(
            "POST",
            self.url(*path),
            params=query,
            headers=headers,
            data=form(data or {}),
            files=files,
            extensions=extensions,
        )

    def remove(self, *path: str) -> httpx.Request:
        """A delete of one of the account's own objects (``DELETE /{id}``)."""
        headers, query = self._auth(None)
        return httpx.Request("DELETE", self.url(*path), params=query, headers=headers)

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return error_for_graph(response, now=now)

    # -- check ---------------------------------------------------------------

    def identity_request(self) -> httpx.Request:
        """The read that proves the token works for the configured account."""
        return self.get("me", params={"fields": "id,name"})

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        return f"{self.name} {body.get('name') or body.get('id') or '?'}"

    def check_flow(self, ctx: Context) -> Flow[str | CredentialStatus]:
        """Verify the token on the account, then its permissions and lifetime when Graph
        will say (``/debug_token``: ``scopes``, ``expires_at``, ``data_access_expires_at``)."""
        response = yield (self.identity_request())
        described = self.describe_identity(json_body(response))
        if not self.permissions:
            return described
        try:
            response = yield (self.get("debug_token", params={"input_token": self.token}))
        except (Forbidden, Permanent) as error:
            return f"{described}; permissions not verified ({error.message})"
        data = json_body(response).get("data")
        if not isinstance(data, Mapping):
            return f"{described}; permissions not verified (no data from debug_token)"
        if data.get("is_valid") is False:
            raise AuthFailed("debug_token says the token is no longer valid — create a new token")
        scopes = data.get("scopes")
        if not isinstance(scopes, list):
            return f"{described}; permissions not verified (no scopes in debug_token)"
        missing = [p for p in self.permissions if p not in scopes]
        if missing:
            raise Forbidden(
                f"the token lacks {', '.join(missing)} — grant it to the app and make a new token"
            )
        return CredentialStatus(
            summary=f"{described}; permissions ok", expiries=token_expiries(data)
        )


def token_expiries(data: Mapping[str, Any]) -> tuple[Expiry, ...]:
    """What ``debug_token`` says about a token's life; 0 means it never expires.

    Neither is renewed by unipost: a Meta user token (and the Page token made
    from it) needs the person to log in again, so both are warned about.
    """
    found = []
    for key, credential in (
        ("expires_at", "access token"),
        ("data_access_expires_at", "data access"),
    ):
        at = number(data.get(key))
        if at > 0:
            found.append(Expiry(credential=credential, at=at, source=f"debug_token {key}"))
    return tuple(found)


def _check_media_host(_instance: Any, attribute: Any, value: str | None) -> None:
    if value is not None and not value.startswith("https://"):
        raise ValueError(f"{attribute.name} {value!r} must be an https:// URL Meta can fetch from")


def _media_host(value: str | None) -> str | None:
    return None if value is None else value.rstrip("/") + "/"


@attrs.frozen(kw_only=True)
class ContainerChannel(GraphChannel):
    """Instagram and Threads: media containers are made, polled, then published.

    A container is invisible until published, and one container publishes at
    most once. So creating containers is safe to repeat, and an ambiguous
    publish can be settled by reading the container's status.
    """

    #: A base URL of a directory the business publishes; local files are referred to under it.
    media_host: str | None = attrs.field(
        default=None, converter=_media_host, validator=_check_media_host
    )
    #: Longest time to wait for Meta to process a container within one attempt (seconds).
    poll_timeout: float = 300.0

    create_edge: ClassVar[str]
    publish_edge: ClassVar[str]
    text_field: ClassVar[str]  # "caption" on Instagram, "text" on Threads
    status_field: ClassVar[str]  # "status_code" on Instagram, "status" on Threads
    status_detail: ClassVar[str]  # where the reason of an ERROR is given
    media_list_edge: ClassVar[str]

    @property
    @abc.abstractmethod
    def user_id(self) -> str:
        """The account whose edges (``/{id}/media``, ``/{id}/threads``) are used."""

    def hosted(self, post: Post) -> tuple[Post, list[Change]]:
        """``post`` (its variant applied) with local files referred to under ``media_host``."""
        post = post.for_channel(self.id)
        if self.media_host is None or all(m.url for m in post.media):
            return post, []
        changes: list[Change] = []
        media: list[Media] = []
        for index, item in enumerate(post.media):
            if item.url is not None:
                media.append(item)
                continue
            name = item.filename or ""
            if "." not in name or name == "upload":
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    "the file has no name to publish it under media_host",
                    "use Media.from_path(), or Media.from_bytes(data, filename='name.jpg')",
                )
            url = self.media_host + quote(name)
            media.append(attrs.evolve(item, url=url, path=None, data=None))
            changes.append(Change(kind="media_hosted", detail=f"{name} is fetched from {url}"))
        return attrs.evolve(post, media=tuple(media), variants={}), changes

    def container_status(self, container_id: str) -> httpx.Request:
        return self.get(
            container_id, params={"fields": f"{self.status_field},{self.status_detail}"}
        )

    def wait_until_ready(self, container_id: str, ctx: Context) -> Flow[str]:
        """Poll a container until Meta has processed it; return its final status.

        The wait is a :class:`~unipost.Pause`, so the core serves other
        deliveries meanwhile. Giving up is Transient: nothing visible exists.
        """
        started = ctx.now()
        delay = 1.0
        step: httpx.Request | Pause = self.container_status(container_id)
        while True:
            response = yield step
            body = json_body(response)
            status = body.get(self.status_field)
            if status in ("FINISHED", "PUBLISHED"):
                return str(status)
            if status == "ERROR":
                detail = str(body.get(self.status_detail) or "no reason given")
                subcode = instagram_subcode(detail)
                if subcode in INSTAGRAM_SUBCODES:
                    error_class, meaning = INSTAGRAM_SUBCODES[subcode]
                    raise DeliveryError.of(
                        error_class, f"{meaning}: {detail}", platform_code=subcode
                    )
                raise Permanent(f"Meta could not process the media: {detail}")
            if status == "EXPIRED":
                raise Transient(f"container {container_id} expired before it was published")
            waited = ctx.now() - started
            if waited + delay > self.poll_timeout or delay >= ctx.remaining():
                raise Transient(
                    f"the media was still processing after {waited:.0f} s "
                    f"(status {status or 'unknown'})",
                    retry_after=30.0,
                )
            step = Pause(delay, then=self.container_status(container_id))
            delay = min(delay * 2, 30.0)

    def create_container(self, params: Mapping[str, Any]) -> Flow[str]:
        """Make one container; safe to repeat, since nothing is visible before publishing."""
        response = yield (self.post(self.user_id, self.create_edge, data=params, safe=True))
        return created_id(response, f"{self.name} container", visible=False)

    def carousel(
        self, items: Sequence[Mapping[str, Any]], parent: Mapping[str, Any], ctx: Context
    ) -> Flow[str]:
        """Child containers, each waited for, then the carousel container that holds them."""
        children = []
        for item in items:
            children.append((yield from self.create_container(item)))
        for child in children:
            yield from self.wait_until_ready(child, ctx)
        return (
            yield from self.create_container(
                {**parent, "media_type": "CAROUSEL", "children": ",".join(children)}
            )
        )

    def publish_and_link(
        self, container_id: str, prepared: Prepared, ctx: Context
    ) -> Flow[Receipt]:
        """Publish a ready container and read its permalink into the receipt."""
        media_id = yield from self.publish_container(container_id, prepared, ctx)
        link = yield from self.permalink(media_id)
        return Receipt(platform_id=media_id, url=link, extra={"container_id": container_id})

    def publish_container(self, container_id: str, prepared: Prepared, ctx: Context) -> Flow[str]:
        """Publish a ready container; return the media id.

        "Not ready" answers are retried after a pause. A timeout is settled by
        the container's status: still FINISHED means it was not published and
        publishing the same container again cannot post twice; PUBLISHED means
        it went out, and the new media is found among the account's recent ones.
        """
        pause = 0.0
        for attempt in range(4):
            request = self.post(self.user_id, self.publish_edge, data={"creation_id": container_id})
            try:
                response = yield (Pause(pause, then=request) if pause else request)
            except Transient as error:
                if not error.detail.get("not_ready") or attempt == 3 or ctx.remaining() < 5:
                    raise
                pause = 2.0 * (attempt + 1)
                continue
            except Ambiguous as doubt:
                if attempt > 0:
                    raise
                status = yield from self._status_after_doubt(container_id)
                if status == "PUBLISHED":
                    found = yield from self.find_recent(prepared, ctx)
                    if isinstance(found, str):
                        return found
                    raise doubt from None
                if status != "FINISHED":
                    raise doubt from None
                pause = 0.0
                continue
            return created_id(response, f"{self.name} publish")
        raise Transient("the media did not become ready for publishing")  # pragma: no cover

    def _status_after_doubt(self, container_id: str) -> Flow[str | None]:
        try:
            response = yield (self.container_status(container_id))
        except DeliveryError:
            return None
        status = json_body(response).get(self.status_field)
        return status if isinstance(status, str) else None

    def find_recent(self, prepared: Prepared, ctx: Context) -> Flow[str | Unknown | None]:
        """The id of this account's newest post with ``prepared``'s text since the first attempt."""
        matches = yield from self.find_all(prepared, ctx)
        if isinstance(matches, Unknown):
            return matches
        return str(matches[-1].get("id")) if matches else None

    def find_all(self, prepared: Prepared, ctx: Context) -> Flow[list[Mapping[str, Any]] | Unknown]:
        """Every post of this account with ``prepared``'s text since the first attempt."""
        fields = {"fields": f"id,{self.text_field},timestamp", "limit": 100}
        return (
            yield from search_recent(
                self.get(self.user_id, self.media_list_edge, params=fields),
                self.text_field,
                prepared.text,
                since=lookup_since(ctx),
            )
        )

    def permalink(self, media_id: str) -> Flow[str | None]:
        """The post's public URL; a failure here must not fail a delivery that happened."""
        try:
            response = yield (self.get(media_id, params={"fields": "permalink"}))
        except DeliveryError:
            return None
        link = json_body(response).get("permalink")
        return link if isinstance(link, str) else None

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Every post with the same text among the account's recent ones, the first created first."""
        if not prepared.text.strip():
            return Unknown(f"{self.name} cannot match a post without text")
        matches = yield from self.find_all(prepared, ctx)
        if isinstance(matches, Unknown):
            return matches
        if not matches:
            return Absent()
        receipts = []
        for match in matches:
            media_id = str(match.get("id"))
            link = yield from self.permalink(media_id)
            receipts.append(Receipt(platform_id=media_id, url=link))
        return Found(receipts[0], duplicates=tuple(receipts[1:]))
