"""Media given as bytes, published on one machine and sent by a worker on another.

The PostgreSQL outbox keeps the bytes in the database: a worker whose
machine never saw the publisher's file restores it into its own folder.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from unipost import Dispatcher, Media, Post, State
from unipost.postgres_store import PostgresStore
from unipost.testing import png
from unipost.testing.servers import PostgresServer

pytestmark = pytest.mark.integration


def _dispatcher(
    url: str, schema: str, folder: Path, test_channels: Any, key_url: str
) -> Dispatcher:
    return Dispatcher(
        channels={"key": test_channels.KeyChannel(id="key", base_url=key_url)},
        store=PostgresStore(url, schema=schema, pool_size=2, media_folder=folder),
        inline=test_channels.FAST_INLINE,
        background=test_channels.FAST_BACKGROUND,
    )


def test_a_worker_on_another_machine_sends_media_given_as_bytes(
    postgres_server: PostgresServer, tmp_path: Path, key_server: Any, test_channels: Any
) -> None:
    data = png(3, 2)
    schema = "media_" + uuid.uuid4().hex[:10]
    here, there = tmp_path / "publisher", tmp_path / "worker"
    publisher = _dispatcher(postgres_server.url, schema, here, test_channels, key_server.url)
    post = Post(id="tarts", text="Fresh!", media=[Media.from_bytes(data, filename="../t a.png")])
    publisher.enqueue(post, ["key"])
    publisher.close()
    [spooled] = here.iterdir()
    assert spooled.read_bytes() == data
    assert spooled.name.endswith("-t_a.png")  # the file name cannot leave the folder
    shutil.rmtree(here)  # the worker's machine has no such file

    worker = _dispatcher(postgres_server.url, schema, there, test_channels, key_server.url)
    try:
        worker.drain(until=time.time() + 30, poll=0.05)
        [record] = worker.store.query(post_id="tarts")
    finally:
        worker.close()
    assert record.state is State.DELIVERED
    assert key_server.media[record.delivery_key] == hashlib.sha256(data).hexdigest()
    assert [p.read_bytes() for p in there.iterdir()] == [data]
    assert not here.exists()


def test_the_same_bytes_are_kept_once(postgres_server: PostgresServer, tmp_path: Path) -> None:
    store = PostgresStore(postgres_server.url, schema="media_" + uuid.uuid4().hex[:10])
    try:
        first = store.spool_media("abc-x.png", b"one")
        again = store.spool_media("abc-x.png", b"one")
        [(count,)] = store._rows(f"SELECT count(*) FROM {store.schema}.media")
    finally:
        store.close()
    assert first == again
    assert count == 1
