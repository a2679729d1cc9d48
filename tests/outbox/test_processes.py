"""Several processes on one SQLite outbox: no double delivery, nothing left behind."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from unipost import Media, Post, State
from unipost.sqlite_store import SQLiteStore
from unipost.testing import png


def _go(spawn: Any, tmp_path: Path, db: Path, key_server: Any, lookup_server: Any, n: int) -> None:
    go = tmp_path / "go"
    args = (str(db), key_server.url, lookup_server.url, str(go))
    workers = [spawn("worker_child.py", *args) for _ in range(n)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        go.touch()
        for worker in workers:
            _out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()


def test_two_workers_deliver_1000_records_once(
    tmp_path: Path, key_server: Any, lookup_server: Any, spawn: Any, test_channels: Any
) -> None:
    db = tmp_path / "outbox.sqlite3"
    dispatcher = test_channels.make_dispatcher(str(db), key_server.url, lookup_server.url)
    for n in range(500):
        report = dispatcher.enqueue(Post(id=f"bulk-{n}", text=f"Post {n}"), ["key", "lookup"])
        assert report.durable
    dispatcher.close()

    _go(spawn, tmp_path, db, key_server, lookup_server, 2)

    store = SQLiteStore(db)
    records = store.query(limit=5000)
    store.close()
    assert len(records) == 1000
    assert all(r.state is State.DELIVERED for r in records)
    assert all(r.attempts == 1 for r in records)
    keys = {r.delivery_key for r in records if r.channel == "key"}
    assert set(key_server.requests_by_key) == keys
    assert set(key_server.requests_by_key.values()) == {1}  # not even a replayed request
    assert len(lookup_server.creates) == 500
    assert set(lookup_server.creates.values()) == {1}
    assert len(key_server.workers | lookup_server.workers) == 2  # both processes delivered


def test_media_given_as_bytes_is_delivered_by_a_worker_in_another_process(
    tmp_path: Path, key_server: Any, lookup_server: Any, spawn: Any, test_channels: Any
) -> None:
    data = png(1, 1)
    db = tmp_path / "outbox.sqlite3"
    dispatcher = test_channels.make_dispatcher(str(db), key_server.url, lookup_server.url)
    post = Post(id="croissants", text="Fresh!", media=[Media.from_bytes(data, filename="c.png")])
    dispatcher.enqueue(post, ["key"])
    dispatcher.close()
    spooled = list((tmp_path / "media").iterdir())
    assert len(spooled) == 1
    assert spooled[0].read_bytes() == data

    _go(spawn, tmp_path, db, key_server, lookup_server, 1)

    store = SQLiteStore(db)
    [record] = store.query(post_id="croissants")
    store.close()
    assert record.state is State.DELIVERED
    assert key_server.media[record.delivery_key] == hashlib.sha256(data).hexdigest()
