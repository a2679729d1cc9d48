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

import unipost.api
from unipost import Media, Post, errors
from unipost.channel import Absent, Found
from unipost.channels.site import SiteChannel
from unipost.testing import ChannelContract, check, deliver, lookup

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
        SiteChannel.from_settings(
            "site", {"site_url": "https://a.example", "base_url": "https://a.example"}
        )
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


# -- revisions: one post, one page (issue 14 item 7) ----------------------------------


def test_a_revision_updates_its_post_in_place_through_publish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Revision 2 of a post id gets a new delivery key but the same item, id and page."""
    (tmp_path / "unipost.toml").write_text(
        '[outbox]\npath = "outbox.sqlite3"\n\n[channels.site]\ntype = "site"\n'
        'base_url = "https://bakery.example/"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(unipost.api, "_default", None)
    try:
        first = unipost.publish(Post(text="Open 9-5 today\nCome by.", id="hours"), to="site")
        second = unipost.publish(
            Post(text="Open 9-6 today\nCome by.", id="hours", revision=2), to="site"
        )
    finally:
        dispatcher, _config = unipost.api.default_dispatcher()
        dispatcher.close()
        monkeypatch.setattr(unipost.api, "_default", None)
    assert first.ok, str(first)
    assert second.ok, str(second)
    assert first["site"].url == second["site"].url
    root = tmp_path / "site"
    items = json.loads((root / "feed.json").read_text(encoding="utf-8"))["items"]
    assert [i["content_text"] for i in items] == ["Open 9-6 today\nCome by."]
    assert len(list((root / "posts").iterdir())) == 1
    for name in ("atom.xml", "rss.xml"):
        assert len(feedparser.parse((root / name).read_bytes()).entries) == 1
    index = parse_page(root / "index.html")
    assert [h.findtext("a") for h in index.iter("h2")] == ["Open 9-6 today"]
    store = json.loads((root / "items.json").read_text(encoding="utf-8"))
    assert list(store["items"]) == ["hours"]
    assert len(store["items"]["hours"]["deliveries"]) == 2, "both revisions' delivery keys"


def test_an_older_revision_arriving_late_does_not_roll_the_page_back(tmp_path: Path) -> None:
    channel = site(tmp_path)
    deliver(channel, Post(text="Open 9-6", id="h", revision=2), delivery_key="k2")
    late = deliver(channel, Post(text="Open 9-5", id="h", revision=1), delivery_key="k1")
    assert [i["content_text"] for i in feed_json(channel)["items"]] == ["Open 9-6"]
    assert late.url == "https://bakery.example/news/posts/open-9-6/"
    assert isinstance(lookup(channel, Post(text="Open 9-5", id="h"), delivery_key="k1"), Found)


def test_lookup_finds_only_revisions_that_were_applied(tmp_path: Path) -> None:
    channel = site(tmp_path)
    deliver(channel, Post(text="v1", id="p"), delivery_key="k1")
    revision_2 = Post(text="v2", id="p", revision=2)
    assert isinstance(lookup(channel, revision_2, delivery_key="k2"), Absent)
    deliver(channel, revision_2, delivery_key="k2")
    assert isinstance(lookup(channel, revision_2, delivery_key="k2"), Found)


def test_a_version_1_store_is_upgraded_keeping_ids_and_pages(tmp_path: Path) -> None:
    channel = site(tmp_path)
    channel.root.mkdir(parents=True)
    old_item = {
        "seq": 1,
        "slug": "old-news",
        "published": "2026-11-01T08:00:00Z",
        "id": "urn:unipost:up1-old",
        "title": None,
        "headline": "Old news",
        "text": "Old news",
        "tags": [],
        "language": "en",
        "modified": "2026-11-01T08:00:00Z",
        "media": [],
    }
    store = {"version": 1, "seq": 1, "items": {"up1-old": old_item}}
    (channel.root / "items.json").write_text(json.dumps(store))
    assert isinstance(lookup(channel, Post(text="x", id="any"), delivery_key="up1-old"), Absent)
    deliver(channel, Post(text="New news", id="p2"), delivery_key="k2")
    ids = [i["id"] for i in feed_json(channel)["items"]]
    assert ids == ["urn:unipost:p2", "urn:unipost:up1-old"]
    assert (channel.root / "posts" / "old-news" / "index.html").is_file()


# -- what the pages show ------------------------------------------------------------------


def test_without_a_title_the_first_line_is_the_heading_and_not_repeated(tmp_path: Path) -> None:
    channel = site(tmp_path)
    receipt = deliver(channel, Post(text="Open 9-5 today", id="p"), delivery_key="k")
    page = parse_page(Path(receipt.extra["page"]))
    main_text = "".join(page.find("./body/main").itertext())  # type: ignore[union-attr]
    assert main_text.count("Open 9-5 today") == 1
    index_text = "".join(parse_page(channel.root / "index.html").find("./body/main").itertext())  # type: ignore[union-attr]
    assert index_text.count("Open 9-5 today") == 1
    og = meta(page)
    assert og["og:title"] == "Open 9-5 today"
    assert "og:description" not in og, "no text left to describe it with: no repeat"


def test_a_long_first_line_stays_in_the_text_with_a_hidden_heading(tmp_path: Path) -> None:
    channel = site(tmp_path)
    text = "Our new autumn menu " + "with pumpkin bread " * 6 + "is here."
    receipt = deliver(channel, Post(text=text, id="p"), delivery_key="k")
    page = parse_page(Path(receipt.extra["page"]))
    heading = page.find("./body/main/article/h1")
    assert heading is not None
    assert heading.get("class") == "visually-hidden"
    assert text in ["".join(p.itertext()) for p in page.iter("p")]


def meta(page: ET.Element) -> dict[str, str]:
    return {
        (tag.get("property") or tag.get("name") or ""): tag.get("content") or ""
        for tag in page.iter("meta")
        if tag.get("content") is not None
    }


def test_open_graph_and_twitter_tags_use_absolute_urls(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(PNG)
    channel = site(tmp_path, business="Anna's Bakery", title="News", logo=str(logo))
    post = Post(
        title="Croissant day",
        text="Fresh croissants from 7 am.",
        media=[Media.from_bytes(PNG, filename="tray.png", alt="A tray of croissants")],
        tags=["pastries"],
        id="p1",
    )
    receipt = deliver(channel, post, delivery_key="k1")
    tags = meta(parse_page(Path(receipt.extra["page"])))
    assert tags["og:type"] == "article"
    assert tags["og:title"] == "Croissant day"
    assert tags["og:description"] == "Fresh croissants from 7 am."
    assert tags["og:site_name"] == "Anna's Bakery"
    assert tags["og:url"] == receipt.url == "https://bakery.example/news/posts/croissant-day/"
    assert tags["og:image"] == "https://bakery.example/news/posts/croissant-day/1-tray.png"
    assert tags["og:image:alt"] == "A tray of croissants"
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:image"] == tags["og:image"]
    assert tags["article:tag"] == "pastries"
    home = meta(parse_page(channel.root / "index.html"))
    assert home["og:type"] == "website"
    assert home["og:url"] == "https://bakery.example/news/"
    assert home["og:image"] == "https://bakery.example/news/logo.png"
    assert home["twitter:card"] == "summary_large_image"
    assert (channel.root / "logo.png").read_bytes() == PNG
    assert feed_json(channel)["title"] == "Anna's Bakery: News"
    assert feed_json(channel)["icon"] == "https://bakery.example/news/logo.png"


def test_business_name_logo_and_links_appear_on_every_page(tmp_path: Path) -> None:
    channel = site(
        tmp_path,
        business="Anna's Bakery",
        logo="https://cdn.example/logo.svg",
        links={"Menu": "https://bakery.example/menu", "Call us": "tel:+15551234"},
    )
    receipt = deliver(channel, Post(text="Open today", id="p"), delivery_key="k")
    for path in (Path(receipt.extra["page"]), channel.root / "index.html"):
        page = parse_page(path)
        header = page.find("./body/header")
        assert header is not None
        assert "Anna's Bakery" in "".join(header.itertext())
        assert [img.get("src") for img in header.iter("img")] == ["https://cdn.example/logo.svg"]
        assert [(a.text, a.get("href")) for a in header.iter("a") if a.text] == [
            ("Menu", "https://bakery.example/menu"),
            ("Call us", "tel:+15551234"),
        ]
        assert page.find("./head/link[@rel='stylesheet']") is not None
    assert "prefers-color-scheme: dark" in (channel.root / "style.css").read_text()


def test_without_base_url_links_are_relative_and_nothing_names_localhost(tmp_path: Path) -> None:
    channel = SiteChannel.from_settings("site", {"directory": str(tmp_path / "www")})
    receipt = deliver(
        channel,
        Post(text="Hello\nworld", media=[Media.from_bytes(PNG, filename="a.png")], id="p"),
        delivery_key="k",
    )
    page_path = Path(receipt.extra["page"])
    assert receipt.url == page_path.resolve().as_uri()
    for path in channel.root.rglob("*"):
        if path.suffix in {".html", ".json", ".xml", ".css"}:
            assert "localhost" not in path.read_text(encoding="utf-8"), path
    data = feed_json(channel)
    assert "feed_url" not in data
    assert "url" not in data["items"][0], "JSON Feed wants absolute URLs: none without base_url"
    assert "attachments" not in data["items"][0]
    jsonschema.validate(data, SCHEMA)
    for name in ("atom.xml", "rss.xml"):
        assert feedparser.parse((channel.root / name).read_bytes()).bozo == 0, name
    tags = meta(parse_page(page_path))
    assert "og:url" not in tags
    assert "og:image" not in tags, "a preview image needs an absolute URL"
    assert "base_url is not set" in check(channel)


def test_settings_for_the_look_are_checked(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match=r"channels\.site.*logo .* is not a file"):
        SiteChannel.from_settings("site", {"logo": str(tmp_path / "missing.png")})
    (tmp_path / "logo.txt").write_text("hi")
    with pytest.raises(errors.ConfigurationError, match="not a web image"):
        SiteChannel.from_settings("site", {"logo": str(tmp_path / "logo.txt")})
    with pytest.raises(errors.ConfigurationError, match="links: 'Shop'"):
        SiteChannel.from_settings("site", {"links": {"Shop": "javascript:alert(1)"}})
    with pytest.raises(errors.ConfigurationError, match="links must be a table"):
        SiteChannel.from_settings("site", {"links": ["https://a.example"]})
    with pytest.raises(errors.ConfigurationError, match=r"templates .* is not a directory"):
        SiteChannel.from_settings("site", {"templates": str(tmp_path / "nope")})


# -- re-theming ---------------------------------------------------------------------------


def test_a_business_template_overrides_one_block_and_keeps_the_rest(tmp_path: Path) -> None:
    templates = tmp_path / "theme"
    templates.mkdir()
    (templates / "base.html").write_text(
        '{% extends "default/base.html" %}\n'
        '{% block head %}<meta name="theme-color" content="#7a3e00" />{% endblock %}\n'
    )
    (templates / "style.css").write_text("body { background: #fff8ef; }\n")
    channel = site(tmp_path, templates=str(templates))
    receipt = deliver(channel, Post(title="Hello", text="Fresh bread", id="p"), delivery_key="k")
    page = parse_page(channel.root / "index.html")
    assert meta(page)["theme-color"] == "#7a3e00"
    assert meta(page)["og:type"] == "website", "the default frame is kept"
    assert (channel.root / "style.css").read_text() == "body { background: #fff8ef; }\n"
    assert parse_page(Path(receipt.extra["page"])).findtext("./body/main/article/h1") == "Hello"


def test_a_theme_change_reaches_every_page(tmp_path: Path) -> None:
    templates = tmp_path / "theme"
    templates.mkdir()
    old = deliver(site(tmp_path), Post(text="Old post", id="a"), delivery_key="ka")
    (templates / "post.html").write_text(
        '{% extends "default/post.html" %}{% block content %}<p>THEMED</p>{{ super() }}'
        "{% endblock %}"
    )
    deliver(site(tmp_path, templates=str(templates)), Post(text="New", id="b"), delivery_key="kb")
    assert "<p>THEMED</p>" in Path(old.extra["page"]).read_text(encoding="utf-8")


def test_a_broken_template_is_a_permanent_error_naming_the_file(tmp_path: Path) -> None:
    templates = tmp_path / "theme"
    templates.mkdir()
    (templates / "post.html").write_text("{% block content %}{{ post.heading }\n")
    channel = site(tmp_path, templates=str(templates))
    with pytest.raises(errors.Permanent, match=r"post\.html, line 1: .*fix the template"):
        deliver(channel, Post(text="x", id="p"), delivery_key="k")
    (templates / "post.html").write_text("{{ post.no_such_field }}")
    with pytest.raises(errors.Permanent, match=r"post\.html .*no_such_field.*fix the template"):
        deliver(channel, Post(text="x", id="p"), delivery_key="k")


def test_the_home_page_shows_a_long_first_line_whole_and_the_rest_as_summary(
    tmp_path: Path,
) -> None:
    channel = site(tmp_path)
    first = "Behind the scenes: watch how our bakers shape the sourdough " * 2
    deliver(channel, Post(text=f"{first.strip()}\n\nSee you at 7!", id="p"), delivery_key="k")
    card = parse_page(channel.root / "index.html").find(".//ol/li/article")
    assert card is not None
    assert card.findtext("h2/a") == first.strip()
    assert [p.text for p in card.iter("p")][-1] == "See you at 7!"


def test_check_finds_template_mistakes_before_a_publish(tmp_path: Path) -> None:
    templates = tmp_path / "theme"
    templates.mkdir()
    (templates / "posts.html").write_text("a typo'd name")
    channel = site(tmp_path, templates=str(templates))
    assert "posts.html in" in check(channel)
    assert "is not a template the site uses" in check(channel)
    (templates / "index.html").write_text("{% if %}")
    with pytest.raises(errors.Permanent, match=r"index\.html, line 1"):
        check(channel)


def test_the_footer_year_is_the_dispatchers_not_the_wall_clocks(tmp_path: Path) -> None:
    """The site dates everything with the dispatcher's clock, the footer's year too."""
    import datetime as dt

    from unipost import Dispatcher, MemoryStore
    from unipost.testing import VirtualClock

    later = dt.datetime(2031, 6, 1, tzinfo=dt.UTC).timestamp()
    site = SiteChannel(id="site", directory=str(tmp_path / "site"))
    with Dispatcher(channels={"site": site}, store=MemoryStore(), clock=VirtualClock(later)) as d:
        assert d.publish(Post(text="Open 9-5", id="hours"), "site").ok
    for page in (tmp_path / "site" / "index.html", *tmp_path.glob("site/posts/*/index.html")):
        assert "© 2031" in page.read_text(encoding="utf-8"), page
