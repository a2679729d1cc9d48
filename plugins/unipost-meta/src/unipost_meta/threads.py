"""Threads: text, an image or a carousel, through the same container flow as Instagram."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Capabilities,
    Context,
    Flow,
    Idempotency,
    Post,
    Prepared,
    Receipt,
    Register,
    TextUnit,
    hookimpl,
)
from unipost_meta.graph import ContainerChannel, check_base_url, check_version, strip_slash

__all__ = ["THREADS_API_VERSION", "THREADS_URL", "ThreadsChannel", "unipost_register_channels"]

THREADS_URL = "https://graph.threads.net"
THREADS_API_VERSION = "v1.0"


def _user_id(_instance: Any, attribute: Any, value: str) -> None:
    if value != "me" and not value.isdigit():
        raise ValueError(f"{attribute.name} {value!r} must be 'me' or the numeric Threads user id")


@attrs.frozen(kw_only=True)
class ThreadsChannel(ContainerChannel):
    """A Threads profile, with a Threads user token.

    Threads counts 500 characters but each emoji as its UTF-8 byte length
    (platforms.md §4): ``TextUnit.THREADS`` counts exactly that.
    """

    name: ClassVar[str] = "threads"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=500,
        text_unit=TextUnit.THREADS,
        max_media=20,
        media_types=frozenset({"image/jpeg", "image/png"}),
        media_from_url_only=True,
        link_cards=True,
        idempotency=Idempotency.LOOKUP,
        health_check=True,
    )
    create_edge: ClassVar[str] = "threads"
    publish_edge: ClassVar[str] = "threads_publish"
    text_field: ClassVar[str] = "text"
    status_field: ClassVar[str] = "status"
    status_detail: ClassVar[str] = "error_message"
    media_list_edge: ClassVar[str] = "threads"

    api_version: str = attrs.field(default=THREADS_API_VERSION, validator=check_version)
    base_url: str = attrs.field(
        default=THREADS_URL, converter=strip_slash, validator=check_base_url
    )
    threads_user_id: str = attrs.field(default="me", converter=str, validator=_user_id)

    @property
    def user_id(self) -> str:
        return self.threads_user_id

    def prepare(self, post: Post) -> Prepared:
        hosted, changes = self.hosted(post)
        prepared = super().prepare(hosted)
        media = prepared.post.media
        kind = "carousel" if len(media) > 1 else "image" if media else "text"
        return attrs.evolve(prepared, changes=(*changes, *prepared.changes), payload={"kind": kind})

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Container (children first for a carousel), wait for media, publish, permalink."""
        media = prepared.post.media
        text = prepared.text or None
        if not media:
            container = yield from self.create_container({"media_type": "TEXT", "text": text})
        elif len(media) == 1:
            container = yield from self.create_container(
                {"media_type": "IMAGE", "image_url": media[0].url, "text": text}
            )
            yield from self.wait_until_ready(container, ctx)
        else:
            items = [
                {"media_type": "IMAGE", "image_url": item.url, "is_carousel_item": True}
                for item in media
            ]
            container = yield from self.carousel(items, {"text": text}, ctx)
            yield from self.wait_until_ready(container, ctx)
        return (yield from self.publish_and_link(container, prepared, ctx))

    def identity_request(self) -> httpx.Request:
        return self.get(self.threads_user_id, params={"fields": "id,username"})

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        return f"Threads @{body.get('username') or self.threads_user_id}"


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(ThreadsChannel)
