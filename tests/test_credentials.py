"""Credential lifecycle in the core: expiry warnings, the shared re-authorization, bulk retry.

The virtual clock makes "5 days before" exact. Two dispatchers on one SQLite
file stand for two processes (a worker and ``unipost outbox retry --blocked-by``).
The whole story through the real CLI, against a fake Graph API, is in
``plugins/unipost-meta/tests/test_credential_lifecycle.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import attrs
import pytest

from unipost import Dispatcher, Post, State
from unipost.config import parse_config
from unipost.credentials import DAY, CredentialStatus, Expiry, expiry_warnings
from unipost.errors import AuthFailed, ConfigurationError
from unipost.plugin import Context
from unipost.sqlite_store import SQLiteStore
from unipost.testing import EventRecorder, FakeChannel, FakeServer, VirtualClock, fake_channel

NOW = 1_800_000_000.0


@attrs.frozen(kw_only=True)
class ExpiringChannel(FakeChannel):
    """A fake whose check tells when its token and refresh token lapse."""

    token_expires_at: float = NOW + 5 * DAY

    async def check(self, ctx: Context) -> CredentialStatus:
        return CredentialStatus(
            summary="shop account",
            expiries=(
                Expiry(credential="refresh token", at=self.token_expires_at, source="test"),
                Expiry(credential="access token", at=ctx.now() + 3600, renewable=True),
            ),
        )


def dispatcher(channel: FakeChannel, **settings: Any) -> tuple[Dispatcher, EventRecorder]:
    recorder = EventRecorder()
    made = Dispatcher(
        channels={channel.id: channel},
        store=settings.pop("store"),
        clock=VirtualClock(NOW),
        observers=[recorder],
        **settings,
    )
    return made, recorder


# -- warnings ---------------------------------------------------------------------------


def test_only_what_a_person_must_renew_within_the_window_is_warned_about() -> None:
    status = CredentialStatus(
        summary="s",
        expiries=(
            Expiry(credential="data access", at=NOW + 30 * DAY),
            Expiry(credential="access token", at=NOW + 1 * DAY, renewable=True),
            Expiry(credential="user token", at=NOW + 5 * DAY),
            Expiry(credential="old token", at=NOW - DAY),
        ),
    )
    warnings = expiry_warnings("fb", status, now=NOW, warn_days=7)
    assert [(w.expiry.credential, w.event) for w in warnings] == [
        ("old token", "credential.expired"),
        ("user token", "credential.expiring"),
    ]
    assert warnings[0].message().startswith("the old token expired 2027-01-14 08:00 UTC")
    assert warnings[1].fields()["days_left"] == 5.0
    assert status.lapses() == status.expiries[0], "sorted by time: the old token first"
    assert expiry_warnings("fb", status, now=NOW, warn_days=0) == warnings[:1]


def test_check_emits_the_warning_event_five_days_ahead(tmp_path: Path) -> None:
    channel = ExpiringChannel(id="shop")
    made, events = dispatcher(channel, store=SQLiteStore(tmp_path / "o.sqlite3"))
    with made:
        status = made.check_credentials("shop")
        [event] = events.of("credential.expiring")
        assert event.channel == "shop"
        assert event.fields == {
            "credential": "refresh token",
            "expires_at": NOW + 5 * DAY,
            "days_left": 5.0,
            "source": "test",
        }
        assert made.check("shop") == (
            "shop account; access token expires in 60 min (renewed automatically); "
            "refresh token expires in 5 days"
        )
        assert status.lapses() is not None
    quiet, events = dispatcher(
        channel, store=SQLiteStore(tmp_path / "o.sqlite3"), credential_warn_days=3
    )
    with quiet:
        quiet.check_credentials("shop")
    assert events.of("credential.expiring") == []


def test_warn_days_is_read_from_unipost_toml_and_checked() -> None:
    site = {"channels": {"site": {"type": "site"}}}
    assert parse_config(site).credential_warn_days == 7.0
    assert parse_config({**site, "credentials": {"warn_days": 14}}).credential_warn_days == 14.0
    with pytest.raises(ConfigurationError, match=r"credentials.warn_days.*0 or more"):
        parse_config({**site, "credentials": {"warn_days": -1}})
    with pytest.raises(ConfigurationError, match=r"credentials\.warn_day"):
        parse_config({**site, "credentials": {"warn_day": 3}})


# -- blocked records and the bulk retry -------------------------------------------------


def expired_token(n: int) -> list[Any]:
    return [AuthFailed("HTTP 401: the access token has expired", status=401) for _ in range(n)]


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


def test_a_reauthorization_in_another_process_frees_the_worker_that_saw_the_block(
    outbox: Path,
) -> None:
    """The worker remembers the refused credential in memory; the operator's bulk retry
    runs in another process. The shared mark lifts the worker's block too."""
    server = FakeServer(script=expired_token(1))
    clock = VirtualClock(NOW)

    def process() -> Dispatcher:
        channel = fake_channel("social", domain="social.example", server=server)
        return Dispatcher(channels={"social": channel}, store=SQLiteStore(outbox), clock=clock)

    worker, operator = process(), process()
    try:
        for n in range(3):
            worker.enqueue(Post(text=f"post {n}", id=f"p{n}"), "social")
        asyncio.run(worker.arun_due())
        assert len(server.attempts) == 1, "one 401; the other two never reached the platform"
        blocked = operator.blocked("social")
        assert [r.state for r in blocked] == [State.BLOCKED] * 3
        assert "social" in worker.engine.blocked_accounts

        clock.advance(3600)
        assert operator.reauthorize("social") == 3
        assert operator.blocked("social") == []
        asyncio.run(worker.arun_due())
        assert worker.engine.blocked_accounts == {}
        assert sorted(server.posts) == sorted({key for _c, key in server.attempts[1:]})
        assert len(server.attempts) == 4, "the 401, then each post once"
        assert len(server.posts) == 3
        for n in range(3):
            assert worker.report(f"p{n}").ok
        assert operator.reauthorize("social") == 0
    finally:
        worker.close()
        operator.close()


def test_records_that_expired_while_blocked_are_retried_with_a_new_ttl(outbox: Path) -> None:
    server = FakeServer(script=expired_token(1))
    clock = VirtualClock(NOW)
    channel = fake_channel("social", domain="social.example", server=server)
    with Dispatcher(channels={"social": channel}, store=SQLiteStore(outbox), clock=clock) as made:
        made.enqueue(Post(text="weekend offer", id="w1", ttl=dt.timedelta(hours=1)), "social")
        asyncio.run(made.arun_due())
        clock.advance(7200)  # the owner re-authorizes after the post's TTL
        asyncio.run(made.arun_due())
        [record] = made.store.query(post_id="w1")
        assert (record.state, record.last_class) == (State.EXPIRED, "auth")
        assert [r.id for r in made.blocked("social")] == [record.id]
        assert made.reauthorize("social") == 1
        asyncio.run(made.arun_due())
        assert made.report("w1").ok
        assert len(server.posts) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["outbox", "retry"],
        ["outbox", "retry", "rec-1", "--blocked-by", "site"],
        ["outbox", "retry", "--blocked-by", "nowhere"],
        ["outbox", "list", "--blocked-by", "nowhere"],
    ],
)
def test_retry_takes_one_record_or_one_channel(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    from unipost.cli import USAGE_ERROR, main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.setenv("UNIPOST_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    assert main(argv) == USAGE_ERROR
    assert capsys.readouterr().err.startswith("unipost: ")
