"""Shared fixtures: virtual time, fake channels, an isolated plugin host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from unipost import Dispatcher, MemoryStore
from unipost.redact import forget_secrets
from unipost.testing import EventRecorder, FakeServer, VirtualClock, fake_channel
from unipost.testing.servers import PostgresServer, RedisServer


@pytest.fixture(autouse=True)
def _fresh_secrets() -> Iterator[None]:
    yield
    forget_secrets()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def make_dispatcher(clock: VirtualClock, recorder: EventRecorder) -> Iterator[object]:
    """Build a dispatcher over fake channels: ``make_dispatcher(a=FakeServer(), b=...)``."""
    made: list[Dispatcher] = []

    def build(store: object | None = None, **servers: FakeServer) -> Dispatcher:
        channels = {
            name: fake_channel(name, server=server, domain=name) for name, server in servers.items()
        }
        dispatcher = Dispatcher(
            channels=channels,
            store=store or MemoryStore(),
            clock=clock,
            observers=[recorder],
            seed=7,
        )
        made.append(dispatcher)
        return dispatcher

    yield build
    for dispatcher in made:
        dispatcher.close()


# -- real servers on 127.0.0.1 (started once per session, only when a test asks) ----------

_CI = Path(__file__).resolve().parent.parent / "scripts" / "ci"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (installed by scripts/ci/install-postgres.sh if missing)."""
    # Durability of the test cluster itself is not under test: no fsync, so commits are cheap.
    settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    server = PostgresServer(installer=_CI / "install-postgres.sh", settings=settings).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A throwaway redis-server (installed by scripts/ci/install-redis.sh if missing)."""
    server = RedisServer(installer=_CI / "install-redis.sh").start()
    yield server
    server.stop()
