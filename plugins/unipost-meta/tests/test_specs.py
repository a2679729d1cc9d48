"""Every Graph request the Facebook and Instagram flows build, checked against Meta's node specs.

The specs (tests/data/meta) list each edge's parameters and types and each
node's fields. Calls they do not describe (debug_token, IG container status)
are listed here explicitly, so a new call cannot slip by unchecked.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from unipost_meta import FacebookChannel, InstagramChannel

from unipost import Media, Post
from unipost.testing import check, deliver, lookup

from .conftest import Graph

ROOT = "https://graph.facebook.com/v23.0"
GRAPH = Graph(ROOT)
url = GRAPH.url
PAGE = "1234567890"
IG = "17841400000000001"
POST_ID = f"{PAGE}_42"
STAMP = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
UNDESCRIBED = {("GET", "debug_token"), ("GET", "container")}


def node_of(request: httpx.Request) -> tuple[str, str | None] | tuple[str, str]:
    """(node, edge) a request addresses, from its path."""
    parts = request.url.path.split("/")[2:]
    head, edge = parts[0], parts[1] if len(parts) > 1 else None
    if head == "debug_token":
        return ("GET", "debug_token")
    if head == PAGE:
        return ("Page", edge)
    if head == IG:
        return ("IGUser", edge)
    if "_" in head:
        return ("PagePost", edge)
    if head.startswith("18"):
        return ("GET", "container")
    return ("IGMedia", edge)


def run_facebook(httpx_mock: Any) -> None:
    facebook = FacebookChannel(page_id=PAGE, token="EAAspec-token-1", app_secret="spec-secret")
    httpx_mock.add_response(
        method="POST",
        url=url(f"{PAGE}/photos"),
        json={"id": "501", "post_id": POST_ID},
        is_reusable=True,
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{PAGE}/feed"), json={"id": POST_ID}, is_reusable=True
    )
    httpx_mock.add_response(
        method="GET", url=url(POST_ID), json={"permalink_url": "https://fb/x"}, is_reusable=True
    )
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    posts = [
        Post(text="text", link="https://bakery.example"),
        Post(text="one", media=[Media.from_url("https://cdn.example/a.jpg", alt="alt")]),
        Post(text="upload", media=[Media.from_bytes(png, filename="a.png")]),
        Post(
            text="two",
            media=[
                Media.from_url("https://cdn.example/a.jpg"),
                Media.from_bytes(png, filename="b.png"),
            ],
        ),
    ]
    for post in posts:
        deliver(facebook, post)
    scheduled = FacebookChannel(page_id=PAGE, token="EAAspec-token-1", native_scheduling=True)
    deliver(scheduled, Post(text="later", publish_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)))
    httpx_mock.add_response(method="GET", url=url(f"{PAGE}/posts"), json={"data": []})
    lookup(facebook, Post(text="text"))
    httpx_mock.add_response(method="GET", url=url(PAGE), json={"id": PAGE, "name": "Bakery"})
    httpx_mock.add_response(method="GET", url=url("debug_token"), json={"data": {"scopes": []}})
    with pytest.raises(Exception, match="lacks"):
        check(facebook)


def run_instagram(httpx_mock: Any) -> None:
    instagram = InstagramChannel(ig_user_id=IG, token="EAAspec-token-2")
    httpx_mock.add_response(
        method="GET",
        url=url(f"{IG}/content_publishing_limit"),
        json={"data": [{"quota_usage": 1, "config": {"quota_total": 50}}]},
        is_reusable=True,
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{IG}/media"), json={"id": "1801"}, is_reusable=True
    )
    httpx_mock.add_response(
        method="GET", url=url("1801"), json={"status_code": "FINISHED"}, is_reusable=True
    )
    httpx_mock.add_response(
        method="POST", url=url(f"{IG}/media_publish"), json={"id": "1790"}, is_reusable=True
    )
    httpx_mock.add_response(
        method="GET", url=url("1790"), json={"permalink": "https://ig/p/1"}, is_reusable=True
    )
    image, video = (
        Media.from_url("https://cdn.example/a.jpg", alt="alt"),
        Media.from_url("https://cdn.example/v.mp4"),
    )
    for media in ([image], [video], [image, video]):
        deliver(instagram, Post(text="caption #tag", media=media))
    httpx_mock.add_response(
        method="GET",
        url=url(f"{IG}/media"),
        json={"data": [{"id": "1790", "caption": "c", "timestamp": STAMP}]},
    )
    lookup(instagram, Post(text="c", media=[image]))
    httpx_mock.add_response(method="GET", url=url(IG), json={"id": IG, "username": "bakery"})
    httpx_mock.add_response(method="GET", url=url("debug_token"), json={"data": {}})
    check(instagram)


@pytest.mark.parametrize("run", [run_facebook, run_instagram])
def test_every_request_matches_the_node_specs(httpx_mock: Any, specs: Any, run: Any) -> None:
    run(httpx_mock)
    requests = httpx_mock.get_requests()
    assert len(requests) > 10
    for request in requests:
        node, edge = node_of(request)
        if (node, edge) in UNDESCRIBED:
            continue
        files = ("source",) if edge == "photos" else ()
        specs.check(request, node, edge, files=files)
