"""The Telegram channel: posts to a channel, supergroup or group through the Bot API.

Text goes out as plain ``text`` (no ``parse_mode``, so nothing needs escaping);
Telegram counts its 4,096 limit after entity parsing and its entity offsets in
UTF-16 code units, so the limit is counted in UTF-16 units here too. Longer text
becomes several messages, one after another. One photo is ``sendPhoto``, 2-10 an
album (``sendMediaGroup``); the text is the caption when it fits Telegram's 1,024,
otherwise the photos go first and the text follows as its own message(s).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from unipost.plugin import (
    Ambiguous,
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    DeliveryError,
    Flow,
    Idempotency,
    Limit,
    Media,
    Overflow,
    Pause,
    Post,
    Prepared,
    RateLimited,
    Receipt,
    TextUnit,
    count,
    json_body,
    secret,
)
from unipost_telegram._errors import ChatMigrated, classify_response

__all__ = ["TelegramChannel"]

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto: "at most 10 MB"
PHOTO_SIDES = 10_000  # "width and height must not exceed 10000 in total"
PHOTO_RATIO = 20  # "width and height ratio must be at most 20"
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
ALBUM = 10  # sendMediaGroup takes 2-10 items
RATE_LIMIT_RETRIES = 3  # waits inside one attempt for the follow-up messages of a post

CAPABILITIES = Capabilities(
    text_limit=TEXT_LIMIT,
    text_unit=TextUnit.UTF16_UNITS,
    overflow=Overflow.MESSAGES,
    max_media=ALBUM,
    media_types=PHOTO_TYPES,
    max_media_bytes=PHOTO_BYTES,
    link_cards=True,
    hashtags=True,
    idempotency=Idempotency.NONE,
    health_check=True,  # getMe and getChat are reads
    # Telegram's FAQ: at most 20 messages a minute to one group or channel.
    limits=(Limit(rate=20, per=60.0),),
)


def _check_chat_id(_instance: Any, _attribute: Any, value: str) -> None:
    if value.startswith("@"):
        if len(value) < 2 or not value[1:].replace("_", "").isalnum():
            raise ValueError(f"chat_id {value!r} must be @channelusername or a numeric id")
        return
    try:
        int(value)
    except ValueError:
        raise ValueError(
            f"chat_id must be @channelusername or a numeric id such as -1001234567890, "
            f"not {value!r}"
        ) from None


def _check_base_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"base_url must be a URL such as https://api.telegram.org, not {value!r}")


@attrs.define
class _ChatState:
    """Mutable on a frozen channel: a migrated group's new id is kept for later posts."""

    migrated_to: int | None = None


def message_url(message: Mapping[str, Any]) -> str | None:
    """``t.me/<username>/<id>`` for public chats, ``t.me/c/<id>/<id>`` for private supergroups."""
    chat = message.get("chat") or {}
    message_id = message.get("message_id")
    if message_id is None:
        return None
    username = chat.get("username")
    if username:
        return f"https://t.me/{username}/{message_id}"
    chat_id = str(chat.get("id", ""))
    if chat_id.startswith("-100"):
        return f"https://t.me/c/{chat_id[4:]}/{message_id}"
    return None  # a basic group's messages have no link


@attrs.frozen(kw_only=True)
class TelegramChannel(Channel):
    """One bot posting to one chat; the bot must be an admin allowed to post there."""

    name = "telegram"
    capabilities = CAPABILITIES

    token: str = secret()
    chat_id: str = attrs.field(converter=str, validator=_check_chat_id)
    base_url: str = attrs.field(default="https://api.telegram.org", validator=_check_base_url)
    disable_notification: bool = False
    link_preview: bool = True
    _state: _ChatState = attrs.field(init=False, factory=_ChatState, repr=False, eq=False)

    @property
    def failure_domain(self) -> str:
        return "telegram"

    @property
    def target_chat(self) -> str | int:
        """The chat posted to: the configured one, or where it migrated."""
        if self._state.migrated_to is not None:
            return self._state.migrated_to
        return int(self.chat_id) if not self.chat_id.startswith("@") else self.chat_id

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation, photo checks, and where the text goes (caption or message)."""
        prepared = super().prepare(post)
        media = prepared.post.media
        for index, item in enumerate(media):
            self._check_photo(index, item)
        changes = list(prepared.changes)
        caption = bool(media) and len(prepared.parts) == 1 and self._fits_caption(prepared.text)
        if media and not caption and prepared.text:
            changes.append(
                Change(
                    kind="caption_moved",
                    detail=f"text over the {CAPTION_LIMIT}-unit caption limit follows the "
                    "photos as its own message",
                )
            )
        if any(item.alt for item in media):
            changes.append(Change(kind="alt_dropped", detail="Telegram photos have no alt text"))
        return attrs.evolve(prepared, changes=tuple(changes), payload={"caption": caption})

    @staticmethod
    def _fits_caption(text: str) -> bool:
        return count(text, TextUnit.UTF16_UNITS) <= CAPTION_LIMIT

    def _check_photo(self, index: int, item: Media) -> None:
        where = f"{self.id}.media[{index}]"
        if item.width and item.height:
            if item.width + item.height > PHOTO_SIDES:
                raise ContentRejected(
                    where,
                    f"{item.width}x{item.height}: Telegram takes width + height up to "
                    f"{PHOTO_SIDES}",
                    "scale the image down",
                )
            ratio = max(item.width, item.height) / min(item.width, item.height)
            if ratio > PHOTO_RATIO:
                raise ContentRejected(
                    where,
                    f"aspect ratio {ratio:.0f}:1, Telegram takes at most {PHOTO_RATIO}:1",
                    "crop the image",
                )

    # -- requests ------------------------------------------------------------

    def method_url(self, method: str) -> str:
        return f"{self.base_url.rstrip('/')}/bot{self.token}/{method}"

    def message_body(self, chat: str | int, text: str, link: str | None) -> dict[str, Any]:
        """The JSON body of ``sendMessage``."""
        body: dict[str, Any] = {"chat_id": chat, "text": text}
        if not self.link_preview:
            body["link_preview_options"] = {"is_disabled": True}
        elif link:
            body["link_preview_options"] = {"url": link}
        if self.disable_notification:
            body["disable_notification"] = True
        return body

    def send_message(self, chat: str | int, text: str, link: str | None) -> httpx.Request:
        return httpx.Request(
            "POST", self.method_url("sendMessage"), json=self.message_body(chat, text, link)
        )

    def send_photo(self, chat: str | int, item: Media, caption: str | None) -> httpx.Request:
        """``sendPhoto``: a URL Telegram fetches itself, or a multipart upload."""
        fields: dict[str, Any] = {"chat_id": chat}
        if caption:
            fields["caption"] = caption
        if self.disable_notification:
            fields["disable_notification"] = True
        if item.url is not None and item.data is None and item.path is None:
            return httpx.Request(
                "POST", self.method_url("sendPhoto"), json=fields | {"photo": item.url}
            )
        data = {key: _form_value(value) for key, value in fields.items()}
        files = {"photo": (item.filename or "photo", item.read(), item.mime_type)}
        return httpx.Request("POST", self.method_url("sendPhoto"), data=data, files=files)

    def send_media_group(
        self, chat: str | int, media: tuple[Media, ...], caption: str | None
    ) -> httpx.Request:
        """``sendMediaGroup``: an album; uploads are ``attach://photoN`` parts."""
        entries: list[dict[str, Any]] = []
        files: dict[str, tuple[str, bytes, str]] = {}
        for index, item in enumerate(media):
            entry: dict[str, Any] = {"type": "photo"}
            if item.url is not None and item.data is None and item.path is None:
                entry["media"] = item.url
            else:
                part = f"photo{index}"
                entry["media"] = f"attach://{part}"
                files[part] = (item.filename or part, item.read(), item.mime_type)
            if index == 0 and caption:
                entry["caption"] = caption
            entries.append(entry)
        fields: dict[str, Any] = {"chat_id": chat, "media": entries}
        if self.disable_notification:
            fields["disable_notification"] = True
        url = self.method_url("sendMediaGroup")
        if not files:
            return httpx.Request("POST", url, json=fields)
        data = {key: _form_value(value) for key, value in fields.items()}
        return httpx.Request("POST", url, data=data, files=files)

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Photos (with the caption when it fits), then the text as one or more messages."""
        messages: list[Mapping[str, Any]] = []
        media = prepared.post.media
        caption = prepared.text if prepared.payload.get("caption") else None
        if len(media) == 1:
            sent = yield from self._call(
                lambda chat: self.send_photo(chat, media[0], caption), ctx, first=True
            )
            messages.append(_message(sent))
        elif media:
            sent = yield from self._call(
                lambda chat: self.send_media_group(chat, media, caption), ctx, first=True
            )
            if not isinstance(sent, list) or not sent:
                raise Ambiguous("sendMediaGroup answered without messages")
            messages.extend(_message(item) for item in sent)
        if caption is None:
            for part in prepared.parts:
                if not part:
                    continue
                try:
                    sent = yield from self._call(
                        functools.partial(self.send_message, text=part, link=prepared.post.link),
                        ctx,
                        first=not messages,
                    )
                except DeliveryError as error:
                    if not messages:
                        raise
                    raise _partial(messages, error) from error
                messages.append(_message(sent))
        if not messages:
            raise ContentRejected(f"{self.id}.text", "the post is empty", "give text or a photo")
        first = messages[0]
        chat = first.get("chat") or {}
        extra: dict[str, Any] = {"chat_id": chat.get("id")}
        if len(messages) > 1:
            extra["messages"] = [m["message_id"] for m in messages]
        if self._state.migrated_to is not None:
            extra["migrated_to_chat_id"] = self._state.migrated_to
        return Receipt(platform_id=str(first["message_id"]), url=message_url(first), extra=extra)

    def _call(
        self, build: Callable[[str | int], httpx.Request], ctx: Context, *, first: bool
    ) -> Flow[Any]:
        """Send one Bot API call and return its ``result``.

        A migrated group is followed once (nothing was posted, the new id is kept).
        For follow-up messages of a post, a 429 is waited out here, inside the
        attempt: retrying the whole post would repeat the messages already sent.
        """
        migrated = False
        waits = 0
        request = build(self.target_chat)
        step: httpx.Request | Pause = request
        while True:
            try:
                response = yield step
            except ChatMigrated as moved:
                if migrated:
                    raise
                migrated = True
                log.warning(
                    'telegram chat %s migrated to %s; set chat_id = "%s" in [channels.%s]',
                    self.chat_id,
                    moved.chat_id,
                    moved.chat_id,
                    self.id,
                )
                self._state.migrated_to = moved.chat_id
                request = step = build(moved.chat_id)
                continue
            except RateLimited as limited:
                wait = limited.retry_after
                if first or wait is None or waits >= RATE_LIMIT_RETRIES or wait > ctx.remaining():
                    raise
                waits += 1
                step = Pause(wait, then=request)
                continue
            return _result(response)

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The bot's name, and the chat it posts to."""
        response = yield httpx.Request("GET", self.method_url("getMe"))
        bot = _result(response)
        response = yield httpx.Request(
            "GET", self.method_url("getChat"), params={"chat_id": str(self.target_chat)}
        )
        chat = _result(response)
        title = chat.get("title") or chat.get("username") or chat.get("id")
        return f"@{bot.get('username')} posting to {chat.get('type', 'chat')} {title!r}"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return classify_response(response, now=now)


def _form_value(value: Any) -> str:
    """A multipart field: JSON for objects and arrays, plain text otherwise."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _result(response: httpx.Response) -> Any:
    """The ``result`` of an ``ok`` answer; anything else may hide a posted message."""
    body = json_body(response)
    if body.get("ok") is not True or "result" not in body:
        raise Ambiguous(
            f"Telegram answered {response.status_code} without an ok result",
            status=response.status_code,
        )
    return body["result"]


def _partial(messages: list[Mapping[str, Any]], error: DeliveryError) -> Ambiguous:
    """Part of the post is up: a retry would repeat it, so a person decides."""
    ids = ", ".join(str(m["message_id"]) for m in messages)
    return Ambiguous(
        f"the post is partly published (messages {ids}); the next message failed: {error}",
        status=error.status,
        platform_code=error.platform_code,
    )


def _message(result: Any) -> Mapping[str, Any]:
    if not isinstance(result, dict) or "message_id" not in result:
        raise Ambiguous("Telegram answered a message without message_id")
    return result
