"""The site's feeds: JSON Feed 1.1, Atom 1.0 and RSS 2.0, rendered from the item store."""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Protocol

from unipost.channels._html import paragraphs


class SiteChannel(Protocol):
    """What the feeds read from the site channel (a protocol, so this module does not import it)."""

    @property
    def base_url(self) -> str | None: ...
    @property
    def site_title(self) -> str: ...
    @property
    def site_name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def language(self) -> str: ...
    def url(self, path: str) -> str: ...
    def feed_url(self, kind: str) -> str: ...
    def page_url(self, slug: str) -> str: ...
    def _media_url(
        self, item: Mapping[str, Any], record: Mapping[str, Any], *, absolute: bool
    ) -> str: ...
    def _logo(self, root: str) -> dict[str, str] | None: ...


__all__ = ["atom_feed", "content_html", "is_absolute", "json_feed", "parse_time", "rss_feed"]

_ATOM_NS = "http://www.w3.org/2005/Atom"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def content_html(site: SiteChannel, item: Mapping[str, Any]) -> str:
    """An item as HTML for the feeds, with media URLs the feed reader can resolve."""
    pieces = [paragraphs(item["text"])]
    for record in item["media"]:
        src = html.escape(site._media_url(item, record, absolute=True))
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


def json_feed(site: SiteChannel, items: list[Mapping[str, Any]]) -> str:
    feed: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": site.site_title,
        "language": site.language,
    }
    if site.base_url:
        feed["home_page_url"] = site.base_url
        feed["feed_url"] = site.feed_url("json")
    if site.description:
        feed["description"] = site.description
    if site.author:
        feed["authors"] = [{"name": site.author}]
    logo = site._logo("")
    if logo and logo["url"]:
        feed["icon"] = logo["url"]
    entries = []
    for item in items:
        entry: dict[str, Any] = {
            "id": item["id"],
            "content_html": content_html(site, item),
            "content_text": item["text"],
            "date_published": item["published"],
            "date_modified": item["modified"],
            "language": item["language"],
        }
        if site.base_url:  # JSON Feed readers expect absolute URLs: without one, none
            entry["url"] = site.page_url(item["slug"])
        if item["title"]:
            entry["title"] = item["title"]
        if item["tags"]:
            entry["tags"] = item["tags"]
        media = [(record, site._media_url(item, record, absolute=True)) for record in item["media"]]
        media = [(r, url) for r, url in media if is_absolute(url)]
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


def atom_feed(
    site: SiteChannel, items: list[Mapping[str, Any]], updated: str, store: Mapping[str, Any]
) -> bytes:
    feed = ET.Element("feed", {"xmlns": _ATOM_NS, _XML_LANG: site.language})
    ET.SubElement(feed, "id").text = site.base_url or f"urn:uuid:{uuid.UUID(store['site_id'])}"
    ET.SubElement(feed, "title").text = site.site_title
    if site.description:
        ET.SubElement(feed, "subtitle").text = site.description
    ET.SubElement(feed, "updated").text = updated
    author = ET.SubElement(feed, "author")
    ET.SubElement(author, "name").text = site.author or site.site_name
    if site.base_url:
        ET.SubElement(
            feed, "link", rel="site", type="application/atom+xml", href=site.feed_url("atom")
        )
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=site.url("./"))
    ET.SubElement(feed, "generator").text = "unipost"
    for item in items:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "id").text = item["id"]
        ET.SubElement(entry, "title").text = item["headline"]
        ET.SubElement(entry, "published").text = item["published"]
        ET.SubElement(entry, "updated").text = item["modified"]
        ET.SubElement(
            entry, "link", rel="alternate", type="text/html", href=site.page_url(item["slug"])
        )
        for record in item["media"]:
            attributes = {"rel": "enclosure", "type": record["mime_type"]}
            attributes["href"] = site._media_url(item, record, absolute=True)
            if record.get("size"):
                attributes["length"] = str(record["size"])
            ET.SubElement(entry, "link", attributes)
        for tag in item["tags"]:
            ET.SubElement(entry, "category", term=tag)
        content = ET.SubElement(entry, "content", type="html")
        content.text = content_html(site, item)
    return xml_bytes(feed)


def rss_feed(site: SiteChannel, items: list[Mapping[str, Any]], updated: str) -> bytes:
    rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": _ATOM_NS})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = site.site_title
    ET.SubElement(channel, "link").text = site.url("./")
    ET.SubElement(channel, "description").text = site.description or site.site_title
    ET.SubElement(channel, "language").text = site.language
    ET.SubElement(channel, "lastBuildDate").text = rfc822(updated)
    ET.SubElement(channel, "generator").text = "unipost"
    if site.base_url:
        ET.SubElement(
            channel,
            "atom:link",
            rel="site",
            type="application/rss+xml",
            href=site.feed_url("rss"),
        )
    for item in items:
        entry = ET.SubElement(channel, "item")
        ET.SubElement(entry, "title").text = item["headline"]
        ET.SubElement(entry, "link").text = site.page_url(item["slug"])
        ET.SubElement(entry, "guid", isPermaLink="false").text = item["id"]
        ET.SubElement(entry, "pubDate").text = rfc822(item["published"])
        for tag in item["tags"]:
            ET.SubElement(entry, "category").text = tag
        ET.SubElement(entry, "description").text = content_html(site, item)
        if item["media"]:  # RSS allows one enclosure per item
            first = item["media"][0]
            ET.SubElement(
                entry,
                "enclosure",
                url=site._media_url(item, first, absolute=True),
                length=str(first.get("size") or 0),
                type=first["mime_type"],
            )
    return xml_bytes(rss)


def xml_bytes(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body + b"\n"


def rfc822(value: str) -> str:
    return email.utils.format_datetime(parse_time(value), usegmt=True)


def is_absolute(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("http", "https")


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
