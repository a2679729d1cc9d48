"""Daily use of the ``unipost`` command, run as a person runs it: a new process per command.

Each test here is a symptom someone met at the terminal: another project's cached
result, read-only commands that asked for a token, a blank screen, JSON that was
not JSON, a traceback from ``| head -1``, a scheduled post that blocked.
"""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unipost import Dispatcher, Post
from unipost import plugins as plugin_host
from unipost.channels.site import SiteChannel
from unipost.cli import main
from unipost.sqlite_store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "examples" / "croissants.png"
HOOK_SECRET = "whsec_dGhpcnR5LXR3byBieXRlcyBvZiBzaWduaW5nIGtleSE="


def closed_port() -> int:
    """A loopback port nobody listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("UNIPOST_", "DAILY_")) and k not in ("COLUMNS", "LINES")
    }
    env["UNIPOST_LOAD_PLUGINS"] = ""  # the built-in channels only: fast, and no one's token
    env.update(extra)
    return env


def unipost(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "unipost", *args],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


HOOK_CONFIG = """
[channels.site]
type = "site"

[channels.hook]
type = "webhook"
url = {{ env = "DAILY_HOOK_URL" }}
secret = {{ env = "DAILY_HOOK_SECRET" }}

[routes]
default = "site"
rescue = {{ first_of = ["hook", "site"], patience = 1 }}
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A project whose webhook's variables are not set."""
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "unipost.toml").write_text(HOOK_CONFIG.format(), encoding="utf-8")
    return folder


# -- an outbox per project ------------------------------------------------------------------


def test_two_projects_with_the_same_id_each_get_their_own_delivery(tmp_path: Path) -> None:
    pages = {}
    for name in ("bakery", "florist"):
        folder = tmp_path / name
        folder.mkdir()
        result = unipost(folder, "publish", "Open 9-5", "--id", "hours-2026-12-01", "--to", "site")
        assert result.returncode == 0, result.stderr
        assert "already published" not in result.stdout
        page = folder / "site" / "posts" / "open-9-5" / "index.html"
        assert page.is_file(), f"{name}: nothing was written here"
        assert (folder / ".unipost" / "outbox.sqlite3").is_file()
        pages[name] = page.read_bytes()

    again = unipost(tmp_path / "bakery", "publish", "Open 9-5", "--id", "hours-2026-12-01")
    assert again.returncode == 0, again.stderr
    head = again.stdout.splitlines()[0]
    assert "succeeded — already published on 20" in head
    assert head.endswith("UTC, nothing sent now")
    data = json.loads(
        unipost(
            tmp_path / "bakery", "publish", "Open 9-5", "--id", "hours-2026-12-01", "--json"
        ).stdout
    )
    assert data["replayed"] is True


# -- secrets only when needed -------------------------------------------------------------


def test_read_only_commands_work_with_an_unset_secret(shop: Path) -> None:
    published = unipost(shop, "publish", "Open 9-5", "--id", "p1", "--to", "site")
    assert published.returncode == 0, published.stderr
    for args in (
        ["preview", "hi", "--to", "site"],
        ["preview", "hi", "--to", "hook"],
        ["channels"],
        ["plugins"],
        ["outbox", "list"],
        ["outbox", "show", "p1"],
    ):
        result = unipost(shop, *args)
        assert result.returncode == 0, (args, result.stderr)
        no_traceback(result)
        if args[0] in ("channels", "outbox") and args[1:2] != ["show"]:
            assert "hook" in result.stdout + result.stderr
            assert "DAILY_HOOK_URL is not set" in result.stdout + result.stderr, args
    channels = json.loads(unipost(shop, "channels", "--json").stdout)
    lacks = {c["id"]: c["lacks"] for c in channels["channels"]}
    assert lacks["site"] is None
    assert "export DAILY_HOOK_URL=..." in lacks["hook"]
    preview = json.loads(unipost(shop, "preview", "hi", "--to", "rescue", "--json").stdout)
    assert "DAILY_HOOK_URL" in preview["prepared"]["hook"]["lacks"]
    assert preview["prepared"]["hook"]["parts"] == ["hi"], "rendered without its secret"
    sending = unipost(shop, "publish", "hi", "--to", "hook")
    assert sending.returncode == 2
    assert sending.stderr.startswith(
        "unipost: channels.hook.url: environment variable DAILY_HOOK_URL"
    )


# -- progress and logs ------------------------------------------------------------------------


def run_on_a_terminal(cwd: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as in an interactive shell."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "unipost", *args],
        cwd=cwd,
        env={**env, "COLUMNS": "120", "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=10)
    os.close(leader)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_publish_shows_live_progress_on_a_terminal_and_none_when_piped(shop: Path) -> None:
    env = environment(
        DAILY_HOOK_URL=f"http://127.0.0.1:{closed_port()}/in/hook", DAILY_HOOK_SECRET=HOOK_SECRET
    )
    args = ("publish", "Open 9-5", "--to", "site,hook", "--deadline", "3")
    code, screen = run_on_a_terminal(shop, *args, "--id", "live", env=env)
    assert code == 4, screen
    assert "publishing…" in screen
    assert "waiting" in screen, "the retry of the unreachable webhook is shown as it happens"
    assert "not_sent" in screen
    assert "post live (revision 1): pending" in screen
    piped = unipost(shop, *args, "--id", "piped", env=env)
    assert piped.returncode == 4
    assert piped.stderr == "", "no progress display when piped"
    assert "\x1b" not in piped.stdout
    assert piped.stdout.startswith("post piped (revision 1): pending")


def test_the_worker_logs_what_it_does_plain_or_as_json_lines(shop: Path) -> None:
    env = environment(
        DAILY_HOOK_URL=f"http://127.0.0.1:{closed_port()}/in/hook", DAILY_HOOK_SECRET=HOOK_SECRET
    )
    quiet = unipost(shop, "worker", "--once", env=env)
    assert (quiet.returncode, quiet.stdout) == (0, "worker --once: nothing due\n")
    for post_id in ("w1", "w2"):
        queued = unipost(
            shop, "publish", "Fresh bread", "--id", post_id, "--deadline", "0", env=env
        )
        assert queued.returncode == 4, queued.stdout
    plain = unipost(shop, "worker", "--once", env=env)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert any(" pick " in line and "w1→site" in line for line in lines), lines
    assert any(" ok " in line and "w1→site delivered " in line for line in lines), lines
    assert lines[-1].startswith("worker --once: 2 publication(s) advanced, 2 delivered")
    assert "\x1b" not in plain.stdout

    deferred = unipost(
        shop, "publish", "Soup", "--id", "w3", "--to", "hook", "--deadline", "0", env=env
    )
    assert deferred.returncode == 4
    as_json = unipost(shop, "worker", "--once", "--json", env=env)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    names = [e["event"] for e in events]
    assert "attempt.start" in names
    waits = [e for e in events if e["event"] == "retry.scheduled"]
    assert waits, names
    assert waits[0]["channel"] == "hook"
    assert "not_sent" in waits[0]["message"], "the deferral says why"
    assert events[-1]["event"] == "worker"
    assert events[-1]["deferred"] >= 1


# -- JSON everywhere, and a closed pipe -----------------------------------------------------


def test_every_command_answers_json_under_json_errors_included(
    shop: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process for speed (the same ``main``), then one error from a real process."""
    monkeypatch.chdir(shop)
    for name in ("UNIPOST_CONFIG", "UNIPOST_OUTBOX", "DAILY_HOOK_URL", "DAILY_HOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UNIPOST_LOAD_PLUGINS", "")
    monkeypatch.setattr(plugin_host, "_default", None)
    assert main(["publish", "hi", "--id", "j1"]) == 0
    cases = [
        (["publish", "hi", "--id", "j2"], 0),
        (["preview", "hi"], 0),
        (["plugins"], 0),
        (["channels"], 0),
        (["check", "site"], 0),
        (["outbox", "list"], 0),
        (["outbox", "show", "j1"], 0),
        (["outbox", "cancel", "j1"], 0),
        (["worker", "--once"], 0),
        (["publish", "hi", "--to", "nowhere"], 2),
        (["publish", "hi", "--to", "hook"], 2),
        (["publish", "hi", "--deadline", "-1"], 2),
        (["publsh", "hi"], 2),
        (["outbox", "show", "no-such-post"], 2),
        (["outbox", "retry", "no-such-record"], 1),
        (["--config", "missing.toml", "channels"], 2),
    ]
    capsys.readouterr()
    for args, expected in cases:
        code = main([*args, "--json"])
        out, err = capsys.readouterr()
        assert code == expected, (args, out, err)
        lines = out.splitlines() if args[0] == "worker" else [out]
        data = [json.loads(line) for line in lines][-1]
        if expected:
            assert data["exit_code"] == expected
            assert data["error"]["type"]
            assert err == ""
        if expected == 2:
            assert data["error"]["fix"], args
    result = unipost(shop, "publish", "hi", "--to", "nowhere", "--json")
    assert result.returncode == 2
    assert result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "UnknownChannel"
    assert "a route (default, rescue)" in error["fix"], "route names are suggested too"


def test_a_closed_pipe_ends_quietly(shop: Path) -> None:
    store = SQLiteStore(shop / ".unipost" / "outbox.sqlite3")
    dispatcher = Dispatcher(
        channels={"site": SiteChannel(directory=str(shop / "site"))}, store=store
    )
    try:
        for n in range(300):
            dispatcher.enqueue(Post(text=f"Post number {n}", id=f"post-{n}"), "site")
    finally:
        dispatcher.close()
    for command in ("outbox list --json", "outbox list", "channels --json"):
        result = subprocess.run(  # noqa: S602 - the shell pipeline is what is tested
            f"{shlex.quote(sys.executable)} -m unipost {command} | head -1",
            shell=True,
            cwd=shop,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0
        assert all(line.startswith("note: hook") for line in result.stderr.splitlines()), (
            result.stderr
        )
        assert "Error" not in result.stderr
        assert len(result.stdout.splitlines()) == 1


# -- scheduling ---------------------------------------------------------------------------------


def test_at_schedules_and_returns_at_once(shop: Path) -> None:
    later = time.time() + 3600
    started = time.monotonic()
    result = unipost(shop, "publish", "Doors open at nine", "--id", "doors", "--at", f"{later:.0f}")
    assert time.monotonic() - started < 30
    assert result.returncode == 0, result.stdout
    assert "post doors: scheduled for 20" in result.stdout
    assert "pending" not in result.stdout
    assert not (shop / "site").exists(), "nothing published yet"
    data = json.loads(
        unipost(
            shop, "publish", "Later", "--id", "later", "--at", "2099-01-01T09:00+01:00", "--json"
        ).stdout
    )
    assert data["scheduled_for"] == "2099-01-01T09:00:00+01:00"
    worker = unipost(shop, "worker", "--once")
    assert worker.stdout.splitlines()[-1] == "worker --once: nothing due", "not due before its time"


# -- reasons --------------------------------------------------------------------------------------


def test_a_used_fallback_says_why_the_primary_did_not_deliver(shop: Path) -> None:
    env = environment(
        DAILY_HOOK_URL=f"http://127.0.0.1:{closed_port()}/in/hook", DAILY_HOOK_SECRET=HOOK_SECRET
    )
    result = unipost(
        shop, "publish", "Open 9-5", "--id", "f1", "--to", "rescue", "--deadline", "20", env=env
    )
    assert result.returncode == 0, result.stdout
    lines = {
        line.split()[1]: line
        for line in result.stdout.splitlines()[1:]
        if line.startswith("  ") and not line.startswith("      ")
    }
    assert "delivered" in lines["site"]
    hook = lines["hook"]
    assert "site delivered" in hook, "what happened to it"
    cause = hook.split("; before that: ")[1]
    assert cause.split()[0] in ("not_sent", "ambiguous", "transient"), hook


# -- configuration ------------------------------------------------------------------------------


def test_a_config_value_of_the_wrong_type_names_file_table_and_key(tmp_path: Path) -> None:
    (tmp_path / "unipost.toml").write_text('[dispatch]\ndeadline = "soon"\n', encoding="utf-8")
    result = unipost(tmp_path, "publish", "hi")
    assert result.returncode == 2
    no_traceback(result)
    [line] = result.stderr.splitlines()
    assert line.startswith("unipost: dispatch.deadline: in [dispatch], deadline must be a number")
    assert "'soon'" in line
    assert str(tmp_path / "unipost.toml") in line
