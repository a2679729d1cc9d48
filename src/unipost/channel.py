"""The channel contract: what a plugin writes to add a platform.

A channel class declares facts (:class:`Capabilities`, a failure domain) and
three behaviours:

* :meth:`Channel.prepare` — pure, no I/O: adapt the post to the platform
  (append the link, truncate or split, check media) and record every change,
  so ``unipost preview`` can show what will be published and why.
* :meth:`Channel.publish_flow` — a generator that yields ``httpx.Request``
  objects (or :class:`Pause`) and receives ``httpx.Response`` objects, in the
  manner of ``httpx.Auth.auth_flow``. The core sends them, for sync and async
  callers alike, and owns time, retries and error mapping.
* :meth:`Channel.classify` — map a platform's error body onto the shared
  :class:`~unipost.errors.ErrorClass` values.

Channels whose I/O is not HTTP (SMTP, files) override :meth:`Channel.deliver`.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import attrs
import httpx

from unipost import text as textmod
from unipost.classify import error_for_status
from unipost.context import Context, Flow, Pause
from unipost.credentials import CredentialStatus
from unipost.errors import (
    ConfigurationError,
    ContentRejected,
    DeliveryError,
    Permanent,
)
from unipost.models import Post
from unipost.receipts import Absent, Found, LookupResult, Receipt, RecipientResult, Unknown
from unipost.redact import register_secret

if TYPE_CHECKING:
    from unipost.text import TextUnit

__all__ = [
    "WEB_MEDIA_TYPES",
    "Absent",
    "Capabilities",
    "Change",
    "Channel",
    "Context",
    "Flow",
    "Found",
    "Idempotency",
    "Limit",
    "LookupResult",
    "Overflow",
    "Pause",
    "Prepared",
    "Receipt",
    "RecipientResult",
    "Unknown",
    "secret",
]

T = TypeVar("T")


#: What a channel that stores files (a website, a webhook receiver) can take.
WEB_MEDIA_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/quicktime",
    }
)


class Idempotency(enum.Flag):
    """How a channel makes a retried create safe (``reference/resilience.md`` A.9)."""

    NONE = 0
    KEY = enum.auto()  # an idempotency header the platform honours for a window
    CLIENT_ID = enum.auto()  # the platform id is derived from the delivery key
    LOOKUP = enum.auto()  # the channel can find out whether a post exists


class Overflow(enum.Enum):
    """What ``prepare`` does with text over the limit."""

    TRUNCATE = "truncate"  # shorten at a word boundary, keep the link
    SPLIT = "split"  # a thread of numbered parts
    MESSAGES = "messages"  # several plain messages one after another, not a thread (Discord)
    REJECT = "reject"  # refuse: the text must be shortened by the author


@attrs.frozen(kw_only=True)
class Limit:
    """A declared rate limit: ``rate`` requests per ``per`` seconds, per credential."""

    rate: int
    per: float
    burst: int | None = None
    name: str = "default"


@attrs.frozen(kw_only=True)
class Capabilities:
    """Facts about a platform, declared as data and checked by the contract tests."""

    text_limit: int | None
    text_unit: TextUnit = textmod.TextUnit.GRAPHEMES
    url_length: int | None = None  # every URL counts as this many units (Mastodon 23)
    extra_limits: tuple[tuple[int, TextUnit], ...] = ()  # Bluesky: 300 graphemes and 3000 bytes
    overflow: Overflow = Overflow.TRUNCATE
    threads: bool = False
    max_media: int = 0
    media_types: frozenset[str] = frozenset()
    max_media_bytes: int | None = None
    media_from_url_only: bool = False  # the platform fetches media itself (Instagram)
    link_cards: bool = False
    title: bool = False  # the channel shows the title (site, email) instead of folding it into text
    hashtags: bool = False  # tags become #hashtags in the text
    idempotency: Idempotency = Idempotency.NONE
    idempotency_window: float | None = None  # seconds a KEY is honoured (Mastodon: 3600)
    limits: tuple[Limit, ...] = ()
    #: ``check()`` is a safe read that tells whether the platform is up: a half-open
    #: breaker probes with it instead of risking a create.
    health_check: bool = False
    #: ``delete_flow`` removes one of the account's own posts: offered for the extra
    #: copy a resend left behind (``unipost outbox remove-duplicate``).
    deletes: bool = False
    #: The most parts a SPLIT channel may make of one post (more is refused, not sent).
    max_parts: int = 10

    def __attrs_post_init__(self) -> None:
        if self.text_limit is not None and self.text_limit <= 0:
            raise ValueError("text_limit must be positive or None")
        if self.max_media < 0:
            raise ValueError("max_media must not be negative")
        if self.max_media and not self.media_types:
            raise ValueError("a channel that takes media must list media_types")
        if self.overflow is Overflow.SPLIT and not self.threads:
            raise ValueError("overflow=SPLIT needs threads=True")


@attrs.frozen(kw_only=True)
class Change:
    """One adaptation ``prepare`` made, shown by ``preview`` and kept in the report."""

    kind: str  # "truncated", "split", "link_appended", "hashtags_added", "facets", ...
    detail: str


@attrs.frozen(kw_only=True)
class Prepared:
    """A post rendered for one channel: text parts, adaptations, plugin payload."""

    channel: str
    post: Post
    parts: tuple[str, ...]
    changes: tuple[Change, ...] = ()
    payload: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def text(self) -> str:
        return self.parts[0] if self.parts else ""


def secret(**kwargs: Any) -> Any:
    """An attrs field for a token or password: hidden from repr and from every output."""
    return attrs.field(repr=False, metadata={"unipost.secret": True}, **kwargs)


def is_loopback(host: str) -> bool:
    """Plain HTTP is allowed to this machine only (local test servers, a sidecar)."""
    return host in {"localhost", "::1", "[::1]"} or host.startswith("127.")


@attrs.frozen(kw_only=True)
class Channel(abc.ABC):
    """Base class of every channel. Subclasses are ``@attrs.frozen(kw_only=True)``.

    ``name`` is the platform type (``"mastodon"``); an instance's ``id`` is the
    name it was configured under (``"mastodon"``, ``"mastodon-shop"``...).
    """

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    #: Settings keys documented for ``unipost.toml`` (derived from the fields).
    id: str = ""
    #: A post split into more parts than this is refused (``max_parts`` in unipost.toml);
    #: None: the platform's own cap (``Capabilities.max_parts``).
    max_parts: int | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", self.name)
        for field in attrs.fields(type(self)):
            if field.metadata.get("unipost.secret"):
                value = getattr(self, field.name)
                if isinstance(value, str):
                    register_secret(value)
        self._refuse_plain_http()

    def _refuse_plain_http(self) -> None:
        """Credentials never travel over plain HTTP except to this machine: refused at load."""
        if not self.has_secrets:
            return
        for field in attrs.fields(type(self)):
            value = getattr(self, field.name) if field.init else None
            if not isinstance(value, str) or not value.startswith("http://"):
                continue
            host = httpx.URL(value).host
            if not is_loopback(host):
                raise ConfigurationError(
                    f"channels.{self.id}.{field.alias or field.name}",
                    f"plain http:// to {host} would send this channel's credentials unencrypted",
                    "use an https:// URL (plain http is allowed only to 127.0.0.1/localhost)",
                )

    @classmethod
    def from_settings(cls, channel_id: str, settings: Mapping[str, Any]) -> Self:
        """Build a channel from ``unipost.toml`` settings; unknown keys are errors."""
        known = {f.alias or f.name for f in attrs.fields(cls) if f.init} - {"id"}
        for key in settings:
            if key not in known:
                hint = ", ".join(sorted(known)) or "none"
                raise ConfigurationError(
                    f"channels.{channel_id}.{key}",
                    "unknown setting",
                    f"settings for {cls.name}: {hint}",
                )
        try:
            return cls(id=channel_id, **settings)
        except TypeError as exc:
            missing = [
                f.name
                for f in attrs.fields(cls)
                if f.init
                and f.default is attrs.NOTHING
                and f.name not in settings
                and f.name != "id"
            ]
            if missing:
                raise ConfigurationError(
                    f"channels.{channel_id}.{missing[0]}",
                    "required setting is missing",
                    f"add {missing[0]} = ... to [channels.{channel_id}]",
                ) from exc
            raise ConfigurationError(
                f"channels.{channel_id}", str(exc), "check the settings"
            ) from exc
        except ValueError as exc:
            if isinstance(exc, ConfigurationError):
                raise
            raise ConfigurationError(f"channels.{channel_id}", str(exc), "fix the setting") from exc

    @property
    def failure_domain(self) -> str:
        """Channels that fail together share a domain (all of Meta is ``"meta"``)."""
        return self.name

    @property
    def credential_key(self) -> str:
        """Rate limits are kept per credential; by default per configured channel."""
        return self.id

    @property
    def has_secrets(self) -> bool:
        return any(
            f.metadata.get("unipost.secret") and getattr(self, f.name)
            for f in attrs.fields(type(self))
        )

    # -- rendering -------------------------------------------------------

    def compose(self, post: Post) -> tuple[str, list[Change]]:
        """The text to publish before fitting: title, body, hashtags and link."""
        caps = self.capabilities
        changes: list[Change] = []
        pieces = []
        if post.title and not caps.title:
            pieces.append(post.title)
        if post.text:
            pieces.append(post.text)
        body = "\n\n".join(pieces)
        if caps.hashtags and post.tags:
            missing = [t for t in post.tags if f"#{t}".lower() not in body.lower()]
            if missing:
                body = (body + "\n\n" if body else "") + " ".join(f"#{t}" for t in missing)
                changes.append(
                    Change(kind="hashtags_added", detail=" ".join(f"#{t}" for t in missing))
                )
        return body, changes

    def link_suffix(self, post: Post, body: str) -> str:
        """The link appended to the text (empty when it is already there)."""
        if post.link and post.link not in body:
            return ("\n\n" if body else "") + post.link
        return ""

    def prepare(self, post: Post) -> Prepared:
        """Adapt ``post`` to this channel's limits; pure, raises ``ContentRejected``."""
        post = post.for_channel(self.id)
        body, changes = self.compose(post)
        suffix = self.link_suffix(post, body)
        if suffix:
            changes.append(
                Change(kind="link_appended", detail=f"link added to the text: {post.link}")
            )
        parts = self._fit(body, suffix, changes)
        self._check_media(post)
        return Prepared(channel=self.id, post=post, parts=tuple(parts), changes=tuple(changes))

    def _fit(self, body: str, suffix: str, changes: list[Change]) -> list[str]:
        caps = self.capabilities
        full = body + suffix
        if caps.text_limit is None:
            return [full]
        limits = ((caps.text_limit, caps.text_unit), *caps.extra_limits)

        def fits(candidate: str) -> bool:
            return all(
                textmod.count(candidate, unit, url_length=caps.url_length) <= limit
                for limit, unit in limits
            )

        if fits(full):
            return [full]
        length = textmod.count(full, caps.text_unit, url_length=caps.url_length)
        unit_name = caps.text_unit.value
        if caps.overflow is Overflow.REJECT:
            raise ContentRejected(
                f"{self.id}.text",
                f"{length} {unit_name}, the limit is {caps.text_limit}",
                f"shorten the text or give a variant for {self.id!r}",
            )
        if caps.overflow in (Overflow.SPLIT, Overflow.MESSAGES):
            limit = min(self._limit_in_main_unit(limits))
            cap = self.max_parts if self.max_parts is not None else caps.max_parts
            if length > limit * cap:  # refused before the (costly) split of a huge text
                raise ContentRejected(
                    f"{self.id}.text",
                    f"{length} {unit_name} would be more than {cap} parts",
                    f"shorten the text, give a variant for {self.id!r}, or raise "
                    f"[channels.{self.id}] max_parts",
                )
            parts = textmod.split(full, limit, caps.text_unit, url_length=caps.url_length)
            while not all(fits(p) for p in parts) and limit > 20:
                limit -= max(1, limit // 20)
                parts = textmod.split(full, limit, caps.text_unit, url_length=caps.url_length)
            if len(parts) > cap:
                raise ContentRejected(
                    f"{self.id}.text",
                    f"{length} {unit_name} would be {len(parts)} parts, more than {cap}",
                    f"shorten the text, give a variant for {self.id!r}, or raise "
                    f"[channels.{self.id}] max_parts",
                )
            into = "messages" if caps.overflow is Overflow.MESSAGES else "parts"
            changes.append(
                Change(kind="split", detail=f"{length} {unit_name} split into {len(parts)} {into}")
            )
            return parts
        limit = caps.text_limit
        short = textmod.truncate(
            body, limit, caps.text_unit, suffix=suffix, url_length=caps.url_length
        )
        while not fits(short) and limit > 1:
            limit -= max(1, limit // 20)
            short = textmod.truncate(
                body, limit, caps.text_unit, suffix=suffix, url_length=caps.url_length
            )
        if not fits(short):
            raise ContentRejected(
                f"{self.id}.link", "the link alone is longer than the limit", "use a shorter link"
            )
        new = textmod.count(short, caps.text_unit, url_length=caps.url_length)
        kept = ", link kept" if suffix else ""
        changes.append(Change(kind="truncated", detail=f"{length} → {new} {unit_name}{kept}"))
        return [short]

    def _limit_in_main_unit(self, limits: tuple[tuple[int, TextUnit], ...]) -> list[int]:
        return [limit for limit, unit in limits if unit is self.capabilities.text_unit]

    def _check_media(self, post: Post) -> None:
        caps = self.capabilities
        media = post.media
        if not media:
            return
        if caps.max_media == 0:
            raise ContentRejected(
                f"{self.id}.media",
                f"{self.name} does not take media",
                f"give a variant for {self.id!r} without media, or route elsewhere",
            )
        if len(media) > caps.max_media:
            raise ContentRejected(
                f"{self.id}.media",
                f"{len(media)} files, {self.name} takes at most {caps.max_media}",
                f"give a variant for {self.id!r} with fewer files",
            )
        for index, item in enumerate(media):
            if item.mime_type not in caps.media_types:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{item.mime_type} is not accepted",
                    f"use one of: {', '.join(sorted(caps.media_types))}",
                )
            if caps.max_media_bytes and item.size and item.size > caps.max_media_bytes:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{item.size} bytes, the limit is {caps.max_media_bytes}",
                    "resize or compress the file",
                )
            if caps.media_from_url_only and item.url is None:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    f"{self.name} fetches media from a public URL and this file is local",
                    "host the file and use Media.from_url(), or set media_host for this channel",
                )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Yield the requests that publish ``prepared``; return a :class:`Receipt`."""
        raise Permanent(f"{self.name} has no HTTP flow and must override deliver()")

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        """Publish ``prepared``. HTTP channels keep this default and write a flow."""
        return await ctx.run(self.publish_flow(prepared, ctx))

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """For LOOKUP channels: find whether ``prepared`` was already published."""
        return _constant(Unknown(f"{self.name} cannot look up posts"))

    async def lookup(self, prepared: Prepared, ctx: Context) -> LookupResult:
        return await ctx.run(self.lookup_flow(prepared, ctx))

    def delete_flow(self, platform_id: str, ctx: Context) -> Flow[None]:
        """For channels declaring ``deletes``: remove the account's post ``platform_id``."""
        raise Permanent(f"{self.name} cannot delete posts")

    async def delete(self, platform_id: str, ctx: Context) -> None:
        await ctx.run(self.delete_flow(platform_id, ctx))

    def check_flow(self, ctx: Context) -> Flow[str | CredentialStatus]:
        """Verify credentials and reachability: a short description, or a
        :class:`CredentialStatus` that also says when the credentials lapse."""
        return _constant("no check available")

    async def check(self, ctx: Context) -> str | CredentialStatus:
        return await ctx.run(self.check_flow(ctx))

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """The error a response means, or None for success. Override for error bodies.

        ``now`` is the dispatcher's clock: compute reset times against it, and
        treat a reset that already passed as unknown (``retry_after=None``).
        """
        return error_for_status(response, now=now)


def _constant(value: T) -> Flow[T]:
    return value
    yield  # pragma: no cover - makes this a generator
