"""Instagram business accounts: an image, a carousel or a reel, through media containers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Channel,
    ContentRejected,
    Context,
    Flow,
    Idempotency,
    Media,
    Post,
    Prepared,
    QuotaExhausted,
    Receipt,
    Register,
    StatusSource,
    TextUnit,
    hookimpl,
    json_body,
)
from unipost_meta.graph import ContainerChannel, numeric_id
from unipost_meta.status import status_sources

__all__ = ["InstagramChannel", "unipost_register_channels"]

MAX_HASHTAGS = 30
MAX_MENTIONS = 20
_HASHTAG = re.compile(r"(?<![\w#&])#\w")
_MENTION = re.compile(r"(?<![\w@.])@[A-Za-z0-9._]+")


@attrs.frozen(kw_only=True)
class InstagramChannel(ContainerChannel):
    """An Instagram professional account, published to through Facebook Login.

    Instagram fetches every file from a public URL itself; local files need
    ``media_host`` (see the README). The publishing quota is read before each
    publish, so a full quota costs no publish request.
    """

    name: ClassVar[str] = "instagram"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=2200,
        text_unit=TextUnit.CHARACTERS,
        max_media=10,
        media_types=frozenset({"image/jpeg", "video/mp4", "video/quicktime"}),
        media_from_url_only=True,
        hashtags=True,
        idempotency=Idempotency.LOOKUP,
        health_check=True,
    )
    permissions: ClassVar[tuple[str, ...]] = ("instagram_basic", "instagram_content_publish")
    create_edge: ClassVar[str] = "media"
    publish_edge: ClassVar[str] = "media_publish"
    text_field: ClassVar[str] = "caption"
    status_field: ClassVar[str] = "status_code"
    status_detail: ClassVar[str] = "status"
    media_list_edge: ClassVar[str] = "media"

    ig_user_id: str = attrs.field(converter=str, validator=numeric_id)

    @property
    def user_id(self) -> str:
        return self.ig_user_id

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Check what Instagram refuses, with the fix: no media, too many tags or mentions."""
        hosted, changes = self.hosted(post)
        if not hosted.media:
            raise ContentRejected(
                f"{self.id}.media",
                "Instagram posts need an image or a video",
                f"add media=[unipost.Media.from_url(...)] or a variant for {self.id!r} with media",
            )
        prepared = super().prepare(hosted)
        caption = prepared.text
        hashtags = len(_HASHTAG.findall(caption))
        if hashtags > MAX_HASHTAGS:
            raise ContentRejected(
                f"{self.id}.text",
                f"{hashtags} hashtags, Instagram allows {MAX_HASHTAGS}",
                f"use fewer tags, or give a variant for {self.id!r}",
            )
        mentions = len(_MENTION.findall(caption))
        if mentions > MAX_MENTIONS:
            raise ContentRejected(
                f"{self.id}.text",
                f"{mentions} @mentions, Instagram allows {MAX_MENTIONS}",
                f"mention fewer accounts, or give a variant for {self.id!r}",
            )
        media = prepared.post.media
        kind = "carousel" if len(media) > 1 else "reel" if media[0].is_video else "image"
        return attrs.evolve(prepared, changes=(*changes, *prepared.changes), payload={"kind": kind})

    # -- delivery --------------------------------------------------------

    @staticmethod
    def _item(media: Media, *, child: bool) -> dict[str, Any]:
        url = media.url
        if media.is_video:
            params: dict[str, Any] = {"media_type": "VIDEO" if child else "REELS", "video_url": url}
        else:
            params = {"image_url": url, "alt_text": media.alt}
        if child:
            params["is_carousel_item"] = True
        return params

    def _check_quota(self) -> Flow[None]:
        """Refuse before publishing when the 24-hour publishing quota is used up."""
        response = yield (
            self.get(
                self.ig_user_id, "content_publishing_limit", params={"fields": "quota_usage,config"}
            )
        )
        data = json_body(response).get("data")
        entry: Mapping[str, Any] = {}
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            entry = data[0]
        usage = entry.get("quota_usage")
        config = entry.get("config")
        if not isinstance(config, Mapping):
            config = {}
        total = config.get("quota_total")
        if isinstance(usage, int) and isinstance(total, int) and usage >= total:
            hours = (config.get("quota_duration") or 86400) / 3600
            raise QuotaExhausted(
                f"{usage} of {total} posts published in the last {hours:.0f} h; "
                "Instagram accepts more once older posts leave the window",
                platform_code="content_publishing_limit",
            )

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Quota, containers (children first for a carousel), wait, publish, permalink."""
        yield from self._check_quota()
        media = prepared.post.media
        caption = prepared.text or None
        if len(media) == 1:
            container = yield from self.create_container(
                {**self._item(media[0], child=False), "caption": caption}
            )
        else:
            container = yield from self.carousel(
                [self._item(item, child=True) for item in media], {"caption": caption}, ctx
            )
        yield from self.wait_until_ready(container, ctx)
        return (yield from self.publish_and_link(container, prepared, ctx))

    def identity_request(self) -> httpx.Request:
        return self.get(self.ig_user_id, params={"fields": "id,username"})

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        return f"Instagram @{body.get('username') or self.ig_user_id}"


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(InstagramChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Meta's status page for the Graph API."""
    if not isinstance(channel, InstagramChannel):
        return None
    return status_sources(channel, "graph-api")
