"""The Ghost channel: Admin API posts in Lexical (or HTML), feature image, edits in place.

Every request carries a fresh JWT (see ``_token``). The post's slug comes from
the unipost post id, so a publish first reads ``/posts/slug/{slug}/``: a new
revision edits that post (``PUT`` with its ``updated_at``, Ghost's guard
against overwriting someone else's edit) and a create whose answer was lost
is found instead of posted twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from unipost.plugin import (
    Absent,
    Capabilities,
    Change,
    Channel,
    ContentRejected,
    Context,
    DeliveryError,
    Flow,
    Found,
    Idempotency,
    LookupResult,
    Media,
    Post,
    Prepared,
    Receipt,
    Unknown,
    json_object,
    register_secret,
    require,
    secret,
)
from unipost_ghost._errors import ghost_error
from unipost_ghost._lexical import document
from unipost_ghost._token import admin_token, check_admin_key

__all__ = ["GhostChannel"]

STATUSES = ("published", "draft")
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/svg+xml", "image/x-icon"}
)
SLUG_LIMIT = 185  # Ghost's slug column is 191; its own de-duplication appends "-2"
TITLE_LIMIT = 255  # posts.title is varchar(2000) but the admin validator stops at 255

CAPABILITIES = Capabilities(
    text_limit=None,
    max_media=20,
    media_types=IMAGE_TYPES - {"image/x-icon"},
    max_media_bytes=None,  # the server's own upload limit (Ghost(Pro): 20 MB images)
    title=True,
    hashtags=False,  # tags become Ghost tags
    idempotency=Idempotency.LOOKUP,  # the slug finds the post (see lookup_flow)
)


def _admin_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    return value.removesuffix("/ghost")


def _check_url(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"url must be the admin URL such as https://blog.example, not {value!r}")


def _check_key(_instance: Any, _attribute: Any, value: str) -> None:
    check_admin_key(value)


def ghost_slug(post_id: str) -> str:
    """What Ghost's slugify keeps of the post id (ASCII letters, digits, single hyphens)."""
    ascii_id = unicodedata.normalize("NFKD", post_id).encode("ascii", "ignore").decode()
    slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]", "-", ascii_id.lower())).strip("-")
    return (
        slug[:SLUG_LIMIT].rstrip("-") or "post-" + hashlib.sha256(post_id.encode()).hexdigest()[:12]
    )


@attrs.frozen(kw_only=True)
class GhostChannel(Channel):
    """One Ghost site through a custom integration's Admin API key."""

    name = "ghost"
    capabilities = CAPABILITIES

    url: str = attrs.field(converter=_admin_url, validator=_check_url)
    admin_api_key: str = secret(validator=_check_key)
    status: str = attrs.field(default="published", validator=attrs.validators.in_(STATUSES))
    api_version: str = attrs.field(
        default="v5.0", validator=attrs.validators.matches_re(r"v\d+\.\d+")
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        register_secret(self.admin_api_key.split(":", 1)[1])  # the half that signs, on its own

    @property
    def failure_domain(self) -> str:
        return f"ghost:{urlsplit(self.url).hostname}"

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Title (from the first line when there is none), slug and the featured image."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        title = post.title
        if not title:
            first = next((ln.strip() for ln in prepared.text.splitlines() if ln.strip()), "")
            title = first[:80].rstrip() + ("…" if len(first) > 80 else "")
            changes.append(Change(kind="title_from_text", detail=f"title {title!r}"))
        if not title:
            raise ContentRejected(
                f"{self.id}.title",
                "Ghost refuses a post without a title",
                f"give title= or text=, or a variant for {self.id!r}",
            )
        if len(title) > TITLE_LIMIT:
            title = title[: TITLE_LIMIT - 1].rstrip() + "…"
            changes.append(Change(kind="title_truncated", detail=f"to {TITLE_LIMIT} characters"))
        if post.media:
            changes.append(
                Change(kind="feature_image", detail="the first image is the feature image")
            )
        payload = {"slug": ghost_slug(post.id), "title": title}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    # -- requests ------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        now: float,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        headers = {
            "Authorization": f"Ghost {admin_token(self.admin_api_key, now)}",
            "Accept-Version": self.api_version,
            "Accept": "application/json",
        }
        return httpx.Request(
            method,
            f"{self.url}/ghost/api/admin{path}",
            params=params,
            json=json,
            files=files,
            data=data,
            headers=headers,
        )

    def post_fields(
        self, prepared: Prepared, feature: tuple[str, str | None] | None, images: list[Any]
    ) -> dict[str, Any]:
        """One element of ``{"posts": [...]}`` for create and update."""
        fields: dict[str, Any] = {
            "title": prepared.payload["title"],
            "slug": prepared.payload["slug"],
            "status": self.status,
        }
        fields["lexical"] = document(prepared.text, images)
        if prepared.post.tags:
            fields["tags"] = [{"name": tag} for tag in prepared.post.tags]
        fields["feature_image"] = feature[0] if feature else None
        fields["feature_image_alt"] = (feature[1] or None) if feature else None
        return fields

    def upload_request(self, media: Media, now: float) -> httpx.Request:
        """``POST /images/upload/``: multipart ``file`` with ``purpose=image``."""
        extension = media.mime_type.split("/")[1].split("+")[0].replace("jpeg", "jpg")
        filename = media.filename or f"image.{extension}"
        files = {"file": (filename, media.read(), media.mime_type)}
        return self._request(
            "POST", "/images/upload/", now, files=files, data={"purpose": "image", "ref": filename}
        )

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find the post by slug, upload images, then create it or edit it in place."""
        slug = prepared.payload["slug"]
        existing = yield from self._find_flow(slug, ctx.now())
        uploaded: list[tuple[str, str | None]] = []
        for item in prepared.post.media:
            if item.data is None and item.path is None:  # Media.from_url: Ghost links it as is
                uploaded.append((str(item.url), item.alt))
                continue
            response = yield self.upload_request(item, ctx.now())
            images = json_object(response).get("images") or [{}]
            image = images[0] if isinstance(images[0], dict) else {}
            uploaded.append((str(require(image, "url", what="Ghost image upload")), item.alt))
        feature = uploaded[0] if uploaded else None
        fields = self.post_fields(prepared, feature, uploaded[1:])
        if existing is None:
            response = yield self._request("POST", "/posts/", ctx.now(), json={"posts": [fields]})
            action = "created"
        else:
            fields["updated_at"] = existing["updated_at"]
            response = yield self._request(
                "PUT", f"/posts/{existing['id']}/", ctx.now(), json={"posts": [fields]}
            )
            action = "updated"
        posts = json_object(response).get("posts") or []
        saved = posts[0] if posts and isinstance(posts[0], dict) else {}
        require(saved, "id", what="Ghost post")
        return Receipt(
            platform_id=str(saved["id"]),
            url=saved.get("url"),
            extra={"action": action, "status": saved.get("status"), "slug": saved.get("slug")},
        )

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Whether this revision reached Ghost: the post exists and was saved since our try.

        The slug read is exact, so no post is ``Absent``; one last saved before the
        record's first attempt is too (this revision's write did not land).
        """
        found = yield from self._find_flow(prepared.payload["slug"], ctx.now())
        if found is None:
            return Absent()
        try:
            updated = dt.datetime.fromisoformat(str(found.get("updated_at"))).timestamp()
        except ValueError:
            return Unknown("Ghost answered the post without a readable updated_at")
        if updated < math.floor(ctx.first_attempt_at):
            return Absent()
        receipt = Receipt(
            platform_id=str(found["id"]),
            url=found.get("url"),
            extra={"action": "found", "status": found.get("status"), "slug": found.get("slug")},
        )
        return Found(receipt)

    def _find_flow(self, slug: str, now: float) -> Flow[dict[str, Any] | None]:
        try:
            response = yield self._request(
                "GET",
                f"/posts/slug/{slug}/",
                now,
                params={"fields": "id,slug,updated_at,url,status"},
            )
        except DeliveryError as error:
            if error.status == 404:
                return None
            raise
        posts = json_object(response).get("posts") or []
        return dict(posts[0]) if posts and isinstance(posts[0], dict) else None

    def check_flow(self, ctx: Context) -> Flow[str]:
        """The key is accepted (a one-post read) and the site's Ghost version."""
        response = yield self._request("GET", "/site/", ctx.now())
        site = json_object(response).get("site") or {}
        response = yield self._request("GET", "/posts/", ctx.now(), params={"limit": "1"})
        return (
            f"Ghost {site.get('version', '?')} at {urlsplit(self.url).hostname} "
            f"({site.get('title', 'untitled')}): Admin API key accepted"
        )

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """Ghost's ``errors[0]`` by status; a token Ghost cannot use is always an auth failure."""
        return ghost_error(response, now=now)
