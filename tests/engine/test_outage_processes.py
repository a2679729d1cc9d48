"""#14.14–20 with real processes: 50 `unipost publish` processes and a worker killed at
random three times, against a local platform that is down and then recovers.

Shown: at most the breaker threshold of creates, plus one health probe per open
interval, reach the down platform in total; every ``first_of`` post is on its live
fallback within 60 s of its publish; every ``all_of`` post is complete within 60 s
of the recovery; no record is left ``sending``; no post reaches two alternatives.
"""

from __future__ import annotations

import base64
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PUBLISHERS = 50
AT_ONCE = 10
KILLS = 3
OUTAGE = 10.0  # seconds: shorter than the breaker's first open interval


class Platform:
    """POST /primary (down until ``recover()``) and POST /fallback, on 127.0.0.1."""

    def __init__(self) -> None:
        self.down = True
        self.recovered_at: float | None = None
        self.lock = threading.Lock()
        self.hits: list[tuple[float, str, str, int, str]] = []  # (at, method, path, status, post)
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _reply(self, status: int, post: str) -> None:
                with platform.lock:
                    platform.hits.append((time.time(), self.command, self.path, status, post))
                body = b'{"ok":true}' if status < 300 else b'{"error":"down"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                down = platform.down and self.path == "/primary"
                self._reply(503 if down else 405, "")

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length", "0"))
                data = json.loads(self.rfile.read(size) or b"{}").get("data", {})
                down = platform.down and self.path == "/primary"
                self._reply(503 if down else 200, str(data.get("post_id", "")))

        # Two hosts of the loopback range: two failure domains, as two platforms would be.
        self.servers = [
            ThreadingHTTPServer((host, 0), Handler) for host in ("127.0.0.1", "127.0.0.2")
        ]
        primary, fallback = (
            f"http://{s.server_address[0]}:{s.server_address[1]}" for s in self.servers
        )
        self.primary_url, self.fallback_url = f"{primary}/primary", f"{fallback}/fallback"
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def recover(self) -> None:
        self.recovered_at = time.time()
        self.down = False

    def of(self, *, method: str, path: str, status: int | None = None) -> list[tuple[Any, ...]]:
        with self.lock:
            return [
                h
                for h in self.hits
                if h[1] == method and h[2] == path and (status is None or h[3] == status)
            ]


@pytest.fixture
def platform() -> Iterator[Platform]:
    served = Platform()
    yield served
    for server in served.servers:
        server.shutdown()
        server.server_close()


def _config(folder: Path, platform: Platform) -> Path:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    path = folder / "unipost.toml"
    path.write_text(
        "allow_inline_secrets = true\n"
        '[outbox]\npath = "outbox.sqlite3"\n'
        f'[channels.primary]\ntype = "webhook"\nurl = "{platform.primary_url}"\nsecret = "{secret}"\n'
        f'[channels.fallback]\ntype = "webhook"\nurl = "{platform.fallback_url}"\nsecret = "{secret}"\n'
        '[routes]\nmain = { first_of = ["primary", "fallback"] }\n'
        'both = { all_of = ["primary", "fallback"] }\n',
        encoding="utf-8",
    )
    return path


def _unipost(config: Path, *args: str, capture: bool = True) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "unipost", "--config", str(config), *args],
        cwd=config.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.integration
def test_fifty_publishers_and_a_killed_worker_through_an_outage(
    platform: Platform, tmp_path: Path
) -> None:
    rng = random.Random(int(os.environ.get("UNIPOST_TEST_SEED", "14")))
    config = _config(tmp_path, platform)
    worker = _unipost(config, "worker", "--poll", "0.5", capture=False)
    threading.Timer(OUTAGE, platform.recover).start()
    kill_after = set(rng.sample(range(PUBLISHERS // AT_ONCE), KILLS))  # after these waves
    kills = 0
    published_at: dict[str, float] = {}
    try:
        for wave in range(0, PUBLISHERS, AT_ONCE):
            running = []
            for n in range(wave, wave + AT_ONCE):
                route = "main" if n % 2 == 0 else "both"
                published_at[f"p{n:02d}"] = time.time()
                running.append(
                    _unipost(
                        config,
                        "publish",
                        f"post {n}",
                        "--id",
                        f"p{n:02d}",
                        "--to",
                        route,
                        "--deadline",
                        "8",
                    )
                )
            for proc in running:
                _out, err = proc.communicate(timeout=120)
                assert "Traceback" not in err, err
            if wave // AT_ONCE in kill_after:
                worker.kill()  # SIGKILL: no chance to clean up
                worker.wait(timeout=10)
                kills += 1
                worker = _unipost(config, "worker", "--poll", "0.5", capture=False)
        while platform.recovered_at is None:
            time.sleep(0.2)
        both = {f"p{n:02d}" for n in range(1, PUBLISHERS, 2)}
        deadline = time.time() + 75
        while time.time() < deadline:
            on_primary = {h[4] for h in platform.of(method="POST", path="/primary", status=200)}
            if both <= on_primary:
                break
            time.sleep(0.5)
    finally:
        worker.kill()
        worker.wait(timeout=10)
    assert kills == KILLS

    recovered = platform.recovered_at
    assert recovered is not None
    creates_while_down = platform.of(method="POST", path="/primary", status=503)
    probes = platform.of(method="GET", path="/primary", status=503)
    open_intervals = 1 + len(probes)
    assert len(creates_while_down) <= 5, f"{len(creates_while_down)} creates reached it while down"
    assert len(probes) <= open_intervals
    outage = recovered - min(published_at.values())
    assert len(probes) <= outage / 30 + 1, f"{len(probes)} probes in a {outage:.0f} s outage"

    delivered_primary = {
        h[4]: h[0] for h in platform.of(method="POST", path="/primary", status=200)
    }
    delivered_fallback = {
        h[4]: h[0] for h in platform.of(method="POST", path="/fallback", status=200)
    }
    for n in range(PUBLISHERS):
        post = f"p{n:02d}"
        if n % 2 == 0:  # first_of(primary, fallback)
            assert post in delivered_fallback or post in delivered_primary, f"{post} lost"
            assert not (post in delivered_fallback and post in delivered_primary), (
                f"{post} reached two alternatives"
            )
            if post in delivered_fallback:
                assert delivered_fallback[post] - published_at[post] <= 60, f"{post} late"
        else:  # all_of(primary, fallback)
            assert post in delivered_fallback, f"{post} missing on the fallback"
            assert post in delivered_primary, f"{post} never reached the recovered primary"
            ready = max(recovered, published_at[post])  # published during or after the outage
            assert delivered_primary[post] - ready <= 60, f"{post} late after recovery"

    db = sqlite3.connect(tmp_path / "outbox.sqlite3")
    try:
        states = dict(db.execute("SELECT state, COUNT(*) FROM records GROUP BY state").fetchall())
    finally:
        db.close()
    assert "sending" not in states, states
    assert states.get("delivered", 0) >= PUBLISHERS, states
