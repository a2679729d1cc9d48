"""The worker checks credentials on a schedule: a token about to lapse is announced to a
shop that only runs ``unipost worker``; workers sharing an outbox take turns."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import attrs
import pytest

from unipost import Dispatcher
from unipost.api import build_dispatcher
from unipost.config import Config, parse_config
from unipost.credentials import DAY, CredentialStatus, Expiry
from unipost.errors import AuthFailed, ConfigurationError
from unipost.plugin import Context
from unipost.sqlite_store import SQLiteStore
from unipost.testing import EventRecorder, FakeChannel, VirtualClock


@attrs.frozen(kw_only=True)
class Expiring(FakeChannel):
    """A Page token that lapses in two days, checked against the dispatcher's clock."""

    async def check(self, ctx: Context) -> CredentialStatus:
        self.server.checks_at.append(ctx.now())
        lapse = Expiry(credential="page token", at=ctx.now() + 2 * DAY)
        return CredentialStatus(summary="fake page", expiries=(lapse,))


@attrs.frozen(kw_only=True)
class Revoked(FakeChannel):
    async def check(self, ctx: Context) -> str:
        self.server.checks_at.append(ctx.now())
        raise AuthFailed("401 the token was revoked", status=401)


def _worker(store: SQLiteStore, clock: VirtualClock, recorder: EventRecorder) -> Dispatcher:
    return Dispatcher(
        channels={"page": Expiring(id="page"), "old": Revoked(id="old")},
        store=store,
        clock=clock,
        observers=[recorder],
        credential_check_every=DAY,
    )


def test_two_workers_on_one_outbox_check_once_a_day_between_them(tmp_path: Path) -> None:
    clock, recorder = VirtualClock(), EventRecorder()
    first = _worker(SQLiteStore(tmp_path / "outbox.sqlite3"), clock, recorder)
    second = _worker(SQLiteStore(tmp_path / "outbox.sqlite3"), clock, recorder)

    async def two_days() -> None:
        async with first.worker(poll=60), second.worker(poll=60):
            await clock.sleep(2 * DAY + 600)

    try:
        asyncio.run(two_days())
    finally:
        first.close()
        second.close()
    pages = first.channels["page"].server.checks_at + second.channels["page"].server.checks_at
    assert len(pages) == 3  # at start, after one day, after two: never twice in a round
    assert sorted(round(t - pages[0]) for t in pages) == [0, DAY, 2 * DAY]
    expiring = recorder.of("credential.expiring")
    assert [e.channel for e in expiring] == ["page"] * 3
    assert expiring[0].fields["days_left"] == pytest.approx(2.0)
    failed = recorder.of("credential.check_failed")
    assert [(e.channel, e.fields["error_class"]) for e in failed] == [("old", "auth")] * 3
    assert "revoked" in failed[0].fields["reason"]


def test_unipost_toml_turns_the_checks_on_by_default_and_off_with_zero(tmp_path: Path) -> None:
    base = '[outbox]\npath = "memory"\n'

    def config(text: str) -> Config:
        return parse_config(tomllib.loads(text), project=tmp_path)

    assert config(base).credential_check_hours == 24.0
    with build_dispatcher(config(base)) as dispatcher:
        assert dispatcher.credential_check_every == 24 * 3600
    with build_dispatcher(config(base + "[credentials]\ncheck_hours = 0\n")) as dispatcher:
        assert dispatcher.credential_check_every is None
    with pytest.raises(ConfigurationError, match=r"credentials\.check_hours") as caught:
        config(base + '[credentials]\ncheck_hours = "daily"\n')
    assert "check_hours = 24" in str(caught.value)
