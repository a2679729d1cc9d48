"""#14.5 on a Facebook Page: a create whose answer was lost lands after the resend; the
second look lists every copy, flags the extra one, and deleting it is asked for.

Error bodies: code 100 / subcode 33 is Graph's "object does not exist, cannot be
loaded due to missing permissions, or does not support this operation" (Graph
API "Handling Errors" reference; the message as quoted in public threads about
deleting posts that are gone); (#200) is its permissions error.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_meta import FacebookChannel, InstagramChannel

from unipost import Dispatcher, Media, MemoryStore, Post, State
from unipost.errors import Forbidden, Permanent, UsageError
from unipost.plugin import Found
from unipost.testing import EventRecorder, VirtualClock, lookup

from .conftest import Graph, NodeSpecs

ROOT = "https://graph.facebook.com/v23.0"
PAGE = "1234567890"
VERIFY_AFTER = 600.0


def _gone(method: str, object_id: str) -> httpx.Response:
    message = (
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read "
        "the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    )
    body = Graph.error(100, 33, message)
    body["error"]["type"] = "GraphMethodException"
    return httpx.Response(400, json=body)


class Page:
    """Page ``PAGE`` on pytest-httpx: feed creates (one may land late, unanswered), a
    newest-first listing, post reads and deletes checked against the PagePost spec."""

    def __init__(self, httpx_mock: HTTPXMock, clock: VirtualClock, specs: NodeSpecs) -> None:
        self.clock = clock
        self.specs = specs
        self.posts: list[dict[str, Any]] = []  # oldest first
        self.land_later: list[float] = []
        self.landing: list[tuple[float, str]] = []
        self.creates = 0
        self.deletes: list[str] = []
        self.refuse_deletes = False  # (#200): the token lacks the permission
        self.unloadable = False  # 100/33 though the post is there (readable, not deletable)
        self._ids = itertools.count(1)
        httpx_mock.add_callback(self.handle, is_reusable=True, is_optional=True)

    def add(self, message: str, at: float) -> dict[str, Any]:
        post_id = f"{PAGE}_{next(self._ids)}"
        post = {
            "id": post_id,
            "message": message,
            "created_time": dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "permalink_url": f"https://www.facebook.com/{post_id.replace('_', '/posts/')}",
        }
        self.posts.append(post)
        return post

    def _land(self) -> None:
        now = self.clock.now()
        for when, message in [item for item in self.landing if item[0] <= now]:
            self.landing.remove((when, message))
            self.add(message, when)

    def _find(self, post_id: str) -> dict[str, Any] | None:
        return next((p for p in self.posts if p["id"] == post_id), None)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self._land()
        assert str(request.url).startswith(ROOT + "/")
        path = request.url.path.split("/")[2:]
        if request.method == "POST" and path == [PAGE, "feed"]:
            self.creates += 1
            message = dict(httpx.QueryParams(request.read().decode()))["message"]
            if self.land_later:
                self.landing.append((self.clock.now() + self.land_later.pop(0), message))
                raise httpx.ReadTimeout("no answer", request=request)
            return httpx.Response(200, json={"id": self.add(message, self.clock.now())["id"]})
        if request.method == "GET" and path == [PAGE, "posts"]:
            return httpx.Response(200, json={"data": list(reversed(self.posts))})
        [post_id] = path
        post = self._find(post_id)
        if request.method == "GET":
            return httpx.Response(200, json=post) if post else _gone("get", post_id)
        self.specs.check(request, "PagePost", None)
        assert request.headers["Authorization"] == "Bearer EAApage-token-1"
        self.deletes.append(post_id)
        if self.refuse_deletes:
            return httpx.Response(403, json=Graph.error(200, message="(#200) Permissions error"))
        if post is None or self.unloadable:
            return _gone("delete", post_id)
        self.posts.remove(post)
        return httpx.Response(200, json={"success": True})


def _dispatcher(clock: VirtualClock, recorder: EventRecorder) -> Dispatcher:
    channel = FacebookChannel(id="fb", page_id=PAGE, token="EAApage-token-1")
    return Dispatcher(
        channels={"fb": channel},
        store=MemoryStore(),
        clock=clock,
        observers=[recorder],
        verify_after=VERIFY_AFTER,
    )


def _flagged(dispatcher: Dispatcher, page: Page, clock: VirtualClock) -> tuple[str, str]:
    """A late-landing create, the resend two lookups allowed, the second look's flag."""
    page.land_later = [45.0]
    report = dispatcher.publish(Post(text="Open 9-5 today", id="hours"), "fb", deadline=120)
    assert report.ok, report
    assert page.creates == 2
    [record] = dispatcher.store.query(post_id="hours")
    assert record.lookups_absent == 2
    assert not record.possible_duplicate
    dispatcher.drain(until=clock.now() + VERIFY_AFTER + 60)
    [record] = dispatcher.store.query(post_id="hours")
    assert record.possible_duplicate
    [copy] = record.extra["duplicates"]
    return record.id, str(copy["platform_id"])


def test_the_late_post_is_flagged_then_deleted_once_on_request(
    httpx_mock: HTTPXMock, specs: NodeSpecs
) -> None:
    clock, recorder = VirtualClock(), EventRecorder()
    page = Page(httpx_mock, clock, specs)
    page.add("Open 9-5 today", clock.now() - 86_400)  # yesterday's: never one of ours
    with _dispatcher(clock, recorder) as dispatcher:
        record_id, extra = _flagged(dispatcher, page, clock)
        [_yesterday, ours, late] = page.posts
        assert dispatcher.store.record(record_id).platform_id == ours["id"]
        assert extra == late["id"]
        assert page.deletes == []  # nothing is deleted on a guess
        assert f"also at {late['permalink_url']}" in str(dispatcher.report("hours"))

        record = dispatcher.remove_duplicate(record_id)
        assert page.deletes == [late["id"]]
        assert [p["id"] for p in page.posts] == [_yesterday["id"], ours["id"]]
        assert not record.possible_duplicate
        assert record.state is State.DELIVERED
        with pytest.raises(UsageError, match="no extra copy"):
            dispatcher.remove_duplicate(record_id)
        assert page.deletes == [late["id"]]


def test_a_post_deleted_by_hand_meanwhile_counts_as_removed(
    httpx_mock: HTTPXMock, specs: NodeSpecs
) -> None:
    clock = VirtualClock()
    page = Page(httpx_mock, clock, specs)
    with _dispatcher(clock, EventRecorder()) as dispatcher:
        record_id, extra = _flagged(dispatcher, page, clock)
        page.posts = [p for p in page.posts if p["id"] != extra]
        record = dispatcher.remove_duplicate(record_id)
        assert page.deletes == [extra]  # 100/33, and the read says it is gone too
        assert not record.possible_duplicate


def test_a_refused_delete_keeps_the_flag(httpx_mock: HTTPXMock, specs: NodeSpecs) -> None:
    clock = VirtualClock()
    page = Page(httpx_mock, clock, specs)
    with _dispatcher(clock, EventRecorder()) as dispatcher:
        record_id, extra = _flagged(dispatcher, page, clock)
        page.refuse_deletes = True
        with pytest.raises(Forbidden, match="Permissions error"):
            dispatcher.remove_duplicate(record_id)
        assert dispatcher.store.record(record_id).possible_duplicate
        assert extra in [p["id"] for p in page.posts]


def test_a_code_100_for_a_post_still_there_is_not_taken_for_gone(
    httpx_mock: HTTPXMock, specs: NodeSpecs
) -> None:
    """100/33 also means "cannot be loaded due to missing permissions": the read decides."""
    clock = VirtualClock()
    page = Page(httpx_mock, clock, specs)
    with _dispatcher(clock, EventRecorder()) as dispatcher:
        record_id, extra = _flagged(dispatcher, page, clock)
        page.unloadable = True  # the token may read the post but not delete it
        with pytest.raises(Permanent, match="Unsupported delete request"):
            dispatcher.remove_duplicate(record_id)
        assert dispatcher.store.record(record_id).possible_duplicate
        assert extra in [p["id"] for p in page.posts]


def test_instagram_lists_every_copy_but_cannot_delete(httpx_mock: HTTPXMock) -> None:
    """The Instagram API has no delete for published media: the copy is named for removal by hand."""
    graph = Graph(ROOT)
    ig = "17841400000000001"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    listing = [{"id": f"179{n}", "caption": "Fresh bread", "timestamp": stamp} for n in (3, 2, 1)]
    httpx_mock.add_response(url=graph.url(f"{ig}/media"), json={"data": listing})
    for n in (1, 2, 3):
        httpx_mock.add_response(
            url=graph.url(f"179{n}"), json={"permalink": f"https://www.instagram.com/p/{n}/"}
        )
    channel = InstagramChannel(ig_user_id=ig, token="EAAig-token-1")
    post = Post(text="Fresh bread", media=[Media.from_url("https://cdn.example/bread.jpg")])
    result = lookup(channel, post)
    assert isinstance(result, Found)
    assert [c.platform_id for c in result.copies] == ["1791", "1792", "1793"]
    assert not channel.capabilities.deletes


def test_the_delete_request_matches_the_spec(specs: NodeSpecs) -> None:
    channel = FacebookChannel(page_id=PAGE, token="EAApage-token-1", app_secret="s3cret-app")
    request = channel.remove(f"{PAGE}_9")
    specs.check(request, "PagePost", None)
    assert request.method == "DELETE"
    assert str(request.url).startswith(f"{ROOT}/{PAGE}_9?appsecret_proof=")
    assert "access_token" not in request.url.params  # the token goes in the header
