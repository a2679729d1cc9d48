"""Facebook Page posts: text, links, one photo or several, optionally scheduled by Facebook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Channel,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    InvalidMedia,
    LookupResult,
    Media,
    Permanent,
    Post,
    Prepared,
    Receipt,
    Register,
    StatusSource,
    TextUnit,
    Unknown,
    hookimpl,
    json_body,
)
from unipost_meta.graph import (
    GraphChannel,
    created_id,
    numeric_id,
)
from unipost_meta.graph_lookup import lookup_since, search_recent
from unipost_meta.status import status_sources

__all__ = ["FacebookChannel", "unipost_register_channels"]

_IMAGES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/heic"}
)


#: Graph's code/subcode for an object that does not exist or cannot be loaded.
_GONE = "100/33"


def post_url(post_id: str) -> str:
    """A working link to a Page post when Graph does not give ``permalink_url``."""
    return f"https://www.facebook.com/{post_id}"


@attrs.frozen(kw_only=True)
class FacebookChannel(GraphChannel):
    """A Facebook Page, posting with a Page access token.

    Without media the link goes in ``link`` (Facebook shows a preview card);
    with photos it is appended to the text, since photo posts take no link.
    """

    name: ClassVar[str] = "facebook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=63206,  # uncertain (platforms.md §1); Facebook truncates nothing below it
        text_unit=TextUnit.CHARACTERS,
        max_media=10,
        media_types=_IMAGES,
        max_media_bytes=4 * 1024 * 1024,
        link_cards=True,
        hashtags=True,
        idempotency=Idempotency.LOOKUP,
        health_check=True,
        deletes=True,  # DELETE /{page-post-id}, for the extra copy a resend left
    )
    permissions: ClassVar[tuple[str, ...]] = ("pages_manage_posts", "pages_read_engagement")

    page_id: str = attrs.field(converter=str, validator=numeric_id)
    #: Let Facebook hold posts with ``publish_at`` (10 min to 30 days ahead), not the outbox.
    native_scheduling: bool = False

    # -- rendering -------------------------------------------------------

    def link_suffix(self, post: Post, body: str) -> str:
        if not post.media:
            return ""  # sent as the ``link`` parameter: a preview card instead of a bare URL
        return super().link_suffix(post, body)

    def prepare(self, post: Post) -> Prepared:
        prepared = super().prepare(post)
        media = prepared.post.media
        kind = "album" if len(media) > 1 else "photo" if media else "feed"
        payload: dict[str, Any] = {"kind": kind}
        changes = list(prepared.changes)
        when = prepared.post.publish_at
        if self.native_scheduling and when is not None:
            payload["scheduled_publish_time"] = int(when.timestamp())
            changes.append(
                Change(
                    kind="scheduled",
                    detail=f"Facebook publishes it at {when.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC",
                )
            )
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    # -- delivery --------------------------------------------------------

    def _photo(
        self, media: Media, *, message: str | None, extra: dict[str, Any], safe: bool = False
    ) -> httpx.Request:
        params: dict[str, Any] = {"message": message or None, "alt_text_custom": media.alt, **extra}
        if media.url is not None:
            return self.post(self.page_id, "photos", data={**params, "url": media.url}, safe=safe)
        try:
            content = media.read()
        except InvalidMedia as exc:
            raise Permanent(f"the photo can no longer be read: {exc.problem}") from exc
        files = {"source": (media.filename or "photo", content, media.mime_type)}
        return self.post(self.page_id, "photos", data=params, files=files, safe=safe)

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """One request for text or one photo; for several, unpublished uploads then one post."""
        post = prepared.post
        schedule = prepared.payload.get("scheduled_publish_time")
        timing: dict[str, Any] = (
            {"published": False, "scheduled_publish_time": schedule} if schedule else {}
        )
        message = prepared.text or None
        if not post.media:
            data = {"message": message, "link": post.link, **timing}
            response = yield (self.post(self.page_id, "feed", data=data))
            post_id = created_id(response, "Facebook post")
        elif len(post.media) == 1:
            response = yield (self._photo(post.media[0], message=message, extra=timing))
            story = json_body(response).get("post_id")
            post_id = str(story) if story else created_id(response, "Facebook photo")
        else:
            # Unpublished photos are invisible until attached, so uploading them is safe to repeat.
            hold: dict[str, Any] = (
                {"published": False, "temporary": True} if schedule else {"published": False}
            )
            photo_ids = []
            for item in post.media:
                response = yield (self._photo(item, message=None, extra=hold, safe=True))
                photo_ids.append(created_id(response, "Facebook photo upload", visible=False))
            data = {
                "message": message,
                "attached_media": [{"media_fbid": photo_id} for photo_id in photo_ids],
                **timing,
            }
            response = yield (self.post(self.page_id, "feed", data=data))
            post_id = created_id(response, "Facebook post")
        url = yield from self._permalink(post_id)
        extra = {"scheduled_publish_time": schedule} if schedule else {}
        return Receipt(platform_id=post_id, url=url, extra=extra)

    def _permalink(self, post_id: str) -> Flow[str]:
        """The canonical URL; once the create succeeded, a failed read must not fail delivery."""
        try:
            response = yield (self.get(post_id, params={"fields": "permalink_url"}))
        except DeliveryError:
            return post_url(post_id)
        link = json_body(response).get("permalink_url")
        return link if isinstance(link, str) and link else post_url(post_id)

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Every recent (or scheduled) Page post with the same text, the first created first."""
        if not prepared.text.strip():
            return Unknown("a Facebook post without text cannot be matched")
        edge = "scheduled_posts" if prepared.payload.get("scheduled_publish_time") else "posts"
        since = lookup_since(ctx)
        fields = {"fields": "id,message,created_time,permalink_url", "limit": 100}
        matches = yield from search_recent(
            self.get(self.page_id, edge, params=fields), "message", prepared.text, since=since
        )
        if isinstance(matches, Unknown):
            return matches
        if not matches:
            return Absent()
        first, *others = (_receipt(match) for match in matches)
        return Found(first, duplicates=tuple(others))

    def delete_flow(self, platform_id: str, ctx: Context) -> Flow[None]:
        """``DELETE /{page-post-id}`` with the Page token (Graph answers ``{"success": true}``).

        Graph answers code 100/33 ("does not exist, cannot be loaded due to
        missing permissions") both for a post already gone and for one the
        token may not touch, so the post is read again: unreadable too, it is
        gone and the copy counts as removed; still there, the refusal stands.
        """
        try:
            response = yield (self.remove(platform_id))
        except Permanent as refused:
            if refused.platform_code != _GONE:
                raise
            try:
                yield (self.get(platform_id, params={"fields": "id"}))
            except Permanent as unread:
                if unread.platform_code == _GONE:
                    return
            raise refused from None
        if json_body(response).get("success") is not True:
            raise Permanent(f"Facebook did not confirm deleting {platform_id}")

    def identity_request(self) -> httpx.Request:
        return self.get(self.page_id, params={"fields": "id,name"})

    def describe_identity(self, body: Mapping[str, Any]) -> str:
        return f"Facebook Page {body.get('name') or self.page_id}"


def _receipt(match: Mapping[str, Any]) -> Receipt:
    post_id = str(match.get("id"))
    link = match.get("permalink_url")
    return Receipt(platform_id=post_id, url=link if isinstance(link, str) else post_url(post_id))


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(FacebookChannel)


@hookimpl
def unipost_status_sources(channel: Channel) -> list[StatusSource] | None:
    """Meta's status page for the Graph API."""
    if not isinstance(channel, FacebookChannel):
        return None
    return status_sources(channel, "graph-api")
