"""The shared-state contract over every home: in-process, the SQLite and PostgreSQL outboxes, Redis.

Each test opens two handles on one state, as two processes would; the Redis
tests run the real Lua scripts on a real redis-server.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from unipost.breaker import Admission, BreakerData, BreakerSettings, BreakerState, step
from unipost.channel import Limit
from unipost.postgres_store import PostgresStore
from unipost.redis_state import RedisState
from unipost.shared_state import LocalState, SharedState
from unipost.sqlite_store import SQLiteStore
from unipost.testing import EventRecorder
from unipost.testing.servers import PostgresServer, RedisServer, free_port

NOW = 1_800_000_000.0
CFG = BreakerSettings()
Handles = Callable[[], SharedState]


@pytest.fixture(params=["local", "sqlite", "postgres", "redis"])
def handle(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Handles]:
    """``handle()`` opens one more view of the same state (a process's)."""
    closers: list[Callable[[], None]] = []
    if request.param == "local":
        local = LocalState()

        def open_local() -> SharedState:
            return local

        yield open_local
        return
    if request.param == "sqlite":

        def open_sqlite() -> SharedState:
            store = SQLiteStore(tmp_path / "o.db")
            closers.append(store.close)
            return store.shared_state

        yield open_sqlite
    elif request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        schema = "s_" + uuid.uuid4().hex[:12]

        def open_postgres() -> SharedState:
            store = PostgresStore(server.url, schema=schema, pool_size=4)
            closers.append(store.close)
            return store.shared_state

        yield open_postgres
    else:
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        prefix = "s" + uuid.uuid4().hex[:12]

        def open_redis() -> SharedState:
            state = RedisState(redis_server.url, prefix=prefix)
            closers.append(state.close)
            return state

        yield open_redis
    for close in closers:
        close()


def _fail(state: SharedState, domain: str, now: float) -> BreakerData:
    return state.breaker_step(domain, "fail", now, CFG)[1]


def test_failures_from_two_processes_open_one_breaker(handle: Handles) -> None:
    a, b = handle(), handle()
    for i in range(3):
        _fail(a, "meta", NOW + i)
    _fail(b, "meta", NOW + 3)
    before, after, answer = b.breaker_step("meta", "fail", NOW + 4, CFG)
    assert (before.state, after.state, answer) == (BreakerState.CLOSED, BreakerState.OPEN, None)
    assert after.open_until == NOW + 4 + CFG.open_base
    for state in (a, b):
        assert state.breaker_step("meta", "allow", NOW + 5, CFG)[2] is Admission.REFUSED
        assert state.breaker("meta").state is BreakerState.OPEN
    assert set(a.breakers()) == {"meta"}
    assert a.breaker_step("other", "allow", NOW, CFG)[2] is Admission.TRIAL  # never proven up


def test_a_cold_start_of_many_processes_sends_at_most_the_threshold(handle: Handles) -> None:
    """#14.14: ten processes starting at once on a down platform: five send, five wait."""
    states = [handle() for _ in range(3)]
    answers: dict[str, Admission | None] = {}
    lock = threading.Lock()
    trial = Admission.TRIAL.verdict_arg

    def ask(state: SharedState, claimants: list[str]) -> None:
        for who in claimants:
            answer = state.breaker_step("m", "allow", NOW, CFG, 0.0, who)[2]
            with lock:
                answers[who] = answer

    names = [f"process-{n}" for n in range(10)]
    threads = [
        threading.Thread(target=ask, args=(state, names[i::3])) for i, state in enumerate(states)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    senders = [who for who, answer in answers.items() if answer is Admission.TRIAL]
    assert len(senders) == CFG.failure_threshold
    assert list(answers.values()).count(Admission.WAIT) == 10 - CFG.failure_threshold
    # A sender's own fan-out goes together; a waiting process still waits.
    waiting = next(who for who in names if who not in senders)
    assert states[0].breaker_step("m", "allow", NOW, CFG, 0.0, senders[0])[2] is Admission.TRIAL
    assert states[0].breaker_step("m", "allow", NOW, CFG, 0.0, waiting)[2] is Admission.WAIT
    # One fails: nothing more is sent while the others are in flight; their failures open it.
    states[1].breaker_step("m", "fail", NOW + 1, CFG, trial, senders[0])
    assert states[2].breaker_step("m", "allow", NOW + 1, CFG, 0.0, waiting)[2] is Admission.REFUSED
    for who in senders:  # the first sender's second request, then the others
        states[2].breaker_step("m", "fail", NOW + 2, CFG, trial, who)
    assert states[0].breaker("m").state is BreakerState.OPEN  # 6 requests from 5 processes
    assert states[0].breaker("m").trials == ()


def test_a_success_proves_the_domain_up_for_a_window_and_frees_every_request(
    handle: Handles,
) -> None:
    a, b = handle(), handle()
    trial = Admission.TRIAL.verdict_arg
    assert a.breaker_step("m", "allow", NOW, CFG, 0.0, "a")[2] is Admission.TRIAL
    a.breaker_step("m", "ok", NOW + 1, CFG, trial, "a")
    assert b.breaker("m").trials == ()
    assert b.breaker("m").proven_until == NOW + 1 + CFG.window
    assert all(
        b.breaker_step("m", "allow", NOW + 2, CFG, 0.0, f"p{n}")[2] is Admission.ALLOWED
        for n in range(20)
    )
    # A success renews the proof only once half of it has passed (few writes when healthy).
    assert a.breaker_step("m", "ok", NOW + 10, CFG)[1].proven_until == NOW + 1 + CFG.window
    renewed = a.breaker_step("m", "ok", NOW + 40, CFG)[1]
    assert renewed.proven_until == NOW + 40 + CFG.window
    # Past the proof, senders are trials again; a process that died frees its place in time.
    for n in range(CFG.failure_threshold):
        assert b.breaker_step("m", "allow", NOW + 200, CFG, 0.0, f"p{n}")[2] is Admission.TRIAL
    assert b.breaker_step("m", "allow", NOW + 200, CFG, 0.0, "late")[2] is Admission.WAIT
    later = NOW + 200 + CFG.probe_lease
    assert b.breaker_step("m", "allow", later, CFG, 0.0, "late")[2] is Admission.TRIAL


def test_one_probe_at_a_time_across_processes(handle: Handles) -> None:
    states = [handle() for _ in range(3)]
    for _ in range(5):
        _fail(states[0], "m", NOW)
    later = NOW + CFG.open_base
    answers: list[Admission | None] = []
    lock = threading.Lock()

    def ask(state: SharedState) -> None:
        for _ in range(15):
            answer = state.breaker_step("m", "allow", later, CFG)[2]
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=ask, args=(s,)) for s in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(Admission.PROBE) == 1
    assert states[1].breaker("m").state is BreakerState.HALF_OPEN
    # The probe's process died: after the probe lease another one may probe.
    assert states[2].breaker_step("m", "allow", later + CFG.probe_lease, CFG)[2] is Admission.PROBE


def test_the_probes_verdict_closes_or_reopens_for_longer(handle: Handles) -> None:
    a, b = handle(), handle()
    for _ in range(5):
        _fail(a, "m", NOW)
    assert b.breaker_step("m", "allow", NOW + 30, CFG)[2] is Admission.PROBE
    reopened = b.breaker_step("m", "fail", NOW + 31, CFG, 1.0)[1]
    assert (reopened.state, reopened.open_until) == (BreakerState.OPEN, NOW + 31 + 60)
    assert a.breaker_step("m", "allow", NOW + 91, CFG)[2] is Admission.PROBE
    before, after, _ = a.breaker_step("m", "ok", NOW + 92, CFG, 1.0)
    assert (before.state, after.state) == (BreakerState.HALF_OPEN, BreakerState.CLOSED)
    assert b.breaker_step("m", "allow", NOW + 92, CFG)[2] is Admission.ALLOWED


def test_isolate_and_reset_reach_every_process(handle: Handles) -> None:
    a, b = handle(), handle()
    a.breaker_step("m", "isolate", NOW, CFG, NOW + 600)
    assert b.breaker("m").state is BreakerState.ISOLATED
    assert b.breaker_step("m", "allow", NOW + 10, CFG)[2] is Admission.REFUSED
    b.breaker_step("m", "reset", NOW + 10, CFG)
    assert a.breaker("m") == BreakerData()


def test_a_feeds_advice_reaches_every_process_and_a_green_feed_leaves_it_open(
    handle: Handles,
) -> None:
    """The poller in the worker pre-opens; a publishing process sees it and skips inline."""
    a, b = handle(), handle()
    note = "Meta reports a major outage of the Graph API"
    before, after, _ = a.breaker_step("meta", "advise_major", NOW, CFG, NOW - 60, note)
    assert (before.state, after.state) == (BreakerState.CLOSED, BreakerState.OPEN)
    seen = b.breaker("meta")
    assert (seen.advisory, seen.advisory_note, seen.advisory_since) == ("major", note, NOW - 60)
    later = NOW + CFG.open_base + 1
    assert b.breaker_step("meta", "allow", later, CFG, 1.0)[2] is Admission.REFUSED  # inline
    a.breaker_step("meta", "advise_ok", later, CFG)
    assert b.breaker("meta").state is BreakerState.OPEN
    assert b.breaker("meta").advisory == ""
    assert b.breaker_step("meta", "allow", later, CFG, 1.0)[2] is Admission.PROBE
    b.breaker_step("meta", "ok", later + 1, CFG, 1.0)
    assert a.breaker("meta").state is BreakerState.CLOSED


def test_a_budget_is_never_overdrawn(handle: Handles) -> None:
    states = [handle() for _ in range(2)]
    paid: list[bool] = []
    lock = threading.Lock()

    def spend(state: SharedState) -> None:
        for _ in range(8):
            ok = state.budget_spend("meta", 5, 50)
            with lock:
                paid.append(ok)

    threads = [threading.Thread(target=spend, args=(states[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert paid.count(True) == 10
    assert states[0].budget_tokens("meta", 50) == 0
    states[1].budget_credit("meta", 7, 50)
    assert states[0].budget_tokens("meta", 50) == 7
    states[1].budget_credit("meta", 500, 50)
    assert states[0].budget_tokens("meta", 50) == 50
    assert states[0].budget_tokens("other", 50) == 50


def test_not_before_only_moves_later(handle: Handles) -> None:
    a, b = handle(), handle()
    a.push_not_before("acct", NOW + 60)
    b.push_not_before("acct", NOW + 10)
    assert b.not_before("acct") == NOW + 60
    assert a.not_before("nobody") == 0.0


# -- Redis only: the Lua is the rule, and Redis may go away --------------------------------


def test_the_lua_breaker_is_the_python_breaker_step_by_step(redis_server: RedisServer) -> None:
    """400 random operations through Lua and through :func:`step` give the same data."""
    rng = random.Random(19)
    state = RedisState(redis_server.url, prefix="p" + uuid.uuid4().hex[:12])
    data = BreakerData()
    now = NOW
    ops = ["allow"] * 6 + ["ok"] * 3 + ["fail"] * 4 + ["none", "isolate", "reset"]
    ops += ["advise_major", "advise_minor", "advise_ok"]  # a status feed's word
    try:
        for n in range(600):
            now += rng.choice([0.25, 1.0, 3.0, 20.0, 45.0])
            op = rng.choice(ops)
            arg = {"isolate": now + 100.0}.get(op, float(rng.random() < 0.5))
            if op.startswith("advise_"):
                arg = rng.choice([0.0, now - 90.0])
            note = f"Meta reports {op} ({n})" if op != "advise_ok" else ""
            data, expected = step(data, op, now, CFG, arg, note)
            _, after, answer = state.breaker_step("d", op, now, CFG, arg, note)
            assert (after, answer) == (data, expected), (n, op)
    finally:
        state.close()


def test_a_shared_token_bucket_counts_every_worker(redis_server: RedisServer) -> None:
    prefix = "b" + uuid.uuid4().hex[:12]
    a, b = (RedisState(redis_server.url, prefix=prefix) for _ in range(2))
    limit = Limit(rate=2, per=1.0)
    try:
        assert a.acquire("acct", limit, NOW) == 0.0
        assert b.acquire("acct", limit, NOW) == 0.0
        assert a.acquire("acct", limit, NOW) == pytest.approx(0.5)
        assert b.acquire("acct", limit, NOW + 0.5) == 0.0
        b.push_not_before("acct", NOW + 100)
        assert a.acquire("acct", limit, NOW + 10, take=False) == pytest.approx(90)
    finally:
        a.close()
        b.close()


def test_unreachable_redis_falls_back_to_local_state_says_so_and_recovers() -> None:
    port = free_port()
    recorder = EventRecorder()
    state = RedisState(
        f"redis://127.0.0.1:{port}/0", observers=[recorder], timeout=0.2, retry_interval=0.0
    )
    try:
        for _ in range(5):  # deliveries go on, on this process's own breaker
            answer = state.breaker_step("m", "allow", NOW, CFG)[2]
            assert answer in (Admission.TRIAL, Admission.SINGLE)
            assert answer is not None
            state.breaker_step("m", "fail", NOW, CFG, answer.verdict_arg)
        assert state.breaker_step("m", "allow", NOW + 1, CFG)[2] is Admission.REFUSED
        assert state.budget_spend("m", 5, 50)
        state.push_not_before("acct", NOW + 5)
        assert state.not_before("acct") == NOW + 5
        assert state.degraded
        names = [e.name for e in recorder.events]
        assert names == ["shared_state.degraded"]
        assert "delivery goes on" in recorder.events[0].fields["message"]
        server = RedisServer().start(port=port)
        try:
            assert state.breaker_step("m", "allow", NOW + 2, CFG)[2] is Admission.TRIAL
            assert not state.degraded
            assert [e.name for e in recorder.events][-1] == "shared_state.restored"
        finally:
            server.stop()
    finally:
        state.close()


def test_outbox_shared_state_puts_breakers_in_redis_and_records_in_the_outbox(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from unipost.config import parse_config
    from unipost.store_proxy import DelegatingStore

    config = parse_config(
        {"outbox": {"path": str(tmp_path / "o.db"), "shared_state": redis_server.url}}
    )
    store = config.store()
    try:
        assert isinstance(store, DelegatingStore)
        assert isinstance(store.inner, SQLiteStore)
        assert isinstance(store.shared_state, RedisState)
        assert store.location == str(tmp_path / "o.db")
        for _ in range(5):
            _fail(store.shared_state, "cfg-domain", NOW)
        other = RedisState(redis_server.url)
        assert other.breaker("cfg-domain").state is BreakerState.OPEN
        other.breaker_step("cfg-domain", "reset", NOW, CFG)
        other.close()
    finally:
        store.close()
