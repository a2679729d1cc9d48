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
