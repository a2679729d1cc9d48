"""A Facebook Page token's life through the real CLI, against a fake Graph API on 127.0.0.1.

* Five days before the token lapses, ``unipost check`` prints a warning and the
  ``credential.expiring`` event is emitted (virtual clock: exactly 5 days).
* An expired token blocks the channel's records; after re-authorization one
  ``unipost outbox retry --blocked-by facebook`` and one worker run deliver each
  of them exactly once.

The fake answers an expired token as Graph does: HTTP 400, ``OAuthException``
code 190, subcode 463, "Error validating access token: Session has expired ..."
(Meta, Graph API "Handling Errors" / "Access token error codes").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

CHILD = Path(__file__).parent / "cli_child.py"
OLD_TOKEN, NEW_TOKEN = "token-old", "token-new"  # test values, not secrets
NOW = 1_800_000_000.0  # the virtual clock's start (2027-01-15 08:00 UTC)
DAY = 86400.0
PAGE = "1234567890"
VERSION = "v23.0"
EXPIRED = {
    "error": {
        "message": "Error validating access token: Session has expired on Friday, 15-Jan-27 "
        "08:00:00 PST. The current time is Friday, 15-Jan-27 09:00:00 PST.",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 463,
        "fbtrace_id": "AbCdTrace1",
    }
}


class FakeGraph:
    """The few Graph calls a Facebook Page channel makes, with one valid token at a time."""

    def __init__(self) -> None:
        self.valid = {OLD_TOKEN}
        self.expires_at = NOW + 5 * DAY
        self.posts: list[tuple[str, str]] = []  # (id, message) of every post created
        self.lock = threading.Lock()

    def answer(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], token: str
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if parts[0] != VERSION:
            return 404, {"error": {"message": "Unknown path", "code": 803}}
        node = parts[1:]
        if token not in self.valid:
            return 400, EXPIRED
        if method == "GET" and node == ["debug_token"]:
            data = {
                "app_id": "1000",
                "type": "PAGE",
                "is_valid": True,
                "expires_at": int(self.expires_at),
                "data_access_expires_at": int(NOW + 80 * DAY),
                "scopes": ["pages_manage_posts", "pages_read_engagement"],
            }
            return 200, {"data": data}
        if method == "GET" and node == [PAGE]:
            return 200, {"id": PAGE, "name": "Bakery"}
        if method == "POST" and node == [PAGE, "feed"]:
            with self.lock:
                post_id = f"{PAGE}_{len(self.posts) + 1}"
                self.posts.append((post_id, form.get("message", "")))
            return 200, {"id": post_id}
        if method == "GET" and len(node) == 1 and node[0].startswith(f"{PAGE}_"):
            number = node[0].split("_")[1]
            return 200, {
                "id": node[0],
                "permalink_url": f"https://www.facebook.com/bakery/posts/{number}",
            }
        return 404, {"error": {"message": f"unsupported {method} {path}", "code": 100}}


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = {k: v[0] for k, v in parse_qs(body).items()}
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            status, answer = fake.answer(method, split.path, query, form, token)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def project(tmp_path: Path, graph: tuple[FakeGraph, str]) -> Path:
    _fake, base = graph
    (tmp_path / "unipost.toml").write_text(
        f"""
[credentials]
warn_days = 7

[channels.facebook]
type = "facebook"
page_id = "{PAGE}"
token = {{ env = "FB_TOKEN" }}
base_url = "{base}"
""",
        encoding="utf-8",
    )
    return tmp_path


def unipost(
    project: Path, *args: str, token: str = OLD_TOKEN, now: float = NOW
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPOST_")}
    env.update(FB_TOKEN=token, UNIPOST_TEST_NOW=repr(now))
    return subprocess.run(
        [sys.executable, str(CHILD), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_warns_five_days_before_the_token_lapses(project: Path) -> None:
    done = unipost(project, "check", "facebook", "-v")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["facebook", "ok:", "Facebook"]
    assert (
        "permissions ok; access token expires in 5 days; data access expires in 80 days" in lines[0]
    )
    assert lines[1].strip() == (
        "warning: the access token expires in 5 days (2027-01-20 08:00 UTC): authorize facebook "
        "again, then `unipost outbox retry --blocked-by facebook`"
    )
    assert len(lines) == 2, "data access lapses in 80 days: no warning for it yet"
    # The event, as the `unipost` logger shows it (-v): a warning with its fields.
    [event] = [line for line in done.stderr.splitlines() if "credential.expiring" in line]
    assert "WARNING" in event
    assert "credential=access token" in event
    assert "days_left=5.0" in event
    assert "source=debug_token expires_at" in event
    assert OLD_TOKEN not in done.stdout + done.stderr


def test_check_json_gives_the_expiries_and_no_warning_ten_days_ahead(project: Path) -> None:
    done = unipost(project, "check", "--json", now=NOW - 5 * DAY)
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)["facebook"]
    assert row["ok"] is True
    assert row["warnings"] == []
    assert [(e["credential"], e["days_left"], e["renewable"]) for e in row["expiries"]] == [
        ("access token", 10.0, False),
        ("data access", 85.0, False),
    ]


def test_an_expired_token_blocks_and_one_bulk_retry_delivers_each_post_once(
    project: Path, graph: tuple[FakeGraph, str]
) -> None:
    fake, _base = graph
    fake.valid = {NEW_TOKEN}  # the old token expired: Graph answers 190/463
    for n in range(1, 4):
        done = unipost(
            project, "publish", f"Post {n}", "--to", "facebook", "--id", f"p{n}", now=NOW + n
        )
        assert done.returncode == 4, done.stdout + done.stderr  # pending: blocked on the credential
        assert "facebook" in done.stdout
    assert fake.posts == []

    listed = unipost(project, "outbox", "list", "--blocked-by", "facebook", now=NOW + 10)
    assert listed.returncode == 0, listed.stderr
    rows = [
        line for line in listed.stdout.splitlines() if "blocked by facebook's credential" in line
    ]
    assert len(rows) == 3
    assert "unipost outbox retry --blocked-by facebook" in listed.stderr
    as_json = json.loads(unipost(project, "outbox", "list", "--json", now=NOW + 10).stdout)
    assert {(r["post_id"], r["state"], r["blocked_by"]) for r in as_json} == {
        (f"p{n}", "blocked", "facebook") for n in range(1, 4)
    }

    # Re-authorized: the new token is in the environment; release everything in one go.
    retry = unipost(
        project, "outbox", "retry", "--blocked-by", "facebook", token=NEW_TOKEN, now=NOW + 3600
    )
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.startswith("3 record(s) blocked by facebook's credential")
    worker = unipost(project, "worker", "--once", token=NEW_TOKEN, now=NOW + 3601)
    assert worker.returncode == 0, worker.stderr
    assert sorted(message for _id, message in fake.posts) == ["Post 1", "Post 2", "Post 3"]

    # Nothing is sent twice: a second bulk retry finds nothing, and every record is settled.
    again = unipost(
        project,
        "outbox",
        "retry",
        "--blocked-by",
        "facebook",
        "--json",
        token=NEW_TOKEN,
        now=NOW + 3700,
    )
    assert json.loads(again.stdout) == {"channel": "facebook", "released": 0}
    final = json.loads(unipost(project, "outbox", "list", "--json", now=NOW + 3800).stdout)
    assert sorted(r["state"] for r in final) == ["delivered"] * 3
    assert all(r["blocked_by"] is None for r in final)
