"""The Discord channel: one webhook, executed with ``?wait=true`` for the message id.

The webhook URL is the credential: whoever has it can post. It is a secret field
(registered whole), and its token part is registered too, so neither the URL nor
the token alone can reach a log line or a report.

Text over Discord's 2,000 characters becomes several plain messages, one after
another (no thread). Images go with the first message as ``files[n]`` parts and
are shown through embeds (``attachment://``); a post with a title gets a rich
embed titled and linked to the post's link. Mentions are off unless configured:
a business post never pings ``@everyone`` by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from unipost.plugin import (
    Ambiguous,
    Capabilities,
    Change,
    Channel,
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
    json_object,
    register_secret,
    require,
    secret,
    truncate,
)
from unipost_discord._errors import classify_response

__all__ = ["DiscordChannel", "parse_webhook_url"]

API = "https://discord.com/api/v10"
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
MAX_FILES = 10
FILE_BYTES = 10 * 1024 * 1024  # the default upload limit (more with server boosts)
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MEDIA_TYPES = IMAGE_TYPES | {"video/mp4", "video/quicktime"}
MENTIONS = frozenset({"users", "roles", "everyone"})
RATE_LIMIT_RETRIES = 3

_WEBHOOK = re.compile(
    r"^https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api(?:/v\d+)?"
    r"/webhooks/(?P<id>\d{15,25})/(?P<token>[A-Za-z0-9_\-]{20,})/?$"
)

CAPABILITIES = Capabilities(
    # The spec's ``content`` is ``maxLength: 2000``: JSON Schema counts code points.
    text_limit=CONTENT_LIMIT,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.MESSAGES,
    max_media=MAX_FILES,
    media_types=MEDIA_TYPES,
    max_media_bytes=FILE_BYTES,
    link_cards=True,
    title=True,
    idempotency=Idempotency.NONE,
    health_check=True,  # reading the webhook is a safe GET
    # Webhooks allow about 5 requests per 2 s (X-RateLimit-Limit: 5); the headers correct it.
    limits=(Limit(rate=5, per=2.0),),
)


def parse_webhook_url(url: str) -> tuple[str, str]:
    """``(webhook_id, token)`` of a webhook URL, or ValueError naming the expected form."""
    match = _WEBHOOK.match(url.strip())
    if match is None:
        raise ValueError(
            "webhook_url must look like https://discord.com/api/webhooks/<id>/<token> "
            "(Channel settings → Integrations → Webhooks → Copy Webhook URL)"
        )
    return match.group("id"), match.group("token")


def _check_webhook_url(_instance: Any, _attribute: Any, value: str) -> None:
    parse_webhook_url(value)


def _check_mentions(_instance: Any, _attribute: Any, value: tuple[str, ...]) -> None:
    unknown = set(value) - MENTIONS
    if unknown:
        raise ValueError(f"allowed_mentions may hold {sorted(MENTIONS)}, not {sorted(unknown)}")


@attrs.define
class _WebhookInfo:
    """Mutable on a frozen channel: the webhook's guild and channel, read once."""

    guild_id: str | None = None
    channel_id: str | None = None
    fetched: bool = False


@attrs.frozen(kw_only=True)
class DiscordChannel(Channel):
    """One Discord webhook (it posts into the channel it was created in)."""

    name = "discord"
    capabilities = CAPABILITIES

    webhook_url: str = secret(validator=_check_webhook_url)
    username: str | None = None
    avatar_url: str | None = None
    thread_id: str | None = None  # post into a thread (or forum post) of the channel
    allowed_mentions: tuple[str, ...] = attrs.field(
        default=(), converter=tuple, validator=_check_mentions
    )
    _info: _WebhookInfo = attrs.field(init=False, factory=_WebhookInfo, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        _webhook_id, token = parse_webhook_url(self.webhook_url)
        register_secret(token)  # the token alone, e.g. in a URL another library printed
        register_secret(self.execute_url)

    @property
    def webhook_id(self) -> str:
        return parse_webhook_url(self.webhook_url)[0]

    @property
    def execute_url(self) -> str:
        webhook_id, token = parse_webhook_url(self.webhook_url)
        return f"{API}/webhooks/{webhook_id}/{token}"

    @property
    def failure_domain(self) -> str:
        return "discord"

    @property
    def credential_key(self) -> str:
        """Discord's limits are per webhook, whichever channel entry uses it."""
        return f"discord-webhook:{self.webhook_id}"

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation, plus the embeds and files of the first message."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        title = post.title
        if title and len(title) > TITLE_LIMIT:
            title = truncate(title, TITLE_LIMIT, TextUnit.CHARACTERS)
            changes.append(
                Change(kind="title_truncated", detail=f"embed title cut to {TITLE_LIMIT}")
            )
        names = [_file_name(index, item) for index, item in enumerate(post.media)]
        embeds = self._embeds(post, title, names)
        if embeds:
            changes.append(
                Change(kind="embeds", detail=f"{len(embeds)} embed(s) for the title and images")
            )
        if len(prepared.parts) > 1:
            changes.append(
                Change(kind="messages", detail=f"sent as {len(prepared.parts)} messages in a row")
            )
        payload = {"embeds": embeds, "files": names}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    @staticmethod
    def _embeds(post: Post, title: str | None, names: list[str]) -> list[dict[str, Any]]:
        """One embed per image (same ``url``: Discord shows them as one gallery)."""
        embeds: list[dict[str, Any]] = []
        for item, name in zip(post.media, names, strict=True):
            if item.mime_type in IMAGE_TYPES:
                embeds.append({"image": {"url": f"attachment://{name}"}})
        if title and not embeds:
            embeds.append({})
        if embeds:
            if title:
                embeds[0]["title"] = title
            if post.link:
                for embed in embeds:
                    embed["url"] = post.link
        return embeds

    # -- requests ------------------------------------------------------------

    def message_body(self, content: str, prepared: Prepared, *, first: bool) -> dict[str, Any]:
        """The JSON of one execute-webhook call (``payload_json`` when files go along)."""
        body: dict[str, Any] = {
            "content": content,
            "allowed_mentions": {"parse": list(self.allowed_mentions)},
        }
        if self.username:
            body["username"] = self.username
        if self.avatar_url:
            body["avatar_url"] = self.avatar_url
        if first:
            embeds = prepared.payload.get("embeds") or []
            if embeds:
                body["embeds"] = embeds
            media = prepared.post.media
            if media:
                body["attachments"] = [
                    {
                        "id": str(index),
                        "filename": name,
                        **({"description": item.alt} if item.alt else {}),
                    }
                    for index, (item, name) in enumerate(
                        zip(media, prepared.payload["files"], strict=True)
                    )
                ]
        return body

    def execute_request(
        self, body: Mapping[str, Any], files: list[tuple[str, Media]] | None = None
    ) -> httpx.Request:
        """``POST /webhooks/{id}/{token}?wait=true``: JSON, or multipart with ``files[n]``."""
        params = {"wait": "true"}
        if self.thread_id:
            params["thread_id"] = self.thread_id
        if not files:
            return httpx.Request("POST", self.execute_url, params=params, json=dict(body))
        parts = [
            (f"files[{index}]", (name, item.read(), item.mime_type))
            for index, (name, item) in enumerate(files)
        ]
        return httpx.Request(
            "POST",
            self.execute_url,
            params=params,
            data={"payload_json": json.dumps(dict(body), separators=(",", ":"))},
            files=parts,
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Each part as a message; the first carries the embeds and files."""
        info = yield from self._webhook_flow()
        parts = [part for part in prepared.parts if part] or [""]
        messages: list[Mapping[str, Any]] = []
        wait = 0.0
        for index, part in enumerate(parts):
            first = index == 0
            files = list(zip(prepared.payload["files"], prepared.post.media, strict=True))
            request = self.execute_request(
                self.message_body(part, prepared, first=first), files if first else None
            )
            try:
                response = yield from self._execute(request, ctx, first=first, wait=wait)
            except DeliveryError as error:
                if first:
                    raise
                ids = ", ".join(str(m["id"]) for m in messages)
                raise Ambiguous(
                    f"the post is partly published (messages {ids}); the next message failed: "
                    f"{error}",
                    status=error.status,
                    platform_code=error.platform_code,
                ) from error
            message = json_object(response)
            require(message, "id", what="Discord's message")
            messages.append(message)
            wait = bucket_wait(response)
        first_message = messages[0]
        channel_id = str(first_message.get("channel_id") or info.channel_id or "")
        url = None
        if info.guild_id and channel_id:
            url = f"https://discord.com/channels/{info.guild_id}/{channel_id}/{first_message['id']}"
        extra: dict[str, Any] = {"channel_id": channel_id}
        if len(messages) > 1:
            extra["messages"] = [str(m["id"]) for m in messages]
        return Receipt(platform_id=str(first_message["id"]), url=url, extra=extra)

    def _webhook_flow(self) -> Flow[_WebhookInfo]:
        """``GET /webhooks/{id}/{token}`` once: the guild id the message link needs."""
        info = self._info
        if not info.fetched:
            response = yield httpx.Request("GET", self.execute_url)
            webhook = json_object(response)
            info.guild_id = str(webhook["guild_id"]) if webhook.get("guild_id") else None
            info.channel_id = str(webhook["channel_id"]) if webhook.get("channel_id") else None
            info.fetched = True
        return info

    def _execute(
        self, request: httpx.Request, ctx: Context, *, first: bool, wait: float
    ) -> Flow[httpx.Response]:
        """Send one message, after ``wait`` seconds for an empty bucket.

        A follow-up message's 429 is waited out here, inside the attempt: a retry of
        the whole post would repeat the messages already sent.
        """
        waits = 0
        step: httpx.Request | Pause = Pause(wait, then=request) if wait > 0 else request
        while True:
            try:
                return (yield step)
            except RateLimited as limited:
                delay = limited.retry_after
                if first or delay is None or waits >= RATE_LIMIT_RETRIES or delay > ctx.remaining():
                    raise
                waits += 1
                step = Pause(delay, then=request)

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The webhook's name and where it posts."""
        response = yield httpx.Request("GET", self.execute_url)
        webhook = json_object(response)
        return (
            f"webhook {webhook.get('name')!r} posting to channel {webhook.get('channel_id')} "
            f"of server {webhook.get('guild_id')}"
        )

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return classify_response(response, now=now)


def bucket_wait(response: httpx.Response) -> float:
    """Seconds until the bucket refills when it is empty (``X-RateLimit-Remaining: 0``)."""
    if response.headers.get("x-ratelimit-remaining") != "0":
        return 0.0
    try:
        return max(0.0, float(response.headers.get("x-ratelimit-reset-after", "")))
    except ValueError:
        return 0.0


def _file_name(index: int, item: Media) -> str:
    """A plain, unique file name: ``attachment://`` references break on spaces and accents."""
    extension = {
        "image/jpeg": "jpg",
        "image/png": "png",
        "image/gif": "gif",
        "image/webp": "webp",
        "video/mp4": "mp4",
        "video/quicktime": "mov",
    }[item.mime_type]
    return f"unipost-{index}.{extension}"
