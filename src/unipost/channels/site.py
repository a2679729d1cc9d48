"""The ``site`` channel: the business's own website as a directory of static files.

It needs no account and no network, so it is the channel no platform outage
can take away. Every publish updates an item store (``items.json``) keyed by
the post id (a new revision updates its post's page in place), then
re-renders from it: one HTML page per post and an ``index.html`` through a
Jinja2 theme the business can override, and JSON Feed 1.1, Atom 1.0 and RSS 2.0
feeds. Every file is written to a temporary file and moved into place with
``os.replace``, so a reader (or a crash) never sees half a feed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hashlib
import html
import json
import mimetypes
import tempfile
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import attrs
from markupsafe import Markup

from unipost import text as textmod
from unipost.channel import (
    WEB_MEDIA_TYPES,
    Absent,
    Capabilities,
    Channel,
    Context,
    Found,
    Idempotency,
    LookupResult,
    Prepared,
    Receipt,
)
from unipost.channels._files import (
    copy_file,
    directory_lock,
    guarded,
    safe_filename,
    slugify,
    unique_slug,
    write_bytes,
    write_text,
)
from unipost.channels._html import paragraphs
from unipost.channels._theme import DEFAULT_THEME, TEMPLATES, Theme
from unipost.errors import ConfigurationError, Permanent
from unipost.hookspecs import hookimpl
from unipost.models import Media

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["SiteChannel"]

STORE = "items.json"
FEEDS = {"json": "feed.json", "atom": "atom.xml", "rss": "rss.xml"}
_FEED_TYPES = (
    ("json", "application/feed+json", "JSON Feed"),
    ("atom", "application/atom+xml", "Atom"),
    ("rss", "application/rss+xml", "RSS"),
)
_STORE_VERSION = 2
_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_HEADLINE_LENGTH = 80
_SUMMARY_LENGTH = 200
_LOGO_TYPES = WEB_MEDIA_TYPES | {"image/svg+xml"}
_LINK_SCHEMES = ("http", "https", "mailto", "tel")


def _check_base_url(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is None:
        return
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(
            f"base_url must be the site's absolute http(s) address, such as "
            f"'https://bakery.example/news/', got {value!r}"
        )


def _with_slash(value: str | None) -> str | None:
    if value is None or value.endswith("/"):
        return value
    return value + "/"


def _positive(_instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


def _check_logo(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is None or urllib.parse.urlsplit(value).scheme in ("http", "https"):
        return
    path = Path(value).expanduser()
    if not path.is_file():
        raise ValueError(f"logo {value!r} is not a file; give an image path or an https URL")
    if mimetypes.guess_type(path.name)[0] not in _LOGO_TYPES:
        raise ValueError(f"logo {value!r} is not a web image (PNG, JPEG, GIF, WebP, AVIF, SVG)")


def _links(value: Mapping[str, str] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping | tuple):
        raise ValueError('links must be a table of label = "URL", such as { Menu = "https://…" }')
    pairs = tuple(value.items()) if isinstance(value, Mapping) else value
    for label, url in pairs:
        if not isinstance(label, str) or not isinstance(url, str) or not label.strip():
            raise ValueError(f"links: {label!r} = {url!r} must be a label and a URL, both text")
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme and scheme not in _LINK_SCHEMES:
            raise ValueError(
                f"links: {label!r} = {url!r}: use an http(s), mailto: or tel: URL, or a path"
            )
    return pairs


def _check_templates(_instance: Any, _attribute: Any, value: str | None) -> None:
    if value is not None and not Path(value).expanduser().is_dir():
        raise ValueError(
            f"templates {value!r} is not a directory; create it and put base.html, "
            "index.html, post.html or style.css overrides in it"
        )


@attrs.frozen(kw_only=True)
class SiteChannel(Channel):
    """Publish into a directory served as the business's website (feeds and pages)."""

    name: ClassVar[str] = "site"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text_limit=None,
        max_media=20,
        media_types=WEB_MEDIA_TYPES,
        title=True,
        idempotency=Idempotency.CLIENT_ID | Idempotency.LOOKUP,
        health_check=True,
    )

    directory: str = "site"
    base_url: str | None = attrs.field(
        default=None, converter=_with_slash, validator=_check_base_url
    )
    title: str = "News"
    business: str = ""
    logo: str | None = attrs.field(default=None, validator=_check_logo)
    links: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_links)
    templates: str | None = attrs.field(default=None, validator=_check_templates)
    author: str = ""
    description: str = ""
    max_items: int = attrs.field(default=50, validator=_positive)
    language: str = "en"

    @classmethod
    def from_settings(cls, channel_id: str, settings: Mapping[str, Any]) -> Self:
        """``site_url``, the setting's first name, is still read as ``base_url``."""
        settings = dict(settings)
        if "site_url" in settings:
            if "base_url" in settings:
                raise ConfigurationError(
                    f"channels.{channel_id}.site_url",
                    "site_url and base_url are the same setting",
                    "keep only base_url",
                )
            settings["base_url"] = settings.pop("site_url")
        return super().from_settings(channel_id, settings)

    @property
    def failure_domain(self) -> str:
        return f"site:{self.directory}"

    @property
    def root(self) -> Path:
        return Path(self.directory).expanduser()

    @property
    def site_name(self) -> str:
        return self.business or self.title

    def url(self, path: str) -> str:
        """``path`` (relative to the site's root) as an absolute URL, or as given without one."""
        return urllib.parse.urljoin(self.base_url, path) if self.base_url else path

    def feed_url(self, kind: str) -> str:
        return self.url(FEEDS[kind])

    def page_url(self, slug: str) -> str:
        return self.url(f"posts/{urllib.parse.quote(slug)}/")

    # -- delivery -----------------------------------------------------------

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        """File I/O runs in a worker thread so the event loop keeps serving other channels."""
        ctx.applying()
        return await asyncio.to_thread(self._publish, prepared, ctx.delivery_key)

    async def lookup(self, prepared: Prepared, ctx: Context) -> LookupResult:
        """The item store is the truth: the post's item lists every revision applied to it."""
        return await asyncio.to_thread(self._lookup, prepared.post.id, ctx.delivery_key)

    async def check(self, ctx: Context) -> str:
        return await asyncio.to_thread(self._check)

    def _check(self) -> str:
        with guarded():
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".check-"):
                pass
            count = len(self._load()["items"])
        unused = Theme(self._templates_dir).check()
        notes = [f"{self.root} is writable, {count} items"]
        if self.base_url is None:
            notes.append(
                "base_url is not set, so links are relative and shared links show no "
                "preview image: set base_url to the site's public address"
            )
        else:
            notes.append(f"served at {self.base_url}")
        if unused:
            notes.append(
                f"{', '.join(unused)} in {self.templates} is not a template the site uses "
                f"(it uses {', '.join(TEMPLATES)})"
            )
        return "; ".join(notes)

    def _lookup(self, post_id: str, key: str) -> LookupResult:
        with guarded():
            item = self._load()["items"].get(post_id)
        if item is None or key not in item["deliveries"]:
            return Absent()
        return Found(self._receipt(item))

    def _publish(self, prepared: Prepared, key: str) -> Receipt:
        post = prepared.post
        with guarded(), directory_lock(self.root):
            store = self._load()
            items: dict[str, dict[str, Any]] = store["items"]
            now = _timestamp()
            old = items.get(post.id)
            if old is not None and post.revision < old["revision"]:
                # An older revision retried after a newer one landed: never roll the page back.
                item = dict(old, deliveries=[*old["deliveries"], key])
                items[post.id] = item
                write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))
                return self._receipt(item)
            headline = _headline(prepared)
            if old is None:
                store["seq"] += 1
                slug = unique_slug(slugify(headline), post.id, items)
                item = {
                    "seq": store["seq"],
                    "slug": slug,
                    "published": now,
                    "id": _item_id(post.id),
                    "deliveries": [],
                }
            else:
                item = dict(old)
            item.update(
                title=post.title,
                headline=headline,
                text=prepared.text,
                tags=list(post.tags),
                language=post.language or self.language,
                modified=now,
                revision=post.revision,
            )
            if key not in item["deliveries"]:
                item["deliveries"] = [*item["deliveries"], key]
            item["media"] = self._copy_media(item["slug"], post.media)
            items[post.id] = item
            write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))
            self._render_site(store, item)
            self._render_feeds(items, store)
        return self._receipt(item)

    def _receipt(self, item: Mapping[str, Any]) -> Receipt:
        page = self.root / "posts" / item["slug"] / "index.html"
        return Receipt(
            platform_id=item["id"],
            url=self.page_url(item["slug"]) if self.base_url else page.resolve().as_uri(),
            extra={
                "page": str(page),
                "index": str(self.root / "index.html"),
                "feeds": [str(self.root / name) for name in FEEDS.values()],
            },
        )

    # -- the store ------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        path = self.root / STORE
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": _STORE_VERSION, "site_id": uuid.uuid4().hex, "seq": 0, "items": {}}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Permanent(f"{path} is not valid JSON ({exc}); restore it from a backup") from exc
        if isinstance(data, dict) and data.get("version") == 1:
            return _upgrade(data)
        if not isinstance(data, dict) or data.get("version") != _STORE_VERSION:
            raise Permanent(f"{path} is not a unipost site store (version {_STORE_VERSION})")
        return data

    def _copy_media(self, slug: str, media: tuple[Media, ...]) -> list[dict[str, Any]]:
        """Local files are copied next to the page; hosted ones are linked where they are."""
        folder = self.root / "posts" / slug
        folder.mkdir(parents=True, exist_ok=True)
        records = []
        kept = {"index.html"}
        for number, item in enumerate(media, 1):
            record: dict[str, Any] = {
                "mime_type": item.mime_type,
                "alt": item.alt,
                "size": item.size,
            }
            if item.path is None and item.data is None:
                record["url"] = item.url
            else:
                filename = f"{number}-{safe_filename(item.filename or 'media', item.mime_type)}"
                if item.path is not None:
                    copy_file(item.path, folder / filename)
                else:
                    write_bytes(folder / filename, item.read())
                record["file"] = filename
                kept.add(filename)
            records.append(record)
        for stale in folder.iterdir():  # media removed by an update must not stay public
            if stale.is_file() and stale.name not in kept and not stale.name.startswith("."):
                stale.unlink()
        return records

    # -- rendering --------------------------------------------------------------

    @property
    def _templates_dir(self) -> Path | None:
        return None if self.templates is None else Path(self.templates).expanduser()

    def _newest(self, items: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return sorted(items.values(), key=lambda item: item["seq"], reverse=True)

    def _media_url(
        self, item: Mapping[str, Any], record: Mapping[str, Any], *, absolute: bool
    ) -> str:
        """Hosted media keep their URL; copied files are relative to the page, or to the site."""
        if "url" in record:
            return str(record["url"])
        name = urllib.parse.quote(record["file"])
        if absolute:
            return urllib.parse.urljoin(self.page_url(item["slug"]), name)
        return name

    def _content_html(self, item: Mapping[str, Any]) -> str:
        """An item as HTML for the feeds, with media URLs the feed reader can resolve."""
        pieces = [paragraphs(item["text"])]
        for record in item["media"]:
            src = html.escape(self._media_url(item, record, absolute=True))
            alt = html.escape(record.get("alt") or "")
            if record["mime_type"].startswith("video/"):
                pieces.append(
                    f'<figure><video controls="controls" src="{src}">'
                    f'<a href="{src}">Download the video</a></video>'
                    + (f"<figcaption>{alt}</figcaption>" if alt else "")
                    + "</figure>"
                )
            else:
                pieces.append(f'<figure><img src="{src}" alt="{alt}" /></figure>')
        if item["tags"]:
            tags = " ".join(f"<li>#{html.escape(tag)}</li>" for tag in item["tags"])
            pieces.append(f'<ul class="tags">{tags}</ul>')
        return "\n".join(piece for piece in pieces if piece)

    def _logo(self, root: str) -> dict[str, str] | None:
        """The logo as (page-relative ``src``, absolute-or-None ``url``); local files are copied."""
        if self.logo is None:
            return None
        if urllib.parse.urlsplit(self.logo).scheme in ("http", "https"):
            return {"src": self.logo, "url": self.logo}
        name = "logo" + Path(self.logo).suffix.lower()  # copied there by _render_site
        return {"src": root + name, "url": self.url(name) if self.base_url else ""}

    def _site_context(self, root: str) -> dict[str, Any]:
        return {
            "name": self.site_name,
            "title": self.title,
            "description": self.description,
            "base_url": self.base_url,
            "logo": self._logo(root),
            "links": [{"label": label, "url": url} for label, url in self.links],
            "feeds": [
                {
                    "type": kind,
                    "label": label,
                    "url": self.feed_url(name) if self.base_url else root + FEEDS[name],
                }
                for name, kind, label in _FEED_TYPES
            ],
            "year": _year(),
        }

    def _image(self, item: Mapping[str, Any]) -> dict[str, str] | None:
        """The post's first image, for link previews; only an absolute URL is any use there."""
        for record in item["media"]:
            if record["mime_type"].startswith("image/"):
                url = self._media_url(item, record, absolute=True)
                return {"url": url, "alt": record.get("alt") or ""} if _is_absolute(url) else None
        return None

    def _look(self) -> str:
        """A fingerprint of everything that shapes every page: settings, templates, the year."""
        digest = hashlib.sha256()
        settings = (self.site_name, self.title, self.description, self.base_url, self.logo)
        digest.update(json.dumps([settings, self.links, self.language, _year()]).encode())
        for folder in (self._templates_dir, DEFAULT_THEME):
            for name in TEMPLATES:
                path = None if folder is None else folder / name
                if path is not None and path.is_file():
                    digest.update(f"{path}\0".encode() + path.read_bytes())
        if self._local_logo is not None:
            digest.update(self._local_logo.read_bytes())
        return digest.hexdigest()

    @property
    def _local_logo(self) -> Path | None:
        if self.logo is None or urllib.parse.urlsplit(self.logo).scheme in ("http", "https"):
            return None
        return Path(self.logo).expanduser()

    def _render_site(self, store: dict[str, Any], changed: Mapping[str, Any] | None) -> None:
        """The changed page and the index; every page when the look (theme, settings) changed."""
        items: Mapping[str, Mapping[str, Any]] = store["items"]
        theme = Theme(self._templates_dir)
        look = self._look()
        restyle = store.get("look") != look
        newest = self._newest(items)
        for item in newest if restyle or changed is None else [changed]:
            write_text(
                self.root / "posts" / item["slug"] / "index.html", self._render_page(theme, item)
            )
        if restyle:
            if self._local_logo is not None:
                copy_file(self._local_logo, self.root / ("logo" + self._local_logo.suffix.lower()))
            write_text(self.root / "style.css", theme.render("style.css"))
        logo = self._logo("")
        page = {
            "title": self.title
            if self.title == self.site_name
            else f"{self.title} | {self.site_name}",
            "heading": self.title
            if self.title == self.site_name
            else f"{self.site_name}: {self.title}",
            "description": self.description,
            "url": self.base_url,
            "image": {"url": logo["url"], "alt": self.site_name} if logo and logo["url"] else None,
            "type": "website",
            "language": self.language,
            "root": "",
        }
        posts = [
            {
                "heading": _card_heading(item),
                "href": f"posts/{urllib.parse.quote(item['slug'])}/index.html",
                "published": item["published"],
                "published_text": _date_text(item["published"]),
                "summary": _summary(item),
                "thumbnail": _thumbnail(self, item),
            }
            for item in newest
        ]
        write_text(
            self.root / "index.html",
            theme.render("index.html", site=self._site_context(""), page=page, posts=posts),
        )
        if restyle:  # recorded only once every page has the new look
            store["look"] = look
            write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))

    def _render_page(self, theme: Theme, item: Mapping[str, Any]) -> str:
        heading, body, hidden = _split_heading(item)
        media = [
            {
                "kind": "video" if record["mime_type"].startswith("video/") else "image",
                "src": self._media_url(item, record, absolute=False),
                "alt": record.get("alt") or "",
            }
            for record in item["media"]
        ]
        page = {
            "title": f"{item['headline']} | {self.site_name}",
            "heading": item["headline"],
            "description": _summary(item) or self.description,
            "url": self.page_url(item["slug"]) if self.base_url else None,
            "image": self._image(item),
            "type": "article",
            "language": item["language"],
            "root": "../../",
        }
        post = {
            "heading": heading,
            "heading_hidden": hidden,
            "body": Markup(paragraphs(body)),  # noqa: S704 - paragraphs() escapes the user's text
            "media": media,
            "tags": item["tags"],
            "published": item["published"],
            "published_text": _date_text(item["published"]),
            "modified": item["modified"],
            "modified_text": _date_text(item["modified"]),
        }
        return theme.render("post.html", site=self._site_context("../../"), page=page, post=post)

    def _render_feeds(
        self, items: Mapping[str, Mapping[str, Any]], store: Mapping[str, Any]
    ) -> None:
        newest = self._newest(items)[: self.max_items]
        updated = max((item["modified"] for item in newest), default=_timestamp())
        write_text(self.root / FEEDS["json"], self._json_feed(newest))
        write_bytes(self.root / FEEDS["atom"], self._atom_feed(newest, updated, store))
        write_bytes(self.root / FEEDS["rss"], self._rss_feed(newest, updated))

    def _json_feed(self, items: list[Mapping[str, Any]]) -> str:
        feed: dict[str, Any] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.site_title,
            "language": self.language,
        }
        if self.base_url:
            feed["home_page_url"] = self.base_url
            feed["feed_url"] = self.feed_url("json")
        if self.description:
            feed["description"] = self.description
        if self.author:
            feed["authors"] = [{"name": self.author}]
        logo = self._logo("")
        if logo and logo["url"]:
            feed["icon"] = logo["url"]
        entries = []
        for item in items:
            entry: dict[str, Any] = {
                "id": item["id"],
                "content_html": self._content_html(item),
                "content_text": item["text"],
                "date_published": item["published"],
                "date_modified": item["modified"],
                "language": item["language"],
            }
            if self.base_url:  # JSON Feed readers expect absolute URLs: without one, none
                entry["url"] = self.page_url(item["slug"])
            if item["title"]:
                entry["title"] = item["title"]
            if item["tags"]:
                entry["tags"] = item["tags"]
            media = [
                (record, self._media_url(item, record, absolute=True)) for record in item["media"]
            ]
            media = [(r, url) for r, url in media if _is_absolute(url)]
            images = [url for r, url in media if r["mime_type"].startswith("image/")]
            if images:
                entry["image"] = images[0]
            if media:
                entry["attachments"] = [
                    {"url": url, "mime_type": r["mime_type"]}
                    | ({"size_in_bytes": r["size"]} if r.get("size") else {})
                    | ({"title": r["alt"]} if r.get("alt") else {})
                    for r, url in media
                ]
            entries.append(entry)
        feed["items"] = entries
        return json.dumps(feed, ensure_ascii=False, indent=1) + "\n"

    @property
    def site_title(self) -> str:
        """The feeds' title: the business's name with the site's title when both are set."""
        if self.business and self.business != self.title:
            return f"{self.business}: {self.title}"
        return self.title

    def _atom_feed(
        self, items: list[Mapping[str, Any]], updated: str, store: Mapping[str, Any]
    ) -> bytes:
        feed = ET.Element("feed", {"xmlns": _ATOM_NS, _XML_LANG: self.language})
        ET.SubElement(feed, "id").text = self.base_url or f"urn:uuid:{uuid.UUID(store['site_id'])}"
        ET.SubElement(feed, "title").text = self.site_title
        if self.description:
            ET.SubElement(feed, "subtitle").text = self.description
        ET.SubElement(feed, "updated").text = updated
        author = ET.SubElement(feed, "author")
        ET.SubElement(author, "name").text = self.author or self.site_name
        if self.base_url:
            ET.SubElement(
                feed, "link", rel="self", type="application/atom+xml", href=self.feed_url("atom")
            )
        ET.SubElement(feed, "link", rel="alternate", type="text/html", href=self.url("./"))
        ET.SubElement(feed, "generator").text = "unipost"
        for item in items:
            entry = ET.SubElement(feed, "entry")
            ET.SubElement(entry, "id").text = item["id"]
            ET.SubElement(entry, "title").text = item["headline"]
            ET.SubElement(entry, "published").text = item["published"]
            ET.SubElement(entry, "updated").text = item["modified"]
            ET.SubElement(
                entry, "link", rel="alternate", type="text/html", href=self.page_url(item["slug"])
            )
            for record in item["media"]:
                attributes = {"rel": "enclosure", "type": record["mime_type"]}
                attributes["href"] = self._media_url(item, record, absolute=True)
                if record.get("size"):
                    attributes["length"] = str(record["size"])
                ET.SubElement(entry, "link", attributes)
            for tag in item["tags"]:
                ET.SubElement(entry, "category", term=tag)
            content = ET.SubElement(entry, "content", type="html")
            content.text = self._content_html(item)
        return _xml_bytes(feed)

    def _rss_feed(self, items: list[Mapping[str, Any]], updated: str) -> bytes:
        rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": _ATOM_NS})
        channel = ET.SubElement(rss, "channel")
        ET.SubElement(channel, "title").text = self.site_title
        ET.SubElement(channel, "link").text = self.url("./")
        ET.SubElement(channel, "description").text = self.description or self.site_title
        ET.SubElement(channel, "language").text = self.language
        ET.SubElement(channel, "lastBuildDate").text = _rfc822(updated)
        ET.SubElement(channel, "generator").text = "unipost"
        if self.base_url:
            ET.SubElement(
                channel,
                "atom:link",
                rel="self",
                type="application/rss+xml",
                href=self.feed_url("rss"),
            )
        for item in items:
            entry = ET.SubElement(channel, "item")
            ET.SubElement(entry, "title").text = item["headline"]
            ET.SubElement(entry, "link").text = self.page_url(item["slug"])
            ET.SubElement(entry, "guid", isPermaLink="false").text = item["id"]
            ET.SubElement(entry, "pubDate").text = _rfc822(item["published"])
            for tag in item["tags"]:
                ET.SubElement(entry, "category").text = tag
            ET.SubElement(entry, "description").text = self._content_html(item)
            if item["media"]:  # RSS allows one enclosure per item
                first = item["media"][0]
                ET.SubElement(
                    entry,
                    "enclosure",
                    url=self._media_url(item, first, absolute=True),
                    length=str(first.get("size") or 0),
                    type=first["mime_type"],
                )
        return _xml_bytes(rss)


# -- helpers -------------------------------------------------------------------


def _xml_bytes(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _rfc822(value: str) -> str:
    return email.utils.format_datetime(_parse_time(value), usegmt=True)


def _is_absolute(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("http", "https")


def _year() -> int:
    return dt.datetime.now(dt.UTC).year


def _date_text(value: str) -> str:
    moment = _parse_time(value)
    return f"{moment.day} {moment:%B %Y}"


def _item_id(post_id: str) -> str:
    """A permanent IRI for the item: readers must never see a new id for an old post."""
    return "urn:unipost:" + urllib.parse.quote(post_id, safe="-._~")


def _upgrade(store: dict[str, Any]) -> dict[str, Any]:
    """A version-1 store (keyed by delivery key) keeps its items, ids and pages as they were."""
    for key, item in store["items"].items():
        item.setdefault("deliveries", [key])
        item.setdefault("revision", 1)
    return {**store, "version": _STORE_VERSION, "site_id": uuid.uuid4().hex}


def _split_heading(item: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(heading, body, heading hidden): a first line used as the heading is not repeated.

    A first line too long for a heading, or with a link in it, stays in the text; the
    page then keeps an accessible heading for screen readers that is not shown.
    """
    text: str = item["text"]
    if item["title"]:
        return item["title"], text, False
    lines = text.strip().split("\n", 1)
    if lines[0].strip() == item["headline"] and not textmod.find_urls(lines[0]):
        return item["headline"], lines[1] if len(lines) > 1 else "", False
    return item["headline"], text, True


def _card_heading(item: Mapping[str, Any]) -> str:
    """On the home page a long first line is the card's heading, cut later than a page title."""
    heading, body, hidden = _split_heading(item)
    if not hidden:
        return heading
    first = body.strip().split("\n", 1)[0].strip()
    return textmod.truncate(first, _SUMMARY_LENGTH, textmod.TextUnit.GRAPHEMES)


def _summary(item: Mapping[str, Any]) -> str:
    """A one-paragraph excerpt of what the heading does not already say."""
    _heading, body, hidden = _split_heading(item)
    if hidden:  # the heading is the cut first line: the excerpt starts after it
        lines = body.strip().split("\n", 1)
        body = lines[1] if len(lines) > 1 else ""
    flat = " ".join(body.split())
    return textmod.truncate(flat, _SUMMARY_LENGTH, textmod.TextUnit.GRAPHEMES) if flat else ""


def _thumbnail(channel: SiteChannel, item: Mapping[str, Any]) -> dict[str, str] | None:
    """The first image, as a URL relative to the index page."""
    for record in item["media"]:
        if record["mime_type"].startswith("image/"):
            src = channel._media_url(item, record, absolute=False)
            if "file" in record:
                src = f"posts/{urllib.parse.quote(item['slug'])}/{src}"
            return {"src": src, "alt": record.get("alt") or ""}
    return None


def _headline(prepared: Prepared) -> str:
    if prepared.post.title:
        return prepared.post.title
    first = next((line.strip() for line in prepared.text.splitlines() if line.strip()), "")
    if not first:
        return "Post"
    return textmod.truncate(first, _HEADLINE_LENGTH, textmod.TextUnit.GRAPHEMES)


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(SiteChannel)
