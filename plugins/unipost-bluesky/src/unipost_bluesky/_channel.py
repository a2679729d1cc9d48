"""The Bluesky channel: app-password sessions, posts with facets, images, link cards, threads.

A retry can never post twice: every record's key (``rkey``) is a TID derived
from the delivery key, so a repeated ``createRecord`` hits the existing record,
and the flow reads it back with ``getRecord`` instead of failing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Ambiguous,
    AuthFailed,
    Capabilities,
    Change,
    Channel,
    Context,
    CredentialStatus,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    Limit,
    LookupResult,
    Media,
    Overflow,
    Permanent,
    Post,
    Prepared,
    RateLimited,
    Receipt,
    TextUnit,
    Transient,
    Unknown,
    error_for_status,
    json_object,
    require,
    seconds_until,
    secret,
    truncate,
)
from unipost_bluesky._richtext import Mention, facets_for, mention_facet, mentions_in
from unipost_bluesky._session import Session as _Session

__all__ = ["BlueskyChannel", "tid_for"]

POST = "app.bsky.feed.post"
WEB = "https://bsky.app"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
IMAGE_BYTES = 2_000_000  # app.bsky.embed.images#image maxSize
THUMB_BYTES = 1_000_000  # app.bsky.embed.external#external.thumb maxSize
MAX_LANGS = 3
_AUTH_ERRORS = frozenset(
    {"ExpiredToken", "InvalidToken", "AuthMissing", "AuthRequired", "AuthenticationRequired"}
)
_RENEWABLE = frozenset({"ExpiredToken", "InvalidToken"})
_NOT_FOUND = frozenset({"RecordNotFound", "HandleNotFound"})

_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_TID_BASE_MICROS = 1_577_836_800_000_000  # 2020-01-01T00:00:00Z
_TID_SPAN_MICROS = 1 << 47  # about 4.5 years: every derived TID lies in the past


def tid_for(delivery_key: str, part: int = 0) -> str:
    """A record key in TID syntax, derived from the delivery key and the thread part.

    The timestamp bits come from a hash, not the clock (``createdAt`` carries
    the time), so every attempt of a delivery names the same record.
    """
    digest = hashlib.sha256(f"{delivery_key}\x00{part}".encode()).digest()
    value = int.from_bytes(digest[:8], "big")
    micros = _TID_BASE_MICROS + (value >> 10) % _TID_SPAN_MICROS
    number = (micros << 10) | (value & 0x3FF)
    return "".join(_B32_SORTABLE[(number >> shift) & 31] for shift in range(60, -1, -5))


CAPABILITIES = Capabilities(
    text_limit=300,
    text_unit=TextUnit.GRAPHEMES,
    extra_limits=((3000, TextUnit.UTF8_BYTES),),
    overflow=Overflow.SPLIT,
    threads=True,
    max_media=4,
    media_types=IMAGE_TYPES,
    max_media_bytes=IMAGE_BYTES,
    link_cards=True,
    hashtags=True,
    idempotency=Idempotency.CLIENT_ID | Idempotency.LOOKUP,
    limits=(Limit(rate=1666, per=3600.0, name="creates"),),  # 5,000 points/h, 3 per create
    health_check=True,  # getSession with the kept session: a read
    deletes=True,  # com.atproto.repo.deleteRecord, for an extra copy a person asks to remove
)


def _handle(value: str) -> str:
    return value.strip().lstrip("@")


def _base_url(value: str) -> str:
    return value.strip().rstrip("/")


def _check_base_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"base_url must be the PDS URL such as https://bsky.social, not {value!r}")


def _langs(value: Any) -> tuple[str, ...]:
    langs = (value,) if isinstance(value, str) else tuple(str(v) for v in value or ())
    if len(langs) > MAX_LANGS:
        raise ValueError(f"langs takes at most {MAX_LANGS} languages")
    return langs


def _xrpc_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, Mapping):
        return None, None
    name, message = body.get("error"), body.get("message")
    return (name if isinstance(name, str) else None), (
        message if isinstance(message, str) else None
    )


def _at_uri(uri: str) -> tuple[str, str, str]:
    """(repo, collection, rkey) of a record's ``at://`` URI."""
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise Permanent(f"{uri!r} is not a record URI like at://did:plc:…/{POST}/<rkey>")
    repo, collection, rkey = parts
    return repo, collection, rkey


@attrs.frozen(kw_only=True)
class BlueskyChannel(Channel):
    """One account on a PDS, signed in with an app password (Settings → App passwords)."""

    name = "bluesky"
    capabilities = CAPABILITIES

    handle: str = attrs.field(converter=_handle)
    app_password: str = secret()
    base_url: str = attrs.field(
        default="https://bsky.social", converter=_base_url, validator=_check_base_url
    )
    langs: tuple[str, ...] = attrs.field(default=(), converter=_langs)
    _session: _Session = attrs.field(init=False, factory=_Session, repr=False, eq=False)

    @property
    def failure_domain(self) -> str:
        """The PDS host: bsky.social's accounts fail together, a self-hosted PDS alone."""
        return urlsplit(self.base_url).hostname or self.base_url

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Fit the text, then compute link and tag facets per part and plan the embeds."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        facets = [facets_for(part) for part in prepared.parts]
        mentions = [[attrs.astuple(m) for m in mentions_in(part)] for part in prepared.parts]
        links = sum(
            1 for part in facets for f in part if f["features"][0]["$type"].endswith("#link")
        )
        tags = sum(len(part) for part in facets) - links
        waiting = sum(len(part) for part in mentions)
        if links or tags or waiting:
            changes.append(
                Change(
                    kind="facets",
                    detail=f"{links} links, {tags} hashtags, {waiting} mentions (resolved on send)",
                )
            )
        card, card_part = self._plan_card(post, len(prepared.parts), changes)
        if len(prepared.parts) > 1:
            changes.append(
                Change(kind="thread", detail=f"posted as a chain of {len(prepared.parts)} replies")
            )
        payload = {"facets": facets, "mentions": mentions, "card": card, "card_part": card_part}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    def _plan_card(
        self, post: Post, parts: int, changes: list[Change]
    ) -> tuple[dict[str, str] | None, int | None]:
        """A post has one embed: images win the first part; the card then goes on the second."""
        if post.link is None:
            return None, None
        card = {
            "uri": post.link,
            "title": post.title or urlsplit(post.link).hostname or post.link,
            "description": truncate(post.text, 300, TextUnit.GRAPHEMES)
            if post.title and post.text
            else "",
        }
        if not post.media:
            return card, 0
        if parts > 1:
            return card, 1
        changes.append(
            Change(
                kind="link_card_skipped",
                detail="the images take the embed; the link stays clickable",
            )
        )
        return None, None

    # -- requests ------------------------------------------------------------

    def _xrpc(self, method: str) -> str:
        return f"{self.base_url}/xrpc/{method}"

    def _bearer(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def create_record_body(
        self,
        prepared: Prepared,
        index: int,
        repo: str,
        rkey: str,
        *,
        dids: Mapping[str, str],
        blobs: list[Mapping[str, Any]],
        thread: list[Mapping[str, str]],
        created_at: str,
    ) -> dict[str, Any]:
        """The ``com.atproto.repo.createRecord`` input for part ``index`` of the thread."""
        record: dict[str, Any] = {
            "$type": POST,
            "text": prepared.parts[index],
            "createdAt": created_at,
        }
        langs = (prepared.post.language,) if prepared.post.language else self.langs
        if langs:
            record["langs"] = list(langs)
        facets = list(prepared.payload["facets"][index])
        for start, end, handle in prepared.payload["mentions"][index]:
            if handle in dids:
                facets.append(mention_facet(Mention(start, end, handle), dids[handle]))
        if facets:
            record["facets"] = sorted(facets, key=lambda f: int(f["index"]["byteStart"]))
        if thread:
            record["reply"] = {"root": dict(thread[0]), "parent": dict(thread[-1])}
        embed = self._embed(prepared, index, blobs)
        if embed is not None:
            record["embed"] = embed
        return {"repo": repo, "collection": POST, "rkey": rkey, "record": record}

    def _embed(
        self, prepared: Prepared, index: int, blobs: list[Mapping[str, Any]]
    ) -> dict[str, Any] | None:
        media = prepared.post.media
        if index == 0 and blobs:
            images = []
            for item, blob in zip(media, blobs, strict=True):
                image: dict[str, Any] = {"alt": item.alt or "", "image": dict(blob)}
                if item.width and item.height:
                    image["aspectRatio"] = {"width": item.width, "height": item.height}
                images.append(image)
            return {"$type": "app.bsky.embed.images", "images": images}
        card = prepared.payload["card"]
        if card is None or prepared.payload["card_part"] != index:
            return None
        external = dict(card)
        if blobs and media[0].size is not None and media[0].size <= THUMB_BYTES:
            external["thumb"] = dict(blobs[0])
        return {"$type": "app.bsky.embed.external", "external": external}

    # -- sessions --------------------------------------------------------

    def _login_flow(self) -> Flow[_Session]:
        response = yield httpx.Request(
            "POST",
            self._xrpc("com.atproto.server.createSession"),
            json={"identifier": self.handle, "password": self.app_password},
        )
        self._session.update(json_object(response))
        return self._session

    def _session_flow(self) -> Flow[_Session]:
        if self._session.access is None:
            return (yield from self._login_flow())
        return self._session

    def _renew_flow(self) -> Flow[_Session]:
        """``refreshSession`` with the refresh token; a new login when that has expired too."""
        if self._session.refresh is not None:
            try:
                response = yield httpx.Request(
                    "POST",
                    self._xrpc("com.atproto.server.refreshSession"),
                    headers=self._bearer(self._session.refresh),
                )
            except AuthFailed:
                self._session.access = self._session.refresh = None
            else:
                self._session.update(json_object(response))
                return self._session
        return (yield from self._login_flow())

    def _authed(self, build: Callable[[str | None], httpx.Request]) -> Flow[httpx.Response]:
        """Send with the session's token; on ExpiredToken refresh once and send again."""
        session = yield from self._session_flow()
        try:
            response = yield build(session.access)
        except AuthFailed as error:
            if error.platform_code not in _RENEWABLE:
                raise
            session = yield from self._renew_flow()
            response = yield build(session.access)
        return response

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Log in (once per channel), resolve mentions, upload images, create each record."""
        session = yield from self._session_flow()
        dids = yield from self._resolve_flow(prepared)
        blobs = []
        for item in prepared.post.media:
            blob = yield from self._upload_flow(item)
            blobs.append(blob)
        created_at = (
            dt.datetime.fromtimestamp(ctx.now(), dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        thread: list[Mapping[str, str]] = []
        for index in range(len(prepared.parts)):
            rkey = tid_for(ctx.delivery_key, index)
            body = self.create_record_body(
                prepared,
                index,
                session.did or self.handle,
                rkey,
                dids=dids,
                blobs=blobs,
                thread=thread,
                created_at=created_at,
            )
            ref = yield from self._create_flow(body)
            thread.append(ref)
        return self._receipt(thread)

    def _receipt(self, thread: Sequence[Mapping[str, str]]) -> Receipt:
        root = thread[0]
        rkey = root["uri"].rsplit("/", 1)[-1]
        handle = self._session.handle or self.handle
        return Receipt(
            platform_id=root["uri"],
            url=f"{WEB}/profile/{handle}/post/{rkey}",
            extra={"cid": root["cid"], "thread": [ref["uri"] for ref in thread]},
        )

    def _resolve_flow(self, prepared: Prepared) -> Flow[dict[str, str]]:
        """Each mentioned handle's DID; unknown handles stay plain text."""
        handles = sorted({m[2] for part in prepared.payload["mentions"] for m in part})
        dids = {}
        for handle in handles:
            try:
                response = yield httpx.Request(
                    "GET",
                    self._xrpc("com.atproto.identity.resolveHandle"),
                    params={"handle": handle},
                )
            except Permanent:
                continue
            did = json_object(response).get("did")
            if isinstance(did, str):
                dids[handle] = did
        return dids

    def _upload_flow(self, media: Media) -> Flow[Mapping[str, Any]]:
        data = media.read()
        response = yield from self._authed(
            lambda token: httpx.Request(
                "POST",
                self._xrpc("com.atproto.repo.uploadBlob"),
                headers=self._bearer(token) | {"Content-Type": media.mime_type},
                content=data,
            )
        )
        blob = json_object(response).get("blob")
        if not isinstance(blob, Mapping):
            raise Permanent(f"{self.failure_domain} answered uploadBlob without a blob")
        return blob

    def _create_flow(self, body: Mapping[str, Any]) -> Flow[Mapping[str, str]]:
        """createRecord; if it fails, the record may exist from an earlier attempt: read it back."""
        try:
            response = yield from self._authed(
                lambda token: httpx.Request(
                    "POST",
                    self._xrpc("com.atproto.repo.createRecord"),
                    headers=self._bearer(token),
                    json=dict(body),
                )
            )
        except (Transient, Ambiguous, Permanent) as error:
            try:
                existing = yield from self._get_record_flow(str(body["repo"]), str(body["rkey"]))
            except DeliveryError:
                existing = None
            if existing is None:
                raise error from None
            return existing
        answer = json_object(response)
        what = "createRecord"
        return {
            "uri": str(require(answer, "uri", what=what)),
            "cid": str(require(answer, "cid", what=what)),
        }

    def _get_record_flow(self, repo: str, rkey: str) -> Flow[dict[str, str] | None]:
        try:
            response = yield httpx.Request(
                "GET",
                self._xrpc("com.atproto.repo.getRecord"),
                params={"repo": repo, "collection": POST, "rkey": rkey},
            )
        except Permanent as error:
            if error.platform_code in _NOT_FOUND or error.status == 404:
                return None
            raise
        record = json_object(response)
        return {"uri": str(record["uri"]), "cid": str(record["cid"])}

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Whether each part's record (named by the delivery key) exists in the repo."""
        repo = self._session.did or self.handle
        thread = []
        for index in range(len(prepared.parts)):
            ref = yield from self._get_record_flow(repo, tid_for(ctx.delivery_key, index))
            if ref is None:
                break
            thread.append(ref)
        if not thread:
            return Absent()
        if len(thread) < len(prepared.parts):
            return Unknown(
                f"{len(thread)} of {len(prepared.parts)} thread parts exist; "
                "a retry completes the thread without duplicates"
            )
        return Found(self._receipt(thread))

    def delete_record_body(self, uri: str) -> dict[str, str]:
        """The ``com.atproto.repo.deleteRecord`` input for the post at ``uri`` (at://repo/coll/rkey)."""
        repo, collection, rkey = _at_uri(uri)
        return {"repo": repo, "collection": collection, "rkey": rkey}

    def delete_flow(self, platform_id: str, ctx: Context) -> Flow[None]:
        """Delete one of this account's posts, named by its at:// URI (a thread's: its first).

        Only that record goes: a thread's replies are records of their own.
        deleteRecord "ensures it doesn't exist", so a post already gone is no error.
        """
        body = self.delete_record_body(platform_id)
        session = yield from self._session_flow()
        if body["collection"] != POST or body["repo"] not in (session.did, session.handle):
            raise Permanent(
                f"{platform_id} is not a post of @{session.handle or self.handle}; "
                "only the account's own posts can be deleted"
            )
        yield from self._authed(
            lambda token: httpx.Request(
                "POST",
                self._xrpc("com.atproto.repo.deleteRecord"),
                headers=self._bearer(token),
                json=body,
            )
        )

    def check_flow(self, ctx: Context) -> Flow[CredentialStatus]:
        """Sign in (or reuse the session) and ask the PDS who we are; the session's JWTs
        say when they lapse (renewed with refreshSession, or the app password)."""
        response = yield from self._authed(
            lambda token: httpx.Request(
                "GET", self._xrpc("com.atproto.server.getSession"), headers=self._bearer(token)
            )
        )
        body = json_object(response)
        who = f"@{body.get('handle', self.handle)} ({body.get('did')}) on {self.failure_domain}"
        return CredentialStatus(summary=who, expiries=self._session.expiries())

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """XRPC error bodies by name: ExpiredToken comes as a 400; 429 uses RateLimit-Reset."""
        if response.status_code < 400:
            return None
        name, message = _xrpc_error(response)
        text = ": ".join(part for part in (name, message) if part) or None
        if name in _AUTH_ERRORS:
            return AuthFailed(text or name, status=response.status_code, platform_code=name)
        error = error_for_status(response, message=text)
        if error is not None and name is not None:
            error.platform_code = name
        if isinstance(error, RateLimited) and error.retry_after is None:
            reset = response.headers.get("ratelimit-reset")
            if reset is not None and reset.strip().isdigit():
                error.retry_after = seconds_until(int(reset), now)
        return error
