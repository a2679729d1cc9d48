"""The Slack channel: a bot posts to one channel.

Text is ``chat.postMessage`` with ``blocks``: a ``header`` for the title and
``section`` blocks of mrkdwn (at most 3,000 characters each), plus the plain
``text`` Slack shows in notifications. Images use the files upload v2 flow —
``files.getUploadURLExternal``, the bytes to the returned URL, then one
``files.completeUploadExternal`` that shares them into the channel with the same
blocks, so text and images are one message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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
    Post,
    Prepared,
    Receipt,
    TextUnit,
    Transient,
    secret,
    split,
    truncate,
)
from unipost_slack._errors import classify_response, slack_body

__all__ = ["SlackChannel", "mrkdwn_escape"]

TEXT_LIMIT = 4000  # Slack truncates text past 40,000 but asks for at most 4,000
SECTION_LIMIT = 3000  # a section block's text
HEADER_LIMIT = 150  # a header block's plain_text
MAX_FILES = 10
FILE_BYTES = 1024 * 1024 * 1024  # Slack takes files up to 1 GB
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
ALT_LIMIT = 1000  # files.getUploadURLExternal alt_txt

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")

CAPABILITIES = Capabilities(
    text_limit=TEXT_LIMIT,
    text_unit=TextUnit.CHARACTERS,
    overflow=Overflow.TRUNCATE,
    max_media=MAX_FILES,
    media_types=IMAGE_TYPES,
    max_media_bytes=FILE_BYTES,
    link_cards=True,
    title=True,
    idempotency=Idempotency.NONE,
    health_check=True,  # auth.test is a read
    # chat.postMessage: about one message a second per channel (a "special" tier).
    limits=(Limit(rate=1, per=1.0, burst=3),),
)


def mrkdwn_escape(text: str) -> str:
    """Slack's mrkdwn needs only ``&``, ``<`` and ``>`` escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _check_token(_instance: Any, _attribute: Any, value: str) -> None:
    if not value.startswith(("xoxb-", "xoxp-")):
        raise ValueError(
            "token must be a bot token (xoxb-…) or user token (xoxp-…) with chat:write "
            "(and files:write for images), from your app's OAuth & Permissions page"
        )


def _check_channel(_instance: Any, _attribute: Any, value: str) -> None:
    if not _CHANNEL_ID.match(value):
        raise ValueError(
            f"channel must be a channel ID such as C0123456789 (channel details → About), "
            f"not {value!r}: file uploads need the ID, not the name"
        )


def _check_base_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"base_url must be a URL such as https://slack.com/api, not {value!r}")


def _sections(text: str) -> list[str]:
    """Escaped mrkdwn pieces of at most SECTION_LIMIT characters, cut at word boundaries."""
    room = SECTION_LIMIT
    while True:
        pieces = [
            mrkdwn_escape(piece) for piece in split(text, room, TextUnit.CHARACTERS, numbered=False)
        ]
        if all(len(piece) <= SECTION_LIMIT for piece in pieces):
            return pieces
        room -= SECTION_LIMIT // 10  # escaping grew a piece (&amp;): cut smaller


@attrs.frozen(kw_only=True)
class SlackChannel(Channel):
    """One Slack app's bot token posting into one channel (invite the bot to it)."""

    name = "slack"
    capabilities = CAPABILITIES

    token: str = secret(validator=_check_token)
    channel: str = attrs.field(validator=_check_channel)
    base_url: str = attrs.field(default="https://slack.com/api", validator=_check_base_url)
    unfurl_links: bool = True

    @property
    def failure_domain(self) -> str:
        return "slack"

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """The base adaptation, then Block Kit blocks: header, sections (mrkdwn escaped)."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        blocks: list[dict[str, Any]] = []
        if post.title:
            title = post.title
            if len(title) > HEADER_LIMIT:
                title = truncate(title, HEADER_LIMIT, TextUnit.CHARACTERS)
                changes.append(
                    Change(kind="title_truncated", detail=f"header cut to {HEADER_LIMIT}")
                )
            blocks.append({"type": "header", "text": {"type": "plain_text", "text": title}})
        if prepared.text:
            sections = _sections(prepared.text)
            blocks.extend(
                {"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in sections
            )
            if len(sections) > 1:
                changes.append(
                    Change(kind="sections", detail=f"text in {len(sections)} section blocks")
                )
        for index, item in enumerate(post.media):
            if item.alt and len(item.alt) > ALT_LIMIT:
                raise ContentRejected(
                    f"{self.id}.media[{index}].alt",
                    f"alt text over {ALT_LIMIT} characters",
                    "shorten the description",
                )
        fallback = "\n\n".join(p for p in (post.title, prepared.text) if p)
        payload = {"blocks": blocks, "text": mrkdwn_escape(fallback)}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    # -- requests ------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post_message_body(self, prepared: Prepared) -> dict[str, Any]:
        """The JSON body of ``chat.postMessage``."""
        return {
            "channel": self.channel,
            "text": prepared.payload["text"],
            "blocks": prepared.payload["blocks"],
            "unfurl_links": self.unfurl_links,
        }

    def post_message(self, prepared: Prepared) -> httpx.Request:
        return httpx.Request(
            "POST",
            f"{self.base_url}/chat.postMessage",
            headers=self._headers(),
            json=self.post_message_body(prepared),
        )

    def get_permalink(self, ts: str) -> httpx.Request:
        return httpx.Request(
            "GET",
            f"{self.base_url}/chat.getPermalink",
            headers=self._headers(),
            params={"channel": self.channel, "message_ts": ts},
        )

    def get_upload_url(self, item: Media, index: int) -> httpx.Request:
        """``files.getUploadURLExternal``: the file's name, length and alt text."""
        data = self.upload_name(item, index) | {"length": str(len(item.read()))}
        if item.alt:
            data["alt_txt"] = item.alt
        return httpx.Request(
            "POST",
            f"{self.base_url}/files.getUploadURLExternal",
            headers=self._headers(),
            data=data,
        )

    @staticmethod
    def upload_name(item: Media, index: int) -> dict[str, str]:
        return {"filename": item.filename or f"image-{index + 1}"}

    @staticmethod
    def upload_bytes(upload_url: str, item: Media, index: int) -> httpx.Request:
        """The bytes to the pre-signed ``upload_url`` (no token: the URL authorizes it)."""
        name = item.filename or f"image-{index + 1}"
        return httpx.Request(
            "POST", upload_url, files={"filename": (name, item.read(), item.mime_type)}
        )

    def complete_upload(self, prepared: Prepared, files: list[dict[str, str]]) -> httpx.Request:
        """``files.completeUploadExternal``: share the files into the channel with the blocks."""
        data = {
            "files": json.dumps(files, separators=(",", ":")),
            "channel_id": self.channel,
        }
        if prepared.payload["blocks"]:
            data["blocks"] = json.dumps(prepared.payload["blocks"], separators=(",", ":"))
        return httpx.Request(
            "POST",
            f"{self.base_url}/files.completeUploadExternal",
            headers=self._headers(),
            data=data,
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        if prepared.post.media:
            return (yield from self._files_flow(prepared))
        response = yield self.post_message(prepared)
        body = _ok(response)
        ts = str(body.get("ts") or "")
        if not ts:
            raise Ambiguous("chat.postMessage answered ok without ts")
        channel = str(body.get("channel") or self.channel)
        url: str | None = None
        try:  # a failed read must not turn a posted message into a retry
            link = yield self.get_permalink(ts)
            url = _ok(link).get("permalink")
        except DeliveryError:
            url = None
        return Receipt(platform_id=f"{channel}:{ts}", url=url, extra={"channel": channel, "ts": ts})

    def _files_flow(self, prepared: Prepared) -> Flow[Receipt]:
        uploaded: list[dict[str, str]] = []
        for index, item in enumerate(prepared.post.media):
            response = yield self.get_upload_url(item, index)
            target = _ok(response)
            upload_url, file_id = target.get("upload_url"), target.get("file_id")
            if not upload_url or not file_id:
                raise Transient("files.getUploadURLExternal answered without upload_url")
            response = yield self.upload_bytes(str(upload_url), item, index)
            entry = {"id": str(file_id)}
            if item.alt:
                entry["title"] = item.alt[:250]
            uploaded.append(entry)
        response = yield self.complete_upload(prepared, uploaded)
        files = _ok(response).get("files") or []
        if not files:
            raise Ambiguous("files.completeUploadExternal answered without files")
        first = files[0]
        return Receipt(
            platform_id=f"{self.channel}:file:{first.get('id')}",
            url=first.get("permalink"),
            extra={"channel": self.channel, "files": [str(f.get("id")) for f in files]},
        )

    def check_flow(self, ctx: Context) -> Flow[str]:
        """``auth.test``: the bot and workspace the token belongs to."""
        response = yield httpx.Request("GET", f"{self.base_url}/auth.test", headers=self._headers())
        who = _ok(response)
        return (
            f"{who.get('user')} in {who.get('team')} ({who.get('url')}), posting to {self.channel}"
        )

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        return classify_response(response, now=now)


def _ok(response: httpx.Response) -> Mapping[str, Any]:
    """The body of an ``ok: true`` answer (errors were classified before this)."""
    body = slack_body(response)
    if body.get("ok") is not True:
        text = f"Slack answered {response.status_code} without ok: true"
        if response.request.method == "GET":
            raise Transient(text, status=response.status_code)
        raise Ambiguous(text, status=response.status_code)
    return body
