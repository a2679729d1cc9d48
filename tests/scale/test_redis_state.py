"""Redis shared state against a real redis-server: the Lua scripts are what runs."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest

from unipost.breaker import Breaker, BreakerState
from unipost.channel import Limit
from unipost.redis_state import RedisState
from unipost.testing import EventRecorder
from unipost.testing.servers import RedisServer, free_port

NOW = 1_800_000_000.0
MakeState = Callable[..., RedisState]


@pytest.fixture
def make_state(redis_server: RedisServer) -> Iterator[MakeState]:
    """``make_state()``: a process's view of one shared Redis namespace (new per test)."""
    prefix = "t" + uuid.uuid4().hex[:12]
    made: list[RedisState] = []

    def build(**options: object) -> RedisState:
        made.append(RedisState(redis_server.url, prefix=prefix, **options))  # type: ignore[arg-type]
        return made[-1]

    yield build
    for state in made:
        state.close()


def test_five_failures_from_two_processes_open_the_breaker_for_both(make_state: MakeState) -> None:
    recorder = EventRecorder()
    a, b = make_state(observers=[recorder]), make_state()
    for i in range(3):
        assert a.breaker_allow("meta", NOW + i).allowed
        a.breaker_record("meta", NOW + i, ok=False)
    b.breaker_record("meta", NOW + 3, ok=False)
    assert b.breaker_record("meta", NOW + 4, ok=False) is BreakerState.OPEN
    for state in (a, b):
        verdict = state.breaker_allow("meta", NOW + 5)
        assert not verdict.allowed
        assert verdict.retry_at == pytest.approx(NOW + 4 + 30)
    shared, until = a.breaker_state("meta", NOW + 5)
    assert (shared, until) == (BreakerState.OPEN, NOW + 34)
    assert recorder.events == []  # b caused the transition: b reports it
    assert a.breaker_allow("other", NOW).allowed  # domains are separate


def test_one_probe_at_a_time_across_processes(make_state: MakeState) -> None:
    states = [make_state() for _ in range(4)]
    for _ in range(5):
        states[0].breaker_record("m", NOW, ok=False)
    later = NOW + 31
    granted: list[bool] = []
    lock = threading.Lock()

    def ask(state: RedisState) -> None:
        for _ in range(25):
            verdict = state.breaker_allow("m", later)
            with lock:
                granted.append(verdict.probe)

    threads = [threading.Thread(target=ask, args=(s,)) for s in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 1
    refused = states[1].breaker_allow("m", later)
    assert (refused.allowed, refused.retry_at) == (False, later + 1.0)


def test_a_failed_probe_reopens_for_twice_as_long_and_a_good_one_closes(
    make_state: MakeState,
) -> None:
    recorder = EventRecorder()
    a = make_state(observers=[recorder])
    b = make_state()
    for _ in range(5):
        a.breaker_record("m", NOW, ok=False)
    probe = b.breaker_allow("m", NOW + 30)
    assert probe.probe
    b.breaker_record("m", NOW + 31, ok=False, probe=True)
    shared, until = a.breaker_state("m", NOW + 31)
    assert (shared, until) == (BreakerState.OPEN, NOW + 91)
    assert not a.breaker_allow("m", NOW + 90).allowed
    again = a.breaker_allow("m", NOW + 91)
    assert again.probe
    assert a.breaker_record("m", NOW + 92, ok=True, probe=True) is BreakerState.CLOSED
    assert b.breaker_allow("m", NOW + 92).allowed
    moves = [(e.fields["from"], e.fields["to"]) for e in recorder.events]
    assert moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]


def test_a_probe_whose_process_died_is_given_to_another_after_its_lease(
    make_state: MakeState,
) -> None:
    a, b = make_state(probe_lease=30.0), make_state(probe_lease=30.0)
    for _ in range(5):
        a.breaker_record("m", NOW, ok=False)
    assert a.breaker_allow("m", NOW + 30).probe  # ... and a is killed before it answers
    assert not b.breaker_allow("m", NOW + 59).allowed
    assert b.breaker_allow("m", NOW + 60).probe


def test_a_failure_rate_of_half_over_ten_calls_opens(make_state: MakeState) -> None:
    state = make_state()
    for i in range(10):
        state.breaker_record("m", NOW + i, ok=i % 2 == 0)
    assert state.breaker_state("m", NOW + 10)[0] is BreakerState.OPEN


def test_isolate_and_reset_reach_every_process(make_state: MakeState) -> None:
    a, b = make_state(), make_state()
    a.breaker_isolate("m", NOW + 600)
    assert b.breaker_state("m", NOW) == (BreakerState.ISOLATED, NOW + 600)
    assert not b.breaker_allow("m", NOW + 10).allowed
    b.breaker_reset("m")
    assert a.breaker_allow("m", NOW + 10).allowed


def test_the_lua_breaker_follows_the_local_breaker_step_by_step(make_state: MakeState) -> None:
    """300 random steps on the in-process Breaker and on Redis give the same states.

    (The in-process probe never expires; the shared one does, tested above.)
    """
    rng = random.Random(19)
    state = make_state(probe_lease=1e9)
    local = Breaker(domain="m")
    now = NOW
    probe = False
    for step in range(300):
        now += rng.choice([0.5, 1.0, 3.0, 20.0, 40.0])
        action = rng.random()
        if action < 0.5:
            verdict = state.breaker_allow("m", now)
            assert verdict.allowed == local.allow(now), step
            probe = verdict.probe
        else:
            ok = rng.random() < 0.4 if action < 0.95 else None
            state.breaker_record("m", now, ok=ok, probe=probe)
            local.record(now, ok=ok, probe=probe)
            probe = False
        shared, until = state.breaker_state("m", now)
        assert shared is local.state, step
        if shared is BreakerState.OPEN:
            assert until == pytest.approx(local.open_until), step


def test_a_retry_budget_is_spent_once_across_processes(make_state: MakeState) -> None:
    states = [make_state(budget_settings={"capacity": 50}) for _ in range(3)]
    paid: list[bool] = []
    lock = threading.Lock()

    def spend(state: RedisState) -> None:
        for _ in range(10):
            ok = state.budget_spend("meta")
            with lock:
                paid.append(ok)

    threads = [threading.Thread(target=spend, args=(states[i % 3],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert paid.count(True) == 10  # 50 tokens at 5 each, never overdrawn
    assert states[0].budget_tokens("meta") == 0
    states[1].budget_credit("meta", retried=False)
    states[1].budget_credit("meta", retried=True, timeout=True)
    assert states[2].budget_tokens("meta") == 11
    assert states[2].budget_spend("meta")  # 11 ≥ 5: pays
    assert states[0].budget_tokens("other") == 50


def test_not_before_keeps_the_later_time(make_state: MakeState) -> None:
    a, b = make_state(), make_state()
    assert a.push_not_before("acct", NOW + 60) == NOW + 60
    assert b.push_not_before("acct", NOW + 10) == NOW + 60
    assert b.not_before("acct") == NOW + 60
    assert b.not_before("nobody") == 0.0


def test_a_shared_token_bucket_and_the_not_before_time(make_state: MakeState) -> None:
    a, b = make_state(), make_state()
    limit = Limit(rate=2, per=1.0)
    assert a.acquire("acct", limit, NOW) == 0.0
    assert b.acquire("acct", limit, NOW) == 0.0
    assert a.acquire("acct", limit, NOW) == pytest.approx(0.5)
    assert b.acquire("acct", limit, NOW + 0.5) == 0.0
    b.push_not_before("acct", NOW + 100)
    assert a.acquire("acct", limit, NOW + 10, take=False) == pytest.approx(90)


def test_unreachable_redis_falls_back_to_local_state_says_so_and_recovers(
    tmp_path: object,
) -> None:
    port = free_port()
    recorder = EventRecorder()
    state = RedisState(
        f"redis://127.0.0.1:{port}/0", observers=[recorder], timeout=0.2, retry_interval=0.0
    )
    try:
        for _ in range(5):  # deliveries go on, on this process's own breaker
            assert state.breaker_allow("m", NOW).allowed
            state.breaker_record("m", NOW, ok=False)
        assert not state.breaker_allow("m", NOW + 1).allowed
        assert state.budget_spend("m")
        assert state.push_not_before("acct", NOW + 5) == NOW + 5
        assert state.degraded
        names = [e.name for e in recorder.events]
        assert names.count("shared_state.degraded") == 1
        degraded = next(e for e in recorder.events if e.name == "shared_state.degraded")
        assert "delivery goes on" in degraded.fields["message"]
        server = RedisServer().start(port=port)
        try:
            assert state.breaker_allow("m", NOW + 2).allowed  # Redis's breaker: closed
            assert not state.degraded
            assert [e.name for e in recorder.events][-1] == "shared_state.restored"
        finally:
            server.stop()
    finally:
        state.close()
