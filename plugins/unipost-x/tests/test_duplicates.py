"""#14.5 on X: a create whose answer was lost lands after the resend; the second look lists
every post with the text since the first attempt, flags the later one, and
``DELETE /2/tweets/:id`` removes it when a person asks (checked against the spec)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from unipost_x import XChannel

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.errors import UsageError
from unipost.plugin import Found
from unipost.testing import VirtualClock, lookup

from .conftest import ERRORS, SPEC, TOKEN

ME = "2244994945"
VERIFY_AFTER = 600.0
NOT_FOUND: dict[str, Any] = ERRORS["post_not_found"]["body"]


def deleted_id(request: httpx.Request) -> str:
    """The id of a ``deletePosts`` request, checked against its path parameter's schema
    (``OpenAPI.validate`` checks query and body, not the path)."""
    assert SPEC.validate(request) == "deletePosts"
    _template, operation = SPEC.operation(request)
    [parameter] = [p for p in operation["parameters"] if p["in"] == "path"]
    schema = SPEC.spec["components"]["schemas"][parameter["schema"]["$ref"].rsplit("/", 1)[-1]]
    value = request.url.path.rsplit("/", 1)[-1]
    assert re.fullmatch(schema["pattern"], value), f"{value!r} is not a {parameter['name']}"
    return value


def _stamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Timeline:
    """The account on pytest-httpx: creates (one may land late, unanswered), the timeline
    since ``start_time`` newest first, and deletes validated against the stored spec."""

    def __init__(self, httpx_mock: HTTPXMock, clock: VirtualClock) -> None:
        self.clock = clock
        self.posts: list[dict[str, Any]] = []  # oldest first
        self.land_later: list[float] = []
        self.landing: list[tuple[float, str]] = []
        self.creates = 0
        self.deletes: list[str] = []
        self.missing_answer = "404"  # or "errors": how a delete of a missing post is answered
        httpx_mock.add_callback(self.handle, is_reusable=True, is_optional=True)

    def add(self, text: str, at: float) -> dict[str, Any]:
        post = {"id": str(1_870_000_000_000_000_000 + len(self.posts) + len(self.deletes))}
        post |= {"text": text, "created_at": _stamp(at)}
        self.posts.append(post)
        return post

    def handle(self, request: httpx.Request) -> httpx.Response:
        now = self.clock.now()
        for when, text in [item for item in self.landing if item[0] <= now]:
            self.landing.remove((when, text))
            self.add(text, when)
        operation = SPEC.validate(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        if operation == "getUsersMe":
            return httpx.Response(200, json={"data": {"id": ME, "username": "bakery"}})
        if operation == "createPosts":
            self.creates += 1
            text = json.loads(request.content)["text"]
            if self.land_later:
                self.landing.append((now + self.land_later.pop(0), text))
                raise httpx.ReadTimeout("no answer", request=request)
            return httpx.Response(200, json={"data": self.add(text, now)})
        if operation == "getUsersPosts":
            start = request.url.params["start_time"].replace("Z", "+00:00")
            since = dt.datetime.fromisoformat(start).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            listed = [p for p in reversed(self.posts) if p["created_at"] >= since]
            return httpx.Response(200, json={"data": listed, "meta": {"result_count": 1}})
        post_id = deleted_id(request)
        self.deletes.append(post_id)
        post = next((p for p in self.posts if p["id"] == post_id), None)
        if post is not None:
            self.posts.remove(post)
            return httpx.Response(200, json={"data": {"deleted": True}})
        problem = {**NOT_FOUND, "detail": NOT_FOUND["detail"].format(id=post_id)}
        if self.missing_answer == "404":
            return httpx.Response(404, json=problem)
        # DeletePostsResponse: data and a partial-error list of Problems, with HTTP 200
        del problem["status"]
        return httpx.Response(200, json={"data": {"deleted": False}, "errors": [problem]})


def _dispatcher(clock: VirtualClock) -> Dispatcher:
    channel = XChannel(access_token=TOKEN, username="bakery")
    return Dispatcher(
        channels={"x": channel}, store=MemoryStore(), clock=clock, verify_after=VERIFY_AFTER
    )


def _flagged(dispatcher: Dispatcher, timeline: Timeline, clock: VirtualClock) -> tuple[str, str]:
    timeline.land_later = [45.0]
    assert dispatcher.publish(Post(text="Open 9-5 today", id="hours"), "x", deadline=120).ok
    assert timeline.creates == 2
    dispatcher.drain(until=clock.now() + VERIFY_AFTER + 60)
    [record] = dispatcher.store.query(post_id="hours")
    assert record.possible_duplicate
    [copy] = record.extra["duplicates"]
    return record.id, str(copy["platform_id"])


def test_the_late_post_is_flagged_and_deleted_once_on_request(httpx_mock: HTTPXMock) -> None:
    clock = VirtualClock()
    timeline = Timeline(httpx_mock, clock)
    timeline.add("Open 9-5 today", clock.now() - 86_400)  # yesterday's: before start_time
    with _dispatcher(clock) as dispatcher:
        record_id, extra = _flagged(dispatcher, timeline, clock)
        [_yesterday, ours, late] = timeline.posts
        assert dispatcher.store.record(record_id).platform_id == ours["id"]
        assert extra == late["id"]
        assert timeline.deletes == []  # nothing is deleted on a guess
        record = dispatcher.remove_duplicate(record_id)
        assert timeline.deletes == [late["id"]]
        assert timeline.posts == [_yesterday, ours]
        assert not record.possible_duplicate
        assert record.state is State.DELIVERED
        with pytest.raises(UsageError, match="no extra copy"):
            dispatcher.remove_duplicate(record_id)
        assert timeline.deletes == [late["id"]]


@pytest.mark.parametrize("answer", ["404", "errors"])
def test_a_post_already_gone_counts_as_removed(httpx_mock: HTTPXMock, answer: str) -> None:
    clock = VirtualClock()
    timeline = Timeline(httpx_mock, clock)
    timeline.missing_answer = answer
    with _dispatcher(clock) as dispatcher:
        record_id, extra = _flagged(dispatcher, timeline, clock)
        timeline.posts = [p for p in timeline.posts if p["id"] != extra]  # deleted in the app
        assert not dispatcher.remove_duplicate(record_id).possible_duplicate
        assert timeline.deletes == [extra]


def test_the_lookup_lists_every_copy_oldest_first(httpx_mock: HTTPXMock) -> None:
    clock = VirtualClock()
    timeline = Timeline(httpx_mock, clock)
    copies = [timeline.add("Fresh bread", clock.now() + n) for n in (1, 30, 90)]
    timeline.add("Other news", clock.now() + 100)
    channel = XChannel(access_token=TOKEN, username="bakery")
    result = lookup(channel, Post(text="Fresh bread"), first_attempt_at=clock.now())
    assert isinstance(result, Found)
    assert [c.platform_id for c in result.copies] == [c["id"] for c in copies]
    assert result.receipt.url == f"https://x.com/bakery/status/{copies[0]['id']}"


def test_the_delete_request_matches_the_spec() -> None:
    build = XChannel(access_token=TOKEN).delete_request("1870000000000000001")
    assert deleted_id(build(TOKEN)) == "1870000000000000001"
    with pytest.raises(AssertionError, match="is not a id"):  # guard: a post id is numeric
        deleted_id(XChannel(access_token=TOKEN).delete_request("abc")(TOKEN))
