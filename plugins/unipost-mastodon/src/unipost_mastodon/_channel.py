"""The Mastodon channel: statuses, media (with asynchronous processing) and threads.

Mastodon is federated, so every limit is the instance's own. ``prepare`` is
pure and uses the limits from the settings (defaults 500/4/23); the flow reads
``/api/v2/instance`` once per channel object and refuses, before creating
anything, text or media the real instance would reject. The same document
names the server software: where it is not known to honour Idempotency-Key,
a lost answer is settled by reading the account's statuses back
(:mod:`unipost_mastodon._lookup`), never by resending on the key's promise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, overload
from urllib.parse import quote, urlsplit

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Ambiguous,
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
    Media,
    Overflow,
    Pause,
    Permanent,
    Post,
    Prepared,
    RateLimited,
    Receipt,
    TextUnit,
    Transient,
    Unknown,
    count,
    error_for_status,
    graphemes,
    json_body,
    json_object,
    seconds_until,
    secret,
)
from unipost_mastodon._instance import InstanceFacts, InstanceLimits, key_problem, read_facts
from unipost_mastodon._lookup import CLOCK_SLACK, LOOKUP_PAGES, created_at, same_text

__all__ = ["MastodonChannel"]

VISIBILITIES = ("public", "unlisted", "private", "direct")
MEDIA_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/heic",
        "video/mp4",
        "video/quicktime",
    }
)
IMAGE_BYTES = 16 * 1024 * 1024  # Mastodon's default image_size_limit
VIDEO_BYTES = 99 * 1024 * 1024  # and video_size_limit
ALT_TEXT_LIMIT = 1500  # description_limit
POLL_DELAYS = (1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 8.0, 10.0, 10.0, 15.0, 20.0, 20.0)


def _capabilities(max_characters: int, max_media: int, url_length: int) -> Capabilities:
    return Capabilities(
        text_limit=max_characters,
        text_unit=TextUnit.GRAPHEMES,
        url_length=url_length,
        overflow=Overflow.SPLIT,
        threads=True,
        max_media=max_media,
        media_types=MEDIA_TYPES,
        max_media_bytes=VIDEO_BYTES,
        link_cards=True,  # the instance fetches the card for the first link itself
        hashtags=True,
        idempotency=Idempotency.KEY | Idempotency.LOOKUP,
        idempotency_window=3600.0,
        limits=(Limit(rate=300, per=300.0),),
        health_check=True,
        deletes=True,  # DELETE /api/v1/statuses/:id, for the extra copy a resend left
    )


DEFAULT_CAPABILITIES = _capabilities(500, 4, 23)


class _InstanceCapabilities:
    """Class access gives Mastodon's defaults; an instance gets its configured instance's limits."""

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Capabilities: ...
    @overload
    def __get__(self, obj: MastodonChannel, owner: type[Any]) -> Capabilities: ...
    def __get__(self, obj: MastodonChannel | None, owner: type[Any]) -> Capabilities:
        return DEFAULT_CAPABILITIES if obj is None else obj._capabilities


@attrs.define
class _InstanceCache:
    """Mutable holder on a frozen channel: the instance is asked once, not per post."""

    facts: InstanceFacts | None = None
    account_id: str | None = None


def _instance_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    return value


def _check_instance(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"instance must be a URL such as https://mastodon.social, not {value!r}")


def _positive(_instance: Any, attribute: Any, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, not {value}")


def _parse_reset(value: str | None, now: float) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (ISO 8601, often with microseconds)."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return seconds_until(moment.timestamp(), now)


def _error_text(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        detail = body.get("error_description")
        return f"{body['error']}: {detail}" if isinstance(detail, str) and detail else body["error"]
    return None


@attrs.frozen(kw_only=True)
class MastodonChannel(Channel):
    """One account on one Mastodon instance (``token`` needs write:statuses and write:media)."""

    name = "mastodon"
    capabilities = _InstanceCapabilities()

    instance: str = attrs.field(converter=_instance_url, validator=_check_instance)
    token: str = secret()
    visibility: str = attrs.field(default="public", validator=attrs.validators.in_(VISIBILITIES))
    language: str | None = None
    sensitive: bool = False
    spoiler_text: str | None = None
    max_characters: int = attrs.field(default=500, validator=_positive)
    max_media_attachments: int = attrs.field(default=4, validator=_positive)
    characters_reserved_per_url: int = attrs.field(default=23, validator=_positive)
    _capabilities: Capabilities = attrs.field(init=False, repr=False, eq=False)
    _instance_cache: _InstanceCache = attrs.field(
        init=False, factory=_InstanceCache, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        spoiler = self._count(self.spoiler_text or "", self.characters_reserved_per_url)
        if spoiler >= self.max_characters:
            raise ValueError(f"spoiler_text is {spoiler} characters, leaving no room for the text")
        caps = _capabilities(
            self.max_characters - spoiler,
            self.max_media_attachments,
            self.characters_reserved_per_url,
        )
        object.__setattr__(self, "_capabilities", caps)

    @property
    def failure_domain(self) -> str:
        """Each instance fails on its own: mastodon.social down says nothing of fosstodon."""
        return urlsplit(self.instance).hostname or self.instance

    @staticmethod
    def _count(text: str, url_length: int) -> int:
        return count(text, TextUnit.GRAPHEMES, url_length=url_length)

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation, plus Mastodon's per-kind size and alt-text limits."""
        prepared = super().prepare(post)
        for index, item in enumerate(prepared.post.media):
            if item.is_image and item.size and item.size > IMAGE_BYTES:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{item.size} bytes, Mastodon takes images up to {IMAGE_BYTES}",
                    "resize or compress the image",
                )
            if item.alt and len(graphemes(item.alt)) > ALT_TEXT_LIMIT:
                raise ContentRejected(
                    f"{self.id}.media[{index}].alt",
                    f"alt text over {ALT_TEXT_LIMIT} characters",
                    "shorten the description",
                )
        changes = list(prepared.changes)
        if self.spoiler_text:
            changes.append(
                Change(kind="content_warning", detail=f"behind the warning {self.spoiler_text!r}")
            )
        if len(prepared.parts) > 1:
            changes.append(
                Change(
                    kind="thread",
                    detail=f"posted as {len(prepared.parts)} replies via in_reply_to_id",
                )
            )
        return attrs.evolve(prepared, changes=tuple(changes))

    # -- requests ------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.instance}{path}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def _get(self, path: str, **params: str) -> httpx.Request:
        return httpx.Request("GET", self._url(path), headers=self._headers(), params=params or None)

    def status_body(
        self, prepared: Prepared, index: int, media_ids: list[str], reply_to: str | None
    ) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/statuses`` for part ``index``."""
        body: dict[str, Any] = {"status": prepared.parts[index], "visibility": self.visibility}
        language = prepared.post.language or self.language
        if language:
            body["language"] = language
        if self.spoiler_text:
            body["spoiler_text"] = self.spoiler_text
        if self.sensitive or self.spoiler_text:
            body["sensitive"] = True
        if media_ids:
            body["media_ids"] = media_ids
        if reply_to is not None:
            body["in_reply_to_id"] = reply_to
        return body

    def status_request(self, body: Mapping[str, Any], idempotency_key: str) -> httpx.Request:
        headers = self._headers() | {"Idempotency-Key": idempotency_key}
        return httpx.Request(
            "POST", self._url("/api/v1/statuses"), headers=headers, json=dict(body)
        )

    def delete_request(self, status_id: str) -> httpx.Request:
        return httpx.Request(
            "DELETE",
            self._url(f"/api/v1/statuses/{quote(status_id, safe='')}"),
            headers=self._headers(),
            params={"delete_media": "true"},
        )

    def media_request(self, media: Media) -> httpx.Request:
        """``POST /api/v2/media``: multipart file, alt text as ``description``, ``focus``."""
        data: dict[str, str] = {}
        if media.alt:
            data["description"] = media.alt
        if media.focus is not None:
            data["focus"] = f"{media.focus[0]:g},{media.focus[1]:g}"
        files = {"file": (media.filename or "upload", media.read(), media.mime_type)}
        return httpx.Request(
            "POST", self._url("/api/v2/media"), headers=self._headers(), data=data, files=files
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Check the instance's limits, upload media, then post each part as a reply to the last."""
        facts = yield from self._facts_flow()
        if facts.key_problem is not None:
            ctx.key_ignored(f"{self.failure_domain}: {facts.key_problem}")
        if facts.limits is not None:
            self._enforce(prepared, facts.limits)
        media_ids = []
        for item in prepared.post.media:
            media_id = yield from self._upload_flow(item)
            media_ids.append(media_id)
        statuses: list[Mapping[str, Any]] = []
        reply_to: str | None = None
        for index in range(len(prepared.parts)):
            body = self.status_body(prepared, index, media_ids if index == 0 else [], reply_to)
            key = ctx.delivery_key if index == 0 else f"{ctx.delivery_key}.{index}"
            response = yield self.status_request(body, key)
            status = json_object(response)
            if not status.get("id"):
                raise Ambiguous(
                    f"{self.failure_domain} answered a status without an id (it may exist)",
                    status=response.status_code,
                )
            statuses.append(status)
            reply_to = str(status["id"])
        return _receipt(statuses)

    def _facts_flow(self) -> Flow[InstanceFacts]:
        """The instance's limits and software, asked once (v1 for servers without v2)."""
        cache = self._instance_cache
        if cache.facts is not None:
            return cache.facts
        facts = InstanceFacts(key_problem=key_problem({}))  # publishes nothing: settings rule
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                response = yield httpx.Request(
                    "GET", self._url(path), headers={"Accept": "application/json"}
                )
            except Permanent as error:
                if error.status not in (404, 410):
                    raise
                continue
            facts = read_facts(json_body(response))
            break
        cache.facts = facts
        return facts

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Read the account's statuses back to the first attempt: every one showing this text.

        The first created is the receipt, any other a duplicate (oldest first)
        the second look after a resend flags for removal.
        """
        if len(prepared.parts) > 1:
            return Unknown("a thread cannot be matched part by part; check the account")
        account = yield from self._account_flow()
        since = ctx.first_attempt_at - CLOCK_SLACK
        params = {"limit": "40", "exclude_reblogs": "true"}
        matches: list[Mapping[str, Any]] = []  # newest first, as the instance lists them
        for _page in range(LOOKUP_PAGES):
            response = yield self._get(f"/api/v1/accounts/{account}/statuses", **params)
            page = _statuses(response)
            if page is None:
                return Unknown(f"{self.failure_domain} listed statuses without a JSON array")
            reached = not page
            for status in page:
                when = created_at(status)
                if when is None or when < since:
                    reached = reached or when is not None
                    continue
                if same_text(status, prepared.parts[0]):
                    matches.append(status)
            if reached:
                break
            params = {**params, "max_id": str(page[-1].get("id"))}
        else:
            if not matches:
                return Unknown(
                    f"read {LOOKUP_PAGES} pages of statuses without reaching the first attempt"
                )
        if not matches:
            return Absent()
        first, *others = reversed(matches)
        return Found(_receipt([first]), duplicates=tuple(_receipt([s]) for s in others))

    def delete_flow(self, platform_id: str, ctx: Context) -> Flow[None]:
        """``DELETE /api/v1/statuses/:id`` (media too, not kept 24 h for a redraft).

        The id is one the lookup read from the account's own statuses, so a
        404 or 410 means it is gone already: the copy is removed, as asked.
        """
        try:
            yield self.delete_request(platform_id)
        except Permanent as error:
            if error.status not in (404, 410):
                raise

    def _account_flow(self) -> Flow[str]:
        """The token's account id, asked once."""
        cache = self._instance_cache
        if cache.account_id is None:
            response = yield self._get("/api/v1/accounts/verify_credentials")
            cache.account_id = str(json_object(response)["id"])
        return cache.account_id

    def _enforce(self, prepared: Prepared, limits: InstanceLimits) -> None:
        spoiler = self._count(self.spoiler_text or "", limits.characters_reserved_per_url)
        for index, part in enumerate(prepared.parts):
            length = spoiler + self._count(part, limits.characters_reserved_per_url)
            if length > limits.max_characters:
                raise Permanent(
                    f"part {index + 1} is {length} characters but {self.failure_domain} allows "
                    f"{limits.max_characters}; set max_characters = {limits.max_characters} "
                    f"in [channels.{self.id}] so prepare() splits the text to fit",
                    platform_code="instance_limit",
                )
        if len(prepared.post.media) > limits.max_media_attachments:
            raise Permanent(
                f"{len(prepared.post.media)} files but {self.failure_domain} allows "
                f"{limits.max_media_attachments}; set max_media_attachments = "
                f"{limits.max_media_attachments} in [channels.{self.id}]",
                platform_code="instance_limit",
            )

    def _upload_flow(self, media: Media) -> Flow[str]:
        """Upload one file; on 202 poll until the instance has processed it (``url`` set)."""
        response = yield self.media_request(media)
        attachment = json_object(response)
        media_id = str(attachment["id"])
        for delay in POLL_DELAYS:
            if attachment.get("url"):
                return media_id
            response = yield Pause(delay, then=self._get(f"/api/v1/media/{media_id}"))
            attachment = json_object(response)
        if attachment.get("url"):
            return media_id
        raise Transient(
            f"{self.failure_domain} is still processing media {media_id}; try again later"
        )

    def check_flow(self, ctx: Context) -> Flow[str]:
        """Who the token belongs to, and the instance's limits against the configured ones."""
        response = yield self._get("/api/v1/accounts/verify_credentials")
        account = json_object(response)
        who = f"@{account.get('acct') or account.get('username')} on {self.failure_domain}"
        facts = yield from self._facts_flow()
        keys = (
            ""
            if facts.key_problem is None
            else f"; {facts.key_problem}: lost answers are settled by reading statuses back"
        )
        limits = facts.limits
        if limits is None:
            return (
                f"{who}; the instance publishes no limits, using {self.max_characters} "
                f"characters{keys}"
            )
        summary = (
            f"{who} ({limits.software}): {limits.max_characters} characters, "
            f"{limits.max_media_attachments} media, URLs count {limits.characters_reserved_per_url}"
        )
        configured = (
            self.max_characters,
            self.max_media_attachments,
            self.characters_reserved_per_url,
        )
        real = (
            limits.max_characters,
            limits.max_media_attachments,
            limits.characters_reserved_per_url,
        )
        if configured != real:
            summary += (
                f"; configured {configured[0]}/{configured[1]}/{configured[2]} differ: set "
                f"max_characters = {real[0]}, max_media_attachments = {real[1]}, "
                f"characters_reserved_per_url = {real[2]}"
            )
        return summary + keys

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Mastodon's ``{"error": ...}`` message, by status; 429 waits until X-RateLimit-Reset."""
        if response.status_code < 400:
            return None
        error = error_for_status(response, message=_error_text(response))
        if isinstance(error, RateLimited) and error.retry_after is None:
            error.retry_after = _parse_reset(response.headers.get("x-ratelimit-reset"), now)
        return error


def _receipt(statuses: Sequence[Mapping[str, Any]]) -> Receipt:
    """The first status (a thread's head), with the thread's ids when there are several."""
    first = statuses[0]
    return Receipt(
        platform_id=str(first["id"]),
        url=first.get("url") or first.get("uri"),
        extra={"thread": [str(s["id"]) for s in statuses]} if len(statuses) > 1 else {},
    )


def _statuses(response: httpx.Response) -> list[Mapping[str, Any]] | None:
    """A page of statuses, or None when the answer is not a JSON array."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, list):
        return None
    return [item for item in body if isinstance(item, Mapping)]
