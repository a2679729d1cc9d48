"""The site channel: feeds that validate, pages that parse, updates in place, crash safety."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import attrs
import feedparser
import jsonschema
import pytest

from unipost import Media, Post, errors
from unipost.channel import Absent, Found
from unipost.channels.site import SiteChannel
from unipost.testing import ChannelContract, deliver, lookup

SCHEMA = json.loads(
    (Path(__file__).parent.parent / "data" / "jsonfeed-1.1.schema.json").read_text()
)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x03\x08\x02\x00\x00\x00"
    + bytes(20)
)


def site(tmp_path: Path, **settings: Any) -> SiteChannel:
    return SiteChannel.from_settings(
        "site",
        {"directory": str(tmp_path / "www"), "base_url": "https://bakery.example/news", **settings},
    )


def feed_json(channel: SiteChannel) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((channel.root / "feed.json").read_text(encoding="utf-8"))
    return data


def parse_page(path: Path) -> ET.Element:
    """Well-formed means an XML parser accepts it (the pages are XHTML-compatible HTML5)."""
    return ET.fromstring(path.read_bytes())  # noqa: S314 - our own output, under test


class TestSiteContract(ChannelContract):
    channel_class = SiteChannel
    http = False

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.directory = tmp_path / "site"

    def make_channel(self) -> SiteChannel:
        return SiteChannel.from_settings("site", {"directory": str(self.directory)})

    def arrange_success(self, httpx_mock: Any) -> None:
        """Nothing to arrange on the network; the directory starts empty or as left."""


def test_feeds_validate_and_use_absolute_urls(tmp_path: Path) -> None:
    channel = site(tmp_path, title="Bakery news", author="Anna", description="Fresh every day")
    post = Post(
        title="Croissant day",
        text="Fresh croissants from 7 am.\n\nSee https://bakery.example/offer",
        tags=["pastries", "offer"],
        media=[Media.from_bytes(PNG, filename="tray.png", alt="A tray of croissants")],
        id="p1",
    )
    receipt = deliver(channel, post, delivery_key="up1-aaa")

    data = feed_json(channel)
    jsonschema.validate(data, SCHEMA)
    [item] = data["items"]
    assert item["id"] == receipt.platform_id == "urn:unipost:p1"
    assert item["url"] == receipt.url == "https://bakery.example/news/posts/croissant-day/"
    assert item["title"] == "Croissant day"
    assert item["tags"] == ["pastries", "offer"]
    assert item["image"] == "https://bakery.example/news/posts/croissant-day/1-tray.png"
    assert item["attachments"][0]["size_in_bytes"] == len(PNG)
    assert data["feed_url"] == "https://bakery.example/news/feed.json"

    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((channel.root / name).read_bytes())
        assert parsed.bozo == 0, (name, parsed.get("bozo_exception"))
        [entry] = parsed.entries
        assert entry.link == receipt.url
        assert entry.id == receipt.platform_id
        assert entry.title == "Croissant day"
        assert "https://bakery.example/news/posts/croissant-day/1-tray.png" in entry.summary
    atom = feedparser.parse((channel.root / "atom.xml").read_bytes())
    assert atom.feed.author == "Anna"
    assert atom.version == "atom10"
    assert feedparser.parse((channel.root / "rss.xml").read_bytes()).version == "rss20"
    assert (channel.root / "posts" / "croissant-day" / "1-tray.png").read_bytes() == PNG
    assert receipt.extra["page"] == str(channel.root / "posts" / "croissant-day" / "index.html")
    assert sorted(Path(p).name for p in receipt.extra["feeds"]) == [
        "atom.xml",
        "feed.json",
        "rss.xml",
    ]


def test_pages_are_well_formed_and_escape_user_text(tmp_path: Path) -> None:
    channel = site(tmp_path)
    hostile = 'Hi <script>alert("x")</script> & <b>bold</b>'
    text = f"{hostile}\n{hostile} again"
    receipt = deliver(channel, Post(text=text, id="p1"), delivery_key="up1-xss")

    page_path = Path(receipt.extra["page"])
    raw = page_path.read_text(encoding="utf-8")
    assert "<script>" not in raw
    assert "<b>" not in raw
    page = parse_page(page_path)
    assert page.tag == "html"
    assert page.get("lang") == "en"
    assert not list(page.iter("script"))
    assert not list(page.iter("b"))
    assert "".join(page.find("./body/main/article/h1").itertext()) == hostile  # type: ignore[union-attr]
    paragraphs = ["".join(p.itertext()) for p in page.iter("p")]
    assert f"{hostile} again" in paragraphs
    assert hostile not in paragraphs, "the first line is the heading, not repeated"
    index = parse_page(channel.root / "index.html")
    assert [a.get("href") for a in index.iter("a") if "posts/" in (a.get("href") or "")] == [
        f"posts/{page_path.parent.name}/index.html"
    ]
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((channel.root / name).read_bytes())
        assert parsed.bozo == 0
        assert "<script>" not in parsed.entries[0].summary
    content_html = feed_json(channel)["items"][0]["content_html"]
    assert "&lt;script&gt;" in content_html
    assert "<script>" not in content_html


def test_files_are_readable_by_the_web_server(tmp_path: Path) -> None:
    channel = site(tmp_path)
    deliver(channel, Post(text="hello", media=[Media.from_bytes(PNG, filename="a.png")], id="p"))
    for name in (
        "feed.json",
        "atom.xml",
        "rss.xml",
        "index.html",
        "posts/hello/index.html",
        "posts/hello/1-a.png",
    ):
        assert (channel.root / name).stat().st_mode & 0o044 == 0o044, name


def test_urls_in_text_become_links(tmp_path: Path) -> None:
    channel = site(tmp_path)
    receipt = deliver(channel, Post(text="Order at https://bakery.example/o?a=1&b=2 today", id="p"))
    page = parse_page(Path(receipt.extra["page"]))
    assert [a.get("href") for a in page.iter("a") if a.text and "bakery" in a.text] == [
        "https://bakery.example/o?a=1&b=2"
    ]


def test_same_key_updates_instead_of_duplicating(tmp_path: Path) -> None:
    channel = site(tmp_path)
    image = Media.from_bytes(PNG, filename="old.png")
    first = deliver(channel, Post(text="Open 9-5 today", media=[image], id="p1"), delivery_key="k1")
    before = feed_json(channel)["items"][0]
    second = deliver(channel, Post(text="Open 9-6 today", id="p1"), delivery_key="k1")

    items = feed_json(channel)["items"]
    assert len(items) == 1
    assert items[0]["content_text"] == "Open 9-6 today"
    assert items[0]["date_published"] == before["date_published"]
    assert (first.platform_id, first.url) == (second.platform_id, second.url)
    assert len(feedparser.parse((channel.root / "atom.xml").read_bytes()).entries) == 1
    assert not (Path(second.extra["page"]).parent / "1-old.png").exists()
    store = json.loads((channel.root / "items.json").read_text())
    assert list(store["items"]) == ["p1"]


def test_slugs_are_readable(tmp_path: Path) -> None:
    channel = site(tmp_path)
    receipt = deliver(channel, Post(text="We’re open: Crème brûlée day! 20% off", id="p"))
    assert receipt.url == "https://bakery.example/news/posts/were-open-creme-brulee-day-20-off/"


def test_distinct_keys_with_the_same_headline_get_distinct_pages(tmp_path: Path) -> None:
    channel = site(tmp_path)
    one = deliver(channel, Post(text="Open today", id="a"), delivery_key="k1")
    two = deliver(channel, Post(text="Open today", id="b"), delivery_key="k2")
    assert one.url != two.url
    assert one.platform_id != two.platform_id
    assert [i["id"] for i in feed_json(channel)["items"]] == [two.platform_id, one.platform_id]


def test_max_items_keeps_the_newest(tmp_path: Path) -> None:
    channel = site(tmp_path, max_items=3)
    receipts = [
        deliver(channel, Post(text=f"Post number {n}", id=f"p{n}"), delivery_key=f"k{n}")
        for n in range(5)
    ]
    newest = [r.platform_id for r in reversed(receipts)][:3]
    assert [i["id"] for i in feed_json(channel)["items"]] == newest
    for name in ("atom.xml", "rss.xml"):
        assert [
            e.id for e in feedparser.parse((channel.root / name).read_bytes()).entries
        ] == newest
    assert all(Path(r.extra["page"]).is_file() for r in receipts), "old pages stay online"
    assert len(list(parse_page(channel.root / "index.html").iter("li"))) == 5


def test_a_crash_mid_write_leaves_the_previous_feed_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = site(tmp_path)
    deliver(channel, Post(text="First post", id="p1"), delivery_key="k1")
    before = {
        name: (channel.root / name).read_bytes() for name in ("feed.json", "atom.xml", "rss.xml")
    }
    real_replace = os.replace

    def crash_on_feeds(src: str, dst: str | os.PathLike[str]) -> None:
        if Path(dst).name in before:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_feeds)
    with pytest.raises(errors.Transient, match="No space left"):
        deliver(channel, Post(text="Second post", id="p2"), delivery_key="k2")
    for name, content in before.items():
        assert (channel.root / name).read_bytes() == content
    assert not list(channel.root.rglob("*.tmp")), "temporary files are cleaned up"

    monkeypatch.setattr(os, "replace", real_replace)
    deliver(channel, Post(text="Second post", id="p2"), delivery_key="k2")
    assert len(feed_json(channel)["items"]) == 2


def test_permission_problems_are_permanent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    channel = site(tmp_path)

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(errors.Permanent, match="permissions"):
        deliver(channel, Post(text="hello", id="p"))


def test_lookup_reads_the_item_store(tmp_path: Path) -> None:
    channel = site(tmp_path)
    post = Post(text="Looked up", id="p1")
    assert isinstance(lookup(channel, post, delivery_key="k1"), Absent)
    receipt = deliver(channel, post, delivery_key="k1")
    found = lookup(channel, post, delivery_key="k1")
    assert isinstance(found, Found)
    assert found.receipt == receipt


def test_corrupt_store_is_reported_not_overwritten(tmp_path: Path) -> None:
    channel = site(tmp_path)
    channel.root.mkdir(parents=True)
    (channel.root / "items.json").write_text("{not json")
    with pytest.raises(errors.Permanent, match="not valid JSON"):
        deliver(channel, Post(text="hello", id="p"))
    assert (channel.root / "items.json").read_text() == "{not json"


def test_videos_and_remote_media(tmp_path: Path) -> None:
    channel = site(tmp_path)
    video = Media.from_bytes(
        b"\x00\x00\x00\x18ftypmp42" + bytes(16), filename="clip.mp4", alt="Kneading"
    )
    remote = Media.from_url("https://cdn.example/bread.jpg", alt="Bread")
    receipt = deliver(channel, Post(text="Watch", media=[video, remote], id="p"))
    page = parse_page(Path(receipt.extra["page"]))
    assert [v.get("src") for v in page.iter("video")] == ["1-clip.mp4"]
    assert [(i.get("src"), i.get("alt")) for i in page.iter("img")] == [
        ("https://cdn.example/bread.jpg", "Bread")
    ]
    item = feed_json(channel)["items"][0]
    assert item["image"] == "https://cdn.example/bread.jpg"
    jsonschema.validate(feed_json(channel), SCHEMA)


def test_settings_are_checked() -> None:
    with pytest.raises(errors.ConfigurationError, match="base_url must be the site's absolute"):
        SiteChannel.from_settings("site", {"base_url": "bakery.example"})
    with pytest.raises(errors.ConfigurationError, match="keep only base_url"):
        SiteChannel.from_settings("site", {"site_url": "https://a.example", "base_url": "https://a.example"})
    with pytest.raises(errors.ConfigurationError, match="max_items"):
        SiteChannel.from_settings("site", {"max_items": 0})
    channel = SiteChannel.from_settings(
        "blog", {"site_url": "https://b.example/x", "directory": "out"}
    )
    assert channel.base_url == "https://b.example/x/", "site_url, the old name, still works"
    assert channel.failure_domain == "site:out"
    assert channel.capabilities.title
    assert channel.capabilities.text_limit is None


def test_title_is_not_folded_into_the_text(tmp_path: Path) -> None:
    channel = site(tmp_path)
    prepared = channel.prepare(
        Post(title="Big news", text="We moved.", link="https://bakery.example/")
    )
    assert prepared.text == "We moved.\n\nhttps://bakery.example/"
    deliver(channel, attrs.evolve(prepared))
    page = parse_page(channel.root / "posts" / "big-news" / "index.html")
    assert page.find("./body/main/article/h1").text == "Big news"  # type: ignore[union-attr]
