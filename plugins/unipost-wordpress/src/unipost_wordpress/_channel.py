"""The WordPress channel: one post per unipost post, edited in place by later revisions.

The REST API (``/wp/v2``) with HTTP Basic auth and an application password.
The post's slug comes from the unipost post id, so every publish first asks
whether that post exists (``GET /wp/v2/posts?slug=``) and then creates or
updates it: revision 2 edits the post revision 1 made, and a create whose
answer was lost is found instead of posted twice. Images are uploaded to the
media endpoint under a slug made of the post slug and the file's digest, so an
edit or a retry reuses the upload; the first image is the featured image.
"""

from __future__ import annotations

import datetime as dt
import math
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
    Permanent,
    Post,
    Prepared,
    Receipt,
    Unknown,
    json_object,
    require,
    secret,
)
from unipost_wordpress._content import content_html, media_slug, slug_for, title_for
from unipost_wordpress._errors import wordpress_error

__all__ = ["WordPressChannel"]

STATUSES = ("publish", "draft", "pending", "private")
#: Every status a post can have except trash: the slug lookup must see drafts too.
FIND_STATUSES = "publish,future,draft,pending,private"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

CAPABILITIES = Capabilities(
    text_limit=None,  # a blog post has no length limit worth declaring
    max_media=20,
    media_types=IMAGE_TYPES,
    link_cards=False,
    title=True,
    hashtags=False,  # tags become WordPress tags, not text
    idempotency=Idempotency.LOOKUP,  # the slug finds the post (see lookup_flow)
)


def _site_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if "://" not in value:
        value = "https://" + value
    return value


def _check_site(_instance: Any, _attribute: Any, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"site must be a URL such as https://blog.example, not {value!r}")


def _ids(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


@attrs.frozen(kw_only=True)
class WordPressChannel(Channel):
    """One user on one WordPress site (5.6 or later: application passwords)."""

    name = "wordpress"
    capabilities = CAPABILITIES

    site: str = attrs.field(converter=_site_url, validator=_check_site)
    username: str = attrs.field(validator=attrs.validators.min_len(1))
    application_password: str = secret()
    status: str = attrs.field(default="publish", validator=attrs.validators.in_(STATUSES))
    categories: tuple[int, ...] = attrs.field(default=(), converter=_ids)
    pretty_permalinks: bool = True

    @property
    def failure_domain(self) -> str:
        """One site fails on its own: another WordPress host says nothing of this one."""
        return f"wordpress:{urlsplit(self.site).hostname}"

    # -- rendering -------------------------------------------------------

    def prepare(self, post: Post) -> Prepared:
        """Title, HTML body and slug, all decided here so ``preview`` shows them."""
        prepared = super().prepare(post)
        post = prepared.post
        changes = list(prepared.changes)
        title, derived = title_for(post.title, prepared.text)
        if derived and title:
            changes.append(Change(kind="title_from_text", detail=f"title {title!r}"))
        for index, item in enumerate(post.media):
            if item.path is None and item.data is None:
                raise ContentRejected(
                    f"{self.id}.media[{index}]",
                    "WordPress takes uploaded files and this one is only a URL",
                    "give the file itself (Media.from_path or Media.from_bytes)",
                )
        if post.media:
            changes.append(
                Change(kind="featured_image", detail="the first image is the featured image")
            )
        payload = {"slug": slug_for(post.id), "title": title}
        return attrs.evolve(prepared, changes=tuple(changes), payload=payload)

    # -- requests ------------------------------------------------------------

    def api_url(self, route: str) -> str:
        """``/wp-json/wp/v2/...``, or ``/?rest_route=/wp/v2/...`` without pretty permalinks."""
        if self.pretty_permalinks:
            return f"{self.site}/wp-json{route}"
        return f"{self.site}/?rest_route={route}"

    def _url_and_params(
        self, route: str, params: Mapping[str, str] | None
    ) -> tuple[str, dict[str, str] | None]:
        if self.pretty_permalinks:
            return f"{self.site}/wp-json{route}", dict(params) if params else None
        return f"{self.site}/", {"rest_route": route} | dict(params or {})

    def _request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Any = None,
    ) -> httpx.Request:
        auth = httpx.BasicAuth(self.username, self.application_password)
        url, query = self._url_and_params(route, params)
        request = httpx.Request(
            method,
            url,
            params=query,
            json=json,
            data=data,
            files=files,
            headers={"Accept": "application/json"},
        )
        return next(auth.auth_flow(request))

    def find_request(self, slug: str) -> httpx.Request:
        """The post with this slug, in any status but trash (``context=edit`` needs the login)."""
        params = {"slug": slug, "status": FIND_STATUSES, "context": "edit", "_fields": _FIELDS}
        return self._request("GET", "/wp/v2/posts", params=params)

    def post_body(
        self, prepared: Prepared, *, featured: int | None, images: list[tuple[str, str | None]]
    ) -> dict[str, Any]:
        """The JSON of ``POST /wp/v2/posts`` (create) and ``/wp/v2/posts/<id>`` (update)."""
        body: dict[str, Any] = {
            "title": prepared.payload["title"],
            "content": content_html(prepared.text, images),
            "status": self.status,
            "slug": prepared.payload["slug"],
            "featured_media": featured or 0,
        }
        if self.categories:
            body["categories"] = list(self.categories)
        return body

    def media_request(self, media: Media, slug: str) -> httpx.Request:
        """``POST /wp/v2/media`` as multipart: the file, its alt text, a slug for finding it."""
        data = {"slug": slug, "alt_text": media.alt or ""}
        extension = media.mime_type.split("/")[1].replace("jpeg", "jpg")
        filename = media.filename or f"{slug}.{extension}"
        files = {"file": (filename, media.read(), media.mime_type)}
        return self._request("POST", "/wp/v2/media", data=data, files=files)

    # -- delivery --------------------------------------------------------

    def publish_flow(self, prepared: Prepared, ctx: Context) -> Flow[Receipt]:
        """Find the post by slug, upload the images, resolve tags, then create or update it."""
        slug = prepared.payload["slug"]
        existing = yield from self._find_flow(slug)
        uploaded: list[tuple[int, str, str | None]] = []
        for item in prepared.post.media:
            found = yield from self._media_flow(item, media_slug(slug, item.digest()))
            uploaded.append(found)
        featured = uploaded[0][0] if uploaded else None
        images = [(url, alt) for _id, url, alt in uploaded[1:]]
        body = self.post_body(prepared, featured=featured, images=images)
        if prepared.post.tags:
            body["tags"] = yield from self._tags_flow(prepared.post.tags)
        if existing is None:
            response = yield self._request("POST", "/wp/v2/posts", json=body)
            action = "created"
        else:
            response = yield self._request("POST", f"/wp/v2/posts/{existing['id']}", json=body)
            action = "updated"
        saved = _post(response, self.failure_domain)
        if saved.get("slug") != slug:
            raise Permanent(
                f"WordPress stored the post under the slug {saved.get('slug')!r}, not {slug!r} "
                f"(another post, page or attachment has it); rename or delete that one so "
                f"later revisions find post {saved['id']}",
                platform_code="slug_taken",
            )
        return Receipt(
            platform_id=str(saved["id"]),
            url=saved.get("link"),
            extra={"action": action, "status": saved.get("status"), "featured_media": featured},
        )

    def lookup_flow(self, prepared: Prepared, ctx: Context) -> Flow[LookupResult]:
        """Whether this revision reached WordPress: the post exists and changed since our try.

        The slug lookup is exact (no paging), so a post that is not there is
        ``Absent``; one last modified before the record's first attempt is too
        (this revision's write did not land). ``modified_gmt`` has whole seconds.
        """
        found = yield from self._find_flow(prepared.payload["slug"])
        if found is None:
            return Absent()
        modified = _gmt(found.get("modified_gmt"))
        if modified is None:
            return Unknown("WordPress answered the post without modified_gmt")
        if modified < math.floor(ctx.first_attempt_at):
            return Absent()
        receipt = Receipt(
            platform_id=str(found["id"]),
            url=found.get("link"),
            extra={"action": "found", "status": found.get("status")},
        )
        return Found(receipt)

    def _find_flow(self, slug: str) -> Flow[dict[str, Any] | None]:
        response = yield self.find_request(slug)
        found = self._list(response, "/wp/v2/posts")
        return dict(found[0]) if found else None

    def _list(self, response: httpx.Response, route: str) -> list[Any]:
        """A collection answer; anything else means the URL is not this site's REST API."""
        try:
            found = response.json()
        except ValueError:
            found = None
        if not isinstance(found, list):
            raise Permanent(
                f"{self.api_url(route)} did not answer with a list: is this a WordPress REST "
                f"API? (sites on plain permalinks need pretty_permalinks = false)",
                status=response.status_code,
            )
        return found

    def _media_flow(self, media: Media, slug: str) -> Flow[tuple[int, str, str | None]]:
        """The attachment with this slug, uploading it when it is not there yet."""
        params = {"slug": slug, "context": "edit", "_fields": "id,source_url,alt_text,slug"}
        response = yield self._request("GET", "/wp/v2/media", params=params)
        found = self._list(response, "/wp/v2/media")
        if found:
            item = found[0]
            return int(item["id"]), str(item["source_url"]), media.alt
        response = yield self.media_request(media, slug)
        item = json_object(response)
        media_id = require(item, "id", what="WordPress media upload")
        source = require(item, "source_url", what="WordPress media upload")
        return int(media_id), str(source), media.alt

    def _tags_flow(self, names: tuple[str, ...]) -> Flow[list[int]]:
        """Tag ids by name: create each tag, or take the id WordPress names in ``term_exists``."""
        ids = []
        for name in names:
            try:
                response = yield self._request("POST", "/wp/v2/tags", json={"name": name})
            except DeliveryError as error:
                term = error.detail.get("term_id")
                if error.platform_code != "term_exists" or term is None:
                    raise
                ids.append(int(term))
                continue
            ids.append(int(json_object(response)["id"]))
        return ids

    def check_flow(self, ctx: Context) -> Flow[str]:
        """Who the application password belongs to, and whether they may publish and upload."""
        response = yield self._request("GET", "/wp/v2/users/me", params={"context": "edit"})
        me = json_object(response)
        caps = me.get("capabilities") or {}
        missing = [c for c in ("publish_posts", "upload_files") if not caps.get(c)]
        who = f"{me.get('username') or me.get('name')} on {urlsplit(self.site).hostname}"
        if missing:
            return f"{who}; missing capabilities: {', '.join(missing)} (use an Author account)"
        return f"{who}: may publish posts and upload files"

    # -- errors ------------------------------------------------------------

    def classify(self, response: httpx.Response, *, now: float) -> DeliveryError | None:
        """WordPress's ``code`` and ``message`` by status, with a fix for the known codes."""
        return wordpress_error(response, now=now)


_FIELDS = "id,slug,status,link,modified_gmt,featured_media"


def _gmt(value: Any) -> float | None:
    """``2026-12-03T14:34:39`` (UTC, WordPress's ``*_gmt`` fields) as epoch seconds."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC).timestamp()


def _post(response: httpx.Response, domain: str) -> dict[str, Any]:
    saved = dict(json_object(response))
    require(saved, "id", what=f"{domain} post")
    return saved
