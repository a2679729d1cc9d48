"""The public surface: one call, sync and async, inside a running loop, idempotent replays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import unipost
from unipost import Dispatcher, MemoryStore, Post, State
from unipost.errors import IdempotencyConflict, Transient
from unipost.testing import FakeServer, VirtualClock, fake_channel


def _dispatcher(server: FakeServer) -> Dispatcher:
    return Dispatcher(
        channels={"a": fake_channel("a", server=server)},
        store=MemoryStore(),
        clock=VirtualClock(),
        seed=3,
    )


def test_sync_publish_works_inside_a_running_event_loop() -> None:
    server = FakeServer()
    dispatcher = _dispatcher(server)

    async def inside_a_framework() -> unipost.Report:
        # e.g. a Jupyter cell or a sync helper called from async code
        return dispatcher.publish(Post(text="hello", id="loop-1"), to="a")

    try:
        report = asyncio.run(inside_a_framework())
    finally:
        dispatcher.close()
    assert report.ok
    assert len(server.attempts) == 1
    assert report["a"].platform_id == server.posts[server.attempts[0][1]]


def test_publish_and_apublish_share_one_implementation() -> None:
    sync_server, async_server = (
        FakeServer(script=[Transient("busy", status=503)]),
        FakeServer(script=[Transient("busy", status=503)]),
    )
    sync_dispatcher, async_dispatcher = _dispatcher(sync_server), _dispatcher(async_server)
    try:
        sync_report = sync_dispatcher.publish(Post(text="same", id="twin"), to="a")
        async_report = asyncio.run(async_dispatcher.apublish(Post(text="same", id="twin"), to="a"))
    finally:
        sync_dispatcher.close()
        async_dispatcher.close()
    assert sync_report.status is async_report.status is unipost.ReportStatus.SUCCEEDED
    assert [a.error_class for a in sync_report["a"].attempts] == [
        a.error_class for a in async_report["a"].attempts
    ]
    assert [a.error_class for a in sync_report["a"].attempts] == ["transient", None]


def test_publishing_the_same_post_again_replays_the_report() -> None:
    server = FakeServer()
    dispatcher = _dispatcher(server)
    try:
        first = dispatcher.publish(Post(text="double click", id="order-17"), to="a")
        second = dispatcher.publish(Post(text="double click", id="order-17"), to="a")
    finally:
        dispatcher.close()
    assert len(server.attempts) == 1
    assert len(server.posts) == 1
    assert first["a"].platform_id == second["a"].platform_id
    assert second["a"].state is State.DELIVERED


def test_same_id_and_revision_with_other_content_is_refused_before_sending() -> None:
    server = FakeServer()
    dispatcher = _dispatcher(server)
    try:
        dispatcher.publish(Post(text="first words", id="order-18"), to="a")
        with pytest.raises(IdempotencyConflict) as caught:
            dispatcher.publish(Post(text="other words", id="order-18"), to="a")
        edited = dispatcher.publish(Post(text="other words", id="order-18", revision=2), to="a")
    finally:
        dispatcher.close()
    assert caught.value.field == "post"
    assert "revision=2" in caught.value.fix
    assert len(server.attempts) == 2
    assert edited.ok


def test_module_level_publish_uses_unipost_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "unipost.toml").write_text(
        '[outbox]\npath = "outbox.sqlite3"\n\n[channels.news]\ntype = "site"\ndirectory = "public"\n'
        'site_url = "https://bakery.example/"\n\n[routes]\ndefault = ["news"]\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(unipost.api, "_default", None)
    try:
        report = unipost.publish(Post(text="Fresh bread at 7", id="bread-1"))
        again = unipost.report("bread-1")
    finally:
        dispatcher, _config = unipost.api.default_dispatcher()
        dispatcher.close()
        monkeypatch.setattr(unipost.api, "_default", None)
    assert report.ok, str(report)
    assert report.durable
    assert report["news"].url is not None
    assert report["news"].url.startswith("https://bakery.example/")
    assert (tmp_path / "public" / "feed.json").is_file()
    assert (tmp_path / "outbox.sqlite3").is_file()
    assert again["news"].state is State.DELIVERED
