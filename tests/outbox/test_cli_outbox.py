"""``unipost outbox`` and ``unipost worker`` against a real outbox file."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from unipost import Dispatcher, Post, State
from unipost.cli import main
from unipost.errors import Ambiguous, Transient
from unipost.sqlite_store import SQLiteStore
from unipost.testing import FakeServer, VirtualClock, fake_channel


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "unipost.toml"
    path.write_text(
        f'[outbox]\npath = "outbox.sqlite3"\n\n[channels.site]\ntype = "site"\n'
        f'directory = "{tmp_path / "site"}"\n',
        encoding="utf-8",
    )
    return path


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--config", str(config), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _seed(db: Path) -> tuple[str, str]:
    """One ambiguous record (NONE channel, timed out) and one failing one, in the file."""
    clock = VirtualClock(start=time.time())
    dispatcher = Dispatcher(
        channels={
            "tg": fake_channel("tg", server=FakeServer(script=[Ambiguous("read timeout")])),
            "down": fake_channel(
                "down", server=FakeServer(script=[Transient("HTTP 503", status=503)] * 50)
            ),
        },
        store=SQLiteStore(db),
        clock=clock,
    )
    dispatcher.publish(Post(id="offer", text="20% off"), ["tg", "down"], deadline=2)
    records = {r.channel: r.id for r in dispatcher.store.query(post_id="offer")}
    dispatcher.close()
    return records["tg"], records["down"]


def test_list_show_and_resolve_an_ambiguous_record(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    ambiguous, waiting = _seed(config.parent / "outbox.sqlite3")
    code, out, _ = _run(capsys, config, "--json", "outbox", "list", "--state", "ambiguous")
    assert code == 0
    assert [r["id"] for r in json.loads(out)] == [ambiguous]
    code, out, _ = _run(capsys, config, "outbox", "list", "--channel", "down")
    assert code == 0
    assert waiting in out
    assert "retry_wait" in out
    assert "1 record(s)" in out
    code, out, _ = _run(capsys, config, "outbox", "show", ambiguous)
    assert code == 0
    assert "state ambiguous, 1 attempt(s)" in out
    assert "#1" in out
    assert "read timeout" in out
    code, out, _ = _run(capsys, config, "--json", "outbox", "show", ambiguous)
    shown = json.loads(out)
    assert shown["state"] == "ambiguous"
    assert shown["log"][0]["error_class"] == "ambiguous"
    code, out, _ = _run(capsys, config, "outbox", "show", "offer")
    assert code == 0
    assert "post offer (revision 1)" in out
    assert "tg #1" in out
    code, out, _ = _run(
        capsys, config, "outbox", "resolve", ambiguous, "--delivered", "--url", "https://t.me/c/1"
    )
    assert code == 0
    assert "is now delivered" in out
    store = SQLiteStore(config.parent / "outbox.sqlite3")
    record = store.record(ambiguous)
    store.close()
    assert record.state is State.DELIVERED
    assert record.url == "https://t.me/c/1"


def test_retry_cancel_and_refusals(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    ambiguous, waiting = _seed(config.parent / "outbox.sqlite3")
    code, _, err = _run(capsys, config, "outbox", "retry", ambiguous)
    assert code == 2
    assert "settle it with resolve" in err
    assert "Traceback" not in err
    code, out, _ = _run(capsys, config, "outbox", "retry", waiting)
    assert code == 0
    assert "sent again" in out
    code, out, _ = _run(capsys, config, "outbox", "cancel", waiting)
    assert code == 0
    assert "cancelled 1 record(s)" in out
    code, _, err = _run(capsys, config, "outbox", "retry", "no-such-record")
    assert code == 1
    assert "no record no-such-record" in err


def test_publish_at_waits_for_its_time_and_the_worker_respects_it(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    code, out, _ = _run(
        capsys, config, "publish", "Doors open at nine", "--id", "doors", "--at", at
    )
    assert code == 0, "scheduled is not pending: it returns at once"
    assert f"scheduled for {dt.datetime.fromisoformat(at):%Y-%m-%d %H:%M:%S} UTC" in out
    code, out, _ = _run(capsys, config, "worker", "--once")
    assert code == 0
    code, out, _ = _run(capsys, config, "--json", "outbox", "list", "--post", "doors")
    [record] = json.loads(out)
    assert record["state"] == "pending"
    assert record["attempts"] == 0
    assert record["next_attempt_at"] == pytest.approx(dt.datetime.fromisoformat(at).timestamp())
    assert not (config.parent / "site").exists() or not any((config.parent / "site").rglob("*"))


def test_worker_once_delivers_what_is_due(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    store = SQLiteStore(config.parent / "outbox.sqlite3")
    store.close()
    code, _, _ = _run(capsys, config, "publish", "Fresh bread", "--id", "bread", "--deadline", "0")
    assert code in (0, 4)
    code, _, _ = _run(capsys, config, "worker", "--once")
    assert code == 0
    code, out, _ = _run(capsys, config, "--json", "outbox", "show", "bread")
    assert json.loads(out)["status"] == "succeeded"


@pytest.mark.parametrize("command", [["outbox", "list"], ["worker", "--once"]])
def test_a_corrupt_outbox_is_one_line_and_untouched(
    capsys: pytest.CaptureFixture[str], config: Path, command: list[str]
) -> None:
    db = config.parent / "outbox.sqlite3"
    db.write_bytes(b"\x00garbage, not SQLite\n" * 100)
    before = db.read_bytes()
    code, out, err = _run(capsys, config, *command)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "Traceback" not in err
    assert str(db) in err
    assert "left untouched" in err
    assert db.read_bytes() == before
