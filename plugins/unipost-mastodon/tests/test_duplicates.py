"""#14.5 end to end through the ``unipost`` command: a create that hung past both lookups
lands after the resend on a server that ignores Idempotency-Key; the worker's second
look flags the extra status and ``unipost outbox remove-duplicate`` deletes it, once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpx import HTTPXMock
from unipost_mastodon import MastodonChannel

from unipost import Post
from unipost.cli import main
from unipost.clock import SystemClock, set_default_clock
from unipost.plugin import Found
from unipost.testing import VirtualClock, delete, lookup

from .fake_instance import BASE, Instance
from .test_key_support import GOTOSOCIAL

VERIFY_AFTER = 300


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """One virtual clock shared by every command the test runs (each builds a dispatcher)."""
    shared = VirtualClock()
    set_default_clock(lambda: shared)
    try:
        yield shared
    finally:
        set_default_clock(SystemClock)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GTS_TOKEN", "gts-t0k3n-1234")
    path = tmp_path / "unipost.toml"
    path.write_text(
        f'[outbox]\npath = "outbox.sqlite3"\n\n[dispatch]\nverify_after = {VERIFY_AFTER}\n\n'
        f'[channels.m]\ntype = "mastodon"\ninstance = "{BASE}"\n'
        'token = { env = "GTS_TOKEN" }\n',
        encoding="utf-8",
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_late_copy_is_flagged_by_the_worker_and_removed_on_request(
    httpx_mock: HTTPXMock,
    clock: VirtualClock,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    server.add("Open 9-5 today", clock.now() - 86_400)  # yesterday's: never taken for this one
    server.land_later = [45.0]  # the first create: unanswered, applied after the resend

    code, out, err = _run(
        capsys, config, "publish", "Open 9-5 today", "--to", "m", "--id", "hours",
        "--deadline", "120",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert server.posts == 2  # two lookups proved it absent, then one resend
    assert server.listings == 2
    [_old, ours] = server.statuses
    assert ours["url"] in out
    code, out, _ = _run(capsys, config, "--json", "outbox", "list", "--post", "hours")
    [record] = json.loads(out)
    assert record["state"] == "delivered"

    clock.advance(60)  # the hung create lands meanwhile
    code, out, _ = _run(capsys, config, "worker", "--once")
    assert code == 0
    assert server.listings == 2  # the second look is not due yet
    clock.advance(VERIFY_AFTER)
    code, out, _ = _run(capsys, config, "worker", "--once")
    assert code == 0
    assert server.listings == 3  # one second look
    [_old, first, late] = server.statuses
    assert first["id"] == ours["id"]
    assert server.deletes == []  # nothing is deleted on a guess

    code, out, _ = _run(capsys, config, "outbox", "show", record["id"])
    assert code == 0
    assert (
        f"extra copy {late['url']}: remove it with `unipost outbox remove-duplicate "
        f"{record['id']}`" in out
    )
    code, out, _ = _run(capsys, config, "outbox", "show", "hours")
    assert f"duplicate: also at {late['url']}" in out

    code, out, err = _run(capsys, config, "outbox", "remove-duplicate", record["id"])
    assert code == 0, err
    assert f"removed the extra copy {late['url']}" in out
    assert server.deletes == [late["id"]]
    assert [s["id"] for s in server.statuses] == [_old["id"], ours["id"]]
    code, out, _ = _run(capsys, config, "outbox", "show", "hours")
    assert "duplicate" not in out

    code, out, err = _run(capsys, config, "outbox", "remove-duplicate", record["id"])
    assert code != 0
    assert "no extra copy left to remove" in err
    assert "Traceback" not in err + out
    assert server.deletes == [late["id"]]  # nothing sent the second time


def _flagged(
    server: Instance, clock: VirtualClock, config: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, dict[str, Any]]:
    """Publish with the first create landing late, then let the worker's second look flag it."""
    server.land_later = [45.0]
    code, _, err = _run(
        capsys, config, "publish", "Soup of the day: leek", "--to", "m", "--deadline", "120"
    )
    assert code == 0, err
    clock.advance(VERIFY_AFTER + 60)
    assert _run(capsys, config, "worker", "--once")[0] == 0
    code, out, _ = _run(capsys, config, "--json", "outbox", "list")
    [record] = json.loads(out)
    assert record["possible_duplicate"]
    return record["id"], server.statuses[-1]


def test_a_copy_already_deleted_by_hand_counts_as_removed(
    httpx_mock: HTTPXMock,
    clock: VirtualClock,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    record_id, late = _flagged(server, clock, config, capsys)
    server.statuses.remove(late)  # the owner deleted it in the web interface meanwhile
    code, out, err = _run(capsys, config, "outbox", "remove-duplicate", record_id)
    assert code == 0, err
    assert server.deletes == [late["id"]]  # answered 404 Record not found
    assert f"removed the extra copy {late['url']}" in out
    assert len(server.statuses) == 1


def test_a_refused_delete_keeps_the_flag_and_says_why(
    httpx_mock: HTTPXMock,
    clock: VirtualClock,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    record_id, late = _flagged(server, clock, config, capsys)
    server.refuse_deletes = True  # a token without write:statuses
    code, out, err = _run(capsys, config, "outbox", "remove-duplicate", record_id)
    assert code == 1
    assert "could not remove the extra copy: forbidden:" in err
    assert "This action is outside the authorized scopes" in err
    assert "unexpected" not in err
    assert "Traceback" not in err + out
    assert late in server.statuses
    code, out, _ = _run(capsys, config, "outbox", "show", record_id)
    assert f"extra copy {late['url']}: remove it with" in out


def test_the_lookup_lists_every_copy_the_first_created_first(
    httpx_mock: HTTPXMock, clock: VirtualClock
) -> None:
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    server.add("Open 9-5 today", clock.now() - 3600)  # before the first attempt
    copies = [server.add("Open 9-5 today", clock.now() + n) for n in (0, 40, 90)]
    server.add("Closed on Monday", clock.now() + 100)
    channel = MastodonChannel(instance=BASE, token="gts-t0k3n-1234")
    result = lookup(channel, Post(text="Open 9-5 today"), first_attempt_at=clock.now())
    assert isinstance(result, Found)
    assert [c.platform_id for c in result.copies] == [c["id"] for c in copies]
    assert result.receipt.url == copies[0]["url"]


def test_delete_flow_removes_one_status_and_takes_a_gone_one_as_removed(
    httpx_mock: HTTPXMock, clock: VirtualClock
) -> None:
    server = Instance(httpx_mock, clock, GOTOSOCIAL, honours_key=False)
    kept = server.add("Open 9-5 today", clock.now())
    extra = server.add("Open 9-5 today", clock.now() + 30)
    channel = MastodonChannel(instance=BASE, token="gts-t0k3n-1234")
    delete(channel, extra["id"])
    assert server.statuses == [kept]
    delete(channel, extra["id"])  # already gone (404): removed, as asked
    assert server.deletes == [extra["id"], extra["id"]]
    assert server.statuses == [kept]
