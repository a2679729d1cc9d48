"""Facebook has no idempotency key: a create cut off by a crash is found again by paging.

A local Graph Page holds each kill's create without answering, meanwhile
"another app" publishes more than a page of newer posts, then the worker is
SIGKILLed. After the restart the lookup must page back to the record's first
attempt and find the post: a first-page-only lookup would call it absent and
post it again. Yesterday's posts with the very same texts are on the Page too,
so a lookup that ignored the first attempt would claim the wrong post.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from unipost import State
from unipost.sqlite_store import SQLiteStore

HERE = Path(__file__).parent
POSTS = 40
KILLS = 4
PAGE_SIZE = 25  # Graph's default page; the fake caps larger ``limit`` values to it


def _text(n: int) -> str:
    return f"Offer {n}: 20% off all pastries today."


def _graph_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


class GraphPage:
    """Page 1234 on a local Graph: feed creates, a newest-first listing with cursors.

    ``hold_create(skip, after_deep)`` makes a create of an "Offer" post apply
    and then not answer until ``released`` is set, so a kill lands between the
    create and its answer: the one after ``skip`` more Offer creates, counted
    once ``after_deep`` listing pages past the first have been read (so the
    previous kill's post has been looked up before the next is held).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.posts: list[dict[str, Any]] = []  # oldest first; "seq" orders them
        self.creates: collections.Counter[str] = collections.Counter()
        self.offers_created = 0
        self.skip: int | None = None  # Offer creates to let through before holding one
        self.after_deep = 0
        self.holding = threading.Event()
        self.released = threading.Event()
        self.deep_pages = 0  # listing pages served after the first (a cursor was followed)
        page = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                path = parts.path.strip("/").split("/")[1:]  # drop the version
                if path == ["1234", "posts"]:
                    self._answer(page.listing(query, f"http://{self.headers['Host']}{parts.path}"))
                else:
                    self._answer({"id": path[0], "permalink_url": f"https://fb.test/{path[0]}"})

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                post_id, hold = page.create(form["message"])
                if hold:
                    page.holding.set()
                    page.released.wait(30)
                    return  # the client was killed while waiting for this answer
                self._answer({"id": post_id})

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a killed client's connection

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, message: str, created: float) -> str:
        with self.lock:
            seq = len(self.posts) + 1
            post_id = f"1234_{seq}"
            self.posts.append({"seq": seq, "id": post_id, "message": message, "created": created})
            return post_id

    def create(self, message: str) -> tuple[str, bool]:
        post_id = self.add(message, time.time())
        with self.lock:
            self.creates[message] += 1
            if not message.startswith("Offer"):
                return post_id, False
            self.offers_created += 1
            if self.skip is None or self.deep_pages < self.after_deep:
                return post_id, False
            if self.skip > 0:
                self.skip -= 1
                return post_id, False
            self.skip = None
            return post_id, True

    def listing(self, query: dict[str, str], url: str) -> dict[str, Any]:
        limit = min(int(query.get("limit", PAGE_SIZE)), PAGE_SIZE)
        after = int(query.get("after", "0")) or None
        with self.lock:
            if after is not None:
                self.deep_pages += 1
            older = [p for p in reversed(self.posts) if after is None or p["seq"] < after]
        items = older[:limit]
        body: dict[str, Any] = {
            "data": [
                {
                    "id": p["id"],
                    "message": p["message"],
                    "created_time": _graph_time(p["created"]),
                    "permalink_url": f"https://fb.test/{p['id']}",
                }
                for p in items
            ]
        }
        if len(older) > limit:
            cursor = str(items[-1]["seq"])
            following = {**query, "after": cursor}
            body["paging"] = {
                "cursors": {"after": cursor},
                "next": f"{url}?{urllib.parse.urlencode(following)}",
            }
        return body

    def hold_create(self, skip: int, after_deep: int) -> None:
        with self.lock:
            self.holding.clear()
            self.released.clear()
            self.after_deep = after_deep
            self.skip = skip

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def graph() -> Iterator[GraphPage]:
    page = GraphPage()
    yield page
    page.close()


def _child(db: Path, graph: GraphPage) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "crash_child_facebook.py"), str(db), graph.url, str(POSTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_between_create_and_answer_with_pages_of_newer_posts_posts_once(
    tmp_path: Path, graph: GraphPage
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    yesterday = time.time() - 86_400
    for n in range(POSTS):  # the same texts, published a day ago
        graph.add(_text(n), yesterday + n)
    db = tmp_path / "outbox.sqlite3"
    for kill in range(KILLS):
        graph.hold_create(rng.randint(0, 4), after_deep=graph.deep_pages + min(kill, 1))
        proc = _child(db, graph)
        assert graph.holding.wait(60), f"no create reached the Page (seed {seed})"
        for k in range(rng.randint(PAGE_SIZE + 5, 3 * PAGE_SIZE)):
            graph.create(f"Another app's post {k}")
        proc.kill()
        proc.communicate()
        graph.released.set()
    graph.skip = None
    proc = _child(db, graph)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err

    store = SQLiteStore(db)
    records = store.query(limit=10 * POSTS)
    store.close()
    assert len(records) == POSTS
    states = collections.Counter(r.state for r in records)
    assert states == {State.DELIVERED: POSTS}, f"{states} (seed {seed})"
    by_text = {p["message"]: p["id"] for p in graph.posts if p["created"] > yesterday + POSTS}
    for n in range(POSTS):
        assert graph.creates[_text(n)] == 1, f"post {n} created {graph.creates[_text(n)]}x"
    for record in records:
        n = int(record.post_id.removeprefix("post-"))
        assert record.platform_id == by_text[_text(n)], f"{record.post_id} took the wrong post"
    # The kills' posts were found past the first page, not resent.
    assert graph.deep_pages >= KILLS, f"only {graph.deep_pages} deeper pages read (seed {seed})"
