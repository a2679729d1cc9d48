"""The ``site`` channel: the business's own website as a directory of static files.

It needs no account and no network, so it is the channel no platform outage
can take away. Every publish updates an item store (``items.json``) keyed by
the delivery key, then re-renders from it: one HTML page per post, an
``index.html``, and JSON Feed 1.1, Atom 1.0 and RSS 2.0 feeds. Every file is
written to a temporary file and moved into place with ``os.replace``, so a
reader (or a crash) never sees half a feed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import html
import json
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

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
from unipost.errors import Permanent
from unipost.hookspecs import hookimpl
from unipost.models import Media

if TYPE_CHECKING:
    from unipost.plugins import Register

__all__ = ["SiteChannel"]

STORE = "items.json"
FEEDS = {"json": "feed.json", "atom": "atom.xml", "rss": "rss.xml"}
_STORE_VERSION = 1
_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_HEADLINE_LENGTH = 80


def _check_site_url(_instance: Any, _attribute: Any, value: str) -> None:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"site_url must be an absolute http(s) URL, got {value!r}")


def _with_slash(value: str) -> str:
    return value if value.endswith("/") else value + "/"


def _positive(_instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, got {value}")


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
    site_url: str = attrs.field(
        default="http://localhost:8000/", converter=_with_slash, validator=_check_site_url
    )
    title: str = "News"
    author: str = ""
    description: str = ""
    max_items: int = attrs.field(default=50, validator=_positive)
    language: str = "en"

    @property
    def failure_domain(self) -> str:
        return f"site:{self.directory}"

    @property
    def root(self) -> Path:
        return Path(self.directory).expanduser()

    def feed_url(self, kind: str) -> str:
        return urllib.parse.urljoin(self.site_url, FEEDS[kind])

    def page_url(self, slug: str) -> str:
        return urllib.parse.urljoin(self.site_url, f"posts/{slug}/")

    # -- delivery -----------------------------------------------------------

    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        """File I/O runs in a worker thread so the event loop keeps serving other channels."""
        ctx.applying()
        return await asyncio.to_thread(self._publish, prepared, ctx.delivery_key)

    async def lookup(self, prepared: Prepared, ctx: Context) -> LookupResult:
        """The item store is the truth: a key in it was published."""
        return await asyncio.to_thread(self._lookup, ctx.delivery_key)

    async def check(self, ctx: Context) -> str:
        return await asyncio.to_thread(self._check)

    def _check(self) -> str:
        with guarded():
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".check-"):
                pass
            count = len(self._load()["items"])
        return f"{self.root} is writable, {count} items, served at {self.site_url}"

    def _lookup(self, key: str) -> LookupResult:
        with guarded():
            item = self._load()["items"].get(key)
        return Absent() if item is None else Found(self._receipt(item))

    def _publish(self, prepared: Prepared, key: str) -> Receipt:
        with guarded(), directory_lock(self.root):
            store = self._load()
            items: dict[str, dict[str, Any]] = store["items"]
            now = _timestamp()
            headline = _headline(prepared)
            old = items.get(key)
            if old is None:
                store["seq"] += 1
                slug = unique_slug(slugify(headline), key, items)
                item: dict[str, Any] = {"seq": store["seq"], "slug": slug, "published": now}
            else:
                item = dict(old)
            post = prepared.post
            item.update(
                id=_item_id(key),
                title=post.title,
                headline=headline,
                text=prepared.text,
                tags=list(post.tags),
                language=post.language or self.language,
                modified=now,
            )
            item["media"] = self._copy_media(item["slug"], post.media)
            items[key] = item
            write_text(self.root / STORE, json.dumps(store, ensure_ascii=False, indent=1))
            self._render_page(item)
            self._render_index(items)
            self._render_feeds(items)
        return self._receipt(item)

    def _receipt(self, item: Mapping[str, Any]) -> Receipt:
        page = self.root / "posts" / item["slug"] / "index.html"
        return Receipt(
            platform_id=item["id"],
            url=self.page_url(item["slug"]),
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
            return {"version": _STORE_VERSION, "seq": 0, "items": {}}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise Permanent(f"{path} is not valid JSON ({exc}); restore it from a backup") from exc
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

    def _newest(self, items: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return sorted(items.values(), key=lambda item: item["seq"], reverse=True)

    def _media_url(
        self, item: Mapping[str, Any], record: Mapping[str, Any], *, absolute: bool
    ) -> str:
        if "url" in record:
            return str(record["url"])
        if absolute:
            return urllib.parse.urljoin(
                self.page_url(item["slug"]), urllib.parse.quote(record["file"])
            )
        return urllib.parse.quote(record["file"])

    def _content_html(self, item: Mapping[str, Any], *, absolute: bool) -> str:
        pieces = [paragraphs(item["text"])]
        for record in item["media"]:
            src = html.escape(self._media_url(item, record, absolute=absolute))
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

    def _head(self, title: str, language: str, extra: str = "") -> str:
        links = "\n".join(
            f'<link rel="alternate" type="{kind}" title="{html.escape(self.title)}" '
            f'href="{html.escape(self.feed_url(name))}" />'
            for name, kind in (
                ("json", "application/feed+json"),
                ("atom", "application/atom+xml"),
                ("rss", "application/rss+xml"),
            )
        )
        return (
            "<!DOCTYPE html>\n"
            f'<html lang="{html.escape(language)}">\n<head>\n<meta charset="utf-8" />\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1" />\n'
            f"<title>{html.escape(title)}</title>\n{links}\n{extra}</head>\n"
        )

    def _footer(self, prefix: str) -> str:
        feeds = " · ".join(
            f'<a href="{prefix}{FEEDS[kind]}">{label}</a>'
            for kind, label in (("json", "JSON Feed"), ("atom", "Atom"), ("rss", "RSS"))
        )
        return f"<footer><p>Follow: {feeds}</p></footer>\n"

    def _render_page(self, item: Mapping[str, Any]) -> None:
        headline = item["headline"]
        canonical = f'<link rel="canonical" href="{html.escape(self.page_url(item["slug"]))}" />\n'
        page = (
            self._head(f"{headline} | {self.title}", item["language"], canonical)
            + "<body>\n"
            + f'<header><p><a href="../../index.html">{html.escape(self.title)}</a></p></header>\n'
            + "<main>\n<article>\n"
            + f"<h1>{html.escape(headline)}</h1>\n"
            + f"<p>{_time_tag(item['published'])}</p>\n"
            + self._content_html(item, absolute=False)
            + "\n</article>\n</main>\n"
            + self._footer("../../")
            + "</body>\n</html>\n"
        )
        write_text(self.root / "posts" / item["slug"] / "index.html", page)

    def _render_index(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        entries = "\n".join(
            f'<li><a href="posts/{urllib.parse.quote(item["slug"])}/index.html">'
            f"{html.escape(item['headline'])}</a> "
            f"{_time_tag(item['published'])}</li>"
            for item in self._newest(items)
        )
        description = f"<p>{html.escape(self.description)}</p>\n" if self.description else ""
        page = (
            self._head(self.title, self.language)
            + "<body>\n<main>\n"
            + f"<h1>{html.escape(self.title)}</h1>\n{description}"
            + (f"<ul>\n{entries}\n</ul>\n" if entries else "<p>Nothing published yet.</p>\n")
            + "</main>\n"
            + self._footer("")
            + "</body>\n</html>\n"
        )
        write_text(self.root / "index.html", page)

    def _render_feeds(self, items: Mapping[str, Mapping[str, Any]]) -> None:
        newest = self._newest(items)[: self.max_items]
        updated = max((item["modified"] for item in newest), default=_timestamp())
        write_text(self.root / FEEDS["json"], self._json_feed(newest))
        write_bytes(self.root / FEEDS["atom"], self._atom_feed(newest, updated))
        write_bytes(self.root / FEEDS["rss"], self._rss_feed(newest, updated))

    def _json_feed(self, items: list[Mapping[str, Any]]) -> str:
        feed: dict[str, Any] = {
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.title,
            "home_page_url": self.site_url,
            "feed_url": self.feed_url("json"),
            "language": self.language,
        }
        if self.description:
            feed["description"] = self.description
        if self.author:
            feed["authors"] = [{"name": self.author}]
        entries = []
        for item in items:
            entry: dict[str, Any] = {
                "id": item["id"],
                "url": self.page_url(item["slug"]),
                "content_html": self._content_html(item, absolute=True),
                "content_text": item["text"],
                "date_published": item["published"],
                "date_modified": item["modified"],
                "language": item["language"],
            }
            if item["title"]:
                entry["title"] = item["title"]
            if item["tags"]:
                entry["tags"] = item["tags"]
            images = [r for r in item["media"] if r["mime_type"].startswith("image/")]
            if images:
                entry["image"] = self._media_url(item, images[0], absolute=True)
            if item["media"]:
                entry["attachments"] = [
                    {"url": self._media_url(item, r, absolute=True), "mime_type": r["mime_type"]}
                    | ({"size_in_bytes": r["size"]} if r.get("size") else {})
                    | ({"title": r["alt"]} if r.get("alt") else {})
                    for r in item["media"]
                ]
            entries.append(entry)
        feed["items"] = entries
        return json.dumps(feed, ensure_ascii=False, indent=1) + "\n"

    def _atom_feed(self, items: list[Mapping[str, Any]], updated: str) -> bytes:
        feed = ET.Element("feed", {"xmlns": _ATOM_NS, _XML_LANG: self.language})
        ET.SubElement(feed, "id").text = self.site_url
        ET.SubElement(feed, "title").text = self.title
        if self.description:
            ET.SubElement(feed, "subtitle").text = self.description
        ET.SubElement(feed, "updated").text = updated
        author = ET.SubElement(feed, "author")
        ET.SubElement(author, "name").text = self.author or self.title
        ET.SubElement(
            feed, "link", rel="self", type="application/atom+xml", href=self.feed_url("atom")
        )
        ET.SubElement(feed, "link", rel="alternate", type="text/html", href=self.site_url)
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
            content.text = self._content_html(item, absolute=True)
        return _xml_bytes(feed)

    def _rss_feed(self, items: list[Mapping[str, Any]], updated: str) -> bytes:
        rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": _ATOM_NS})
        channel = ET.SubElement(rss, "channel")
        ET.SubElement(channel, "title").text = self.title
        ET.SubElement(channel, "link").text = self.site_url
        ET.SubElement(channel, "description").text = self.description or self.title
        ET.SubElement(channel, "language").text = self.language
        ET.SubElement(channel, "lastBuildDate").text = _rfc822(updated)
        ET.SubElement(channel, "generator").text = "unipost"
        ET.SubElement(
            channel, "atom:link", rel="self", type="application/rss+xml", href=self.feed_url("rss")
        )
        for item in items:
            entry = ET.SubElement(channel, "item")
            ET.SubElement(entry, "title").text = item["headline"]
            ET.SubElement(entry, "link").text = self.page_url(item["slug"])
            ET.SubElement(entry, "guid", isPermaLink="false").text = item["id"]
            ET.SubElement(entry, "pubDate").text = _rfc822(item["published"])
            for tag in item["tags"]:
                ET.SubElement(entry, "category").text = tag
            ET.SubElement(entry, "description").text = self._content_html(item, absolute=True)
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


def _time_tag(value: str) -> str:
    moment = _parse_time(value)
    return f'<time datetime="{value}">{moment.day} {moment:%B %Y}</time>'


def _item_id(key: str) -> str:
    """A permanent IRI for the item: readers must never see a new id for an old post."""
    return "urn:unipost:" + urllib.parse.quote(key, safe="-._~")


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
