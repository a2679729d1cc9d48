"""X under the real dispatcher (virtual time, memory outbox): rate-limit headers feed the
limiter, and a 403 duplicate is reconciled by lookup instead of being retried."""

from __future__ import annotations

from pytest_httpx import HTTPXMock
from unipost_x import XChannel

import unipost
from unipost.testing import EventRecorder, VirtualClock

from .conftest import API, TOKEN


def dispatcher(recorder: EventRecorder, clock: VirtualClock) -> unipost.Dispatcher:
    channel = XChannel(access_token=TOKEN, username="bakery")
    return unipost.Dispatcher(
        channels={"x": channel},
        store=unipost.MemoryStore(),
        clock=clock,
        observers=[recorder],
        seed=1,
    )


def test_an_exhausted_window_makes_the_next_post_wait(httpx_mock: HTTPXMock) -> None:
    clock = VirtualClock()
    reset = int(clock.now()) + 900
    headers = {
        "x-rate-limit-limit": "100",
        "x-rate-limit-remaining": "0",
        "x-rate-limit-reset": str(reset),
    }
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/tweets",
        headers=headers,
        json={"data": {"id": "1", "text": "a"}},
    )
    recorder = EventRecorder()
    d = dispatcher(recorder, clock)
    try:
        first = d.publish(unipost.Post(text="a", id="a"), "x")
        second = d.publish(unipost.Post(text="b", id="b"), "x")
    finally:
        d.close()
    assert first.ok
    outcome = second["x"]
    assert outcome.state is unipost.State.RETRY_WAIT
    assert outcome.next_attempt_at == reset  # held until X's window resets, nothing sent
    assert len(httpx_mock.get_requests()) == 1


def test_a_duplicate_is_reconciled_by_lookup_not_resent(httpx_mock: HTTPXMock) -> None:
    """X says "duplicate content" (an earlier attempt did post): the dispatcher looks the post
    up among those made since the first attempt and delivers with it, sending nothing again."""
    clock = VirtualClock()
    httpx_mock.add_response(
        method="POST",
        url=f"{API}/2/tweets",
        status_code=403,
        json={
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
    )
    httpx_mock.add_response(
        url=f"{API}/2/users/me", json={"data": {"id": "2244994945", "username": "bakery"}}
    )
    httpx_mock.add_response(
        method="GET",
        url=(
            f"{API}/2/users/2244994945/tweets?start_time=2027-01-15T08%3A00%3A00Z"
            "&max_results=100&post.fields=created_at"
        ),
        json={
            "data": [
                {"id": "1870", "text": "Fresh bread", "created_at": "2027-01-15T08:00:00.400Z"}
            ],
            "meta": {"result_count": 1},
        },
        is_reusable=True,
    )
    recorder = EventRecorder()
    d = dispatcher(recorder, clock)
    try:
        report = d.publish(unipost.Post(text="Fresh bread", id="bread"), "x", deadline=600)
    finally:
        d.close()
    outcome = report["x"]
    assert outcome.state is unipost.State.DELIVERED, str(report)
    assert outcome.platform_id == "1870"
    assert outcome.url == "https://x.com/bakery/status/1870"
    assert len(httpx_mock.get_requests(method="POST")) == 1
    assert "reconcile.result" in recorder.names()
