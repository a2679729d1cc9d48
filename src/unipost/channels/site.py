"""The ``site`` channel: the business's own website as a directory of static files.

No account, no network: no platform outage can take it away. A publish updates an item
store (``items.json``) keyed by the post id (a new revision updates its page in place),
then re-renders a page per post and ``index.html`` through a Jinja2 theme the business can
override, and JSON Feed 1.1, Atom 1.0 and RSS 2.0 feeds, each moved into place with
``os.replace`` from a temporary file: a reader (or a crash) never sees half a feed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import attrs
from markupsafe import Markup

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
from unipost.channels._site_feeds import atom_feed, is_absolute, json_feed, rss_feed
from unipost.channels._site_settings import (
    check_base_url,
    check_logo,
    check_templates,
    positive,
    with_slash,
)
from unipost.channels._site_settings import links as parse_links
from unipost.channels._site_text import (
    card_heading,
    date_text,
    headline,
    item_id,
    site_year,
    split_heading,
    summary,
    timestamp,
)
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


@attrs.frozen(kw_only=True)
class SiteChannel(Channel):
    """Publish into a directory served as the business's website (feeds and pages)."""

    renamed_settings: ClassVar[dict[str, str]] = {"site_url": "base_url"}  # still read
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
    base_url: str | None = attrs.field(default=None, converter=with_slash, validator=check_base_url)
    title: str = "News"
    business: str = ""
    logo: str | None = attrs.field(default=None, validator=check_logo)
    links: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=parse_links)
    templates: str | None = attrs.field(default=None, validator=check_templates)
    author: str = ""
    description: str = ""
    max_items: int = attrs.field(default=50, validator=positive)
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
        return await asyncio.to_thread(self._publish, prepared, ctx.delivery_key, ctx.now())

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

    def _publish(self, prepared: Prepared, key: str, at: float) -> Receipt:
        post = prepared.post
        with guarded(), directory_lock(self.root):
            store = self._load()
            items: dict[str, dict[str, Any]] = store["items"]
            now = timestamp(at)
            old = items.get(post.id)
            if old is not None and post.revision < old["revision"]:
                # An older revision retried after a newer one landed: never roll the page back.
                item = dict(old, deliveries=[*old["deliveries"], key])
                items[post.id] = item
                write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))
                return self._receipt(item)
            heading = headline(prepared)
            if old is None:
                store["seq"] += 1
                slug = unique_slug(slugify(heading), post.id, items)
                item = {
                    "seq": store["seq"],
                    "slug": slug,
                    "published": now,
                    "id": item_id(post.id),
                    "deliveries": [],
                }
            else:
                item = dict(old)
            item.update(
                title=post.title,
                headline=heading,
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
            self._render_feeds(store)
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

    def _logo(self, root: str) -> dict[str, str] | None:
        """The logo as (page-relative ``src``, absolute-or-None ``url``); local files are copied."""
        if self.logo is None:
            return None
        if urllib.parse.urlsplit(self.logo).scheme in ("http", "https"):
            return {"src": self.logo, "url": self.logo}
        name = "logo" + Path(self.logo).suffix.lower()  # copied there by _render_site
        return {"src": root + name, "url": self.url(name) if self.base_url else ""}

    def _site_context(self, root: str, year: int) -> dict[str, Any]:
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
            "year": year,
        }

    def _image(self, item: Mapping[str, Any]) -> dict[str, str] | None:
        """The post's first image, for link previews; only an absolute URL is any use there."""
        for record in item["media"]:
            if record["mime_type"].startswith("image/"):
                url = self._media_url(item, record, absolute=True)
                return {"url": url, "alt": record.get("alt") or ""} if is_absolute(url) else None
        return None

    def _look(self, year: int) -> str:
        """A fingerprint of everything that shapes every page: settings, templates, the year."""
        digest = hashlib.sha256()
        settings = (self.site_name, self.title, self.description, self.base_url, self.logo)
        digest.update(json.dumps([settings, self.links, self.language, year]).encode())
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
        look = self._look(year := site_year(items))
        restyle = store.get("look") != look
        newest = self._newest(items)
        post_site = self._site_context("../../", year)  # what every post page shows of the site
        for item in newest if restyle or changed is None else [changed]:
            write_text(
                self.root / "posts" / item["slug"] / "index.html",
                self._render_page(theme, item, post_site),
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
        site = self._site_context("", year)
        posts = [
            {
                "heading": card_heading(item),
                "href": f"posts/{urllib.parse.quote(item['slug'])}/index.html",
                "published": item["published"],
                "published_text": date_text(item["published"]),
                "summary": summary(item),
                "thumbnail": _thumbnail(self, item),
            }
            for item in newest
        ]
        write_text(
            self.root / "index.html",
            theme.render("index.html", site=site, page=page, posts=posts),
        )
        if restyle:  # recorded only once every page has the new look
            store["look"] = look
            write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))

    def _render_page(self, theme: Theme, item: Mapping[str, Any], site: Mapping[str, Any]) -> str:
        heading, body, hidden = split_heading(item)
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
            "description": summary(item) or self.description,
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
            "published_text": date_text(item["published"]),
            "modified": item["modified"],
            "modified_text": date_text(item["modified"]),
        }
        return theme.render("post.html", site=site, page=page, post=post)

    def _render_feeds(self, store: Mapping[str, Any]) -> None:
        newest = self._newest(store["items"])[: self.max_items]
        updated = max((item["modified"] for item in newest), default=timestamp(0))
        write_text(self.root / FEEDS["json"], json_feed(self, newest))
        write_bytes(self.root / FEEDS["atom"], atom_feed(self, newest, updated, store))
        write_bytes(self.root / FEEDS["rss"], rss_feed(self, newest, updated))

    @property
    def site_title(self) -> str:
        """The feeds' title: the business's name with the site's title when both are set."""
        if self.business and self.business != self.title:
            return f"{self.business}: {self.title}"
        return self.title


# -- helpers -------------------------------------------------------------------


def _upgrade(store: dict[str, Any]) -> dict[str, Any]:
    """A version-1 store (keyed by delivery key) keeps its items, ids and pages as they were."""
    for key, item in store["items"].items():
        item.setdefault("deliveries", [key])
        item.setdefault("revision", 1)
    return {**store, "version": _STORE_VERSION, "site_id": uuid.uuid4().hex}


def _thumbnail(channel: SiteChannel, item: Mapping[str, Any]) -> dict[str, str] | None:
    """The first image, as a URL relative to the index page."""
    for record in item["media"]:
        if record["mime_type"].startswith("image/"):
            src = channel._media_url(item, record, absolute=False)
            if "file" in record:
                src = f"posts/{urllib.parse.quote(item['slug'])}/{src}"
            return {"src": src, "alt": record.get("alt") or ""}
    return None


@hookimpl
def unipost_register_channels(register: Register) -> None:
    register(SiteChannel)
