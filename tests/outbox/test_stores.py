"""Both stores keep the same promises; the SQLite file keeps them across processes and versions."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.config import load_config, parse_config
from unipost.errors import IdempotencyConflict, StoreError
from unipost.outbox import Publication, Record, Store
from unipost.sqlite_store import _MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from unipost.testing import FakeServer, VirtualClock, fake_channel

NOW = 1_800_000_000.0


def _publication(post_id: str = "p1", content: str = "h1") -> Publication:
    return Publication(
        id=uuid.uuid4().hex,
        post_id=post_id,
        revision=1,
        content_hash=content,
        post={"text": "hi", "id": post_id},
        route={"leaf": "a"},
        created_at=NOW,
    )


def _record(publication: Publication, channel: str = "a", **fields: object) -> Record:
    values: dict[str, object] = {
        "id": uuid.uuid4().hex,
        "publication_id": publication.id,
        "post_id": publication.post_id,
        "revision": 1,
        "channel": channel,
        "path": "0",
        "delivery_key": f"up1-{uuid.uuid4().hex}",
        "ttl_at": NOW + 3600,
        "next_attempt_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
        **fields,
    }
    return Record(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "o.db")
    yield made
    made.close()


def _open(store: Store, **fields: object) -> Record:
    publication = _publication(post_id=uuid.uuid4().hex)
    _pub, [record] = store.open_publication(publication, [_record(publication, **fields)])
    return record


def test_publishing_again_returns_the_first_publication_and_refuses_other_content(
    store: Store,
) -> None:
    first = _publication()
    opened, records = store.open_publication(first, [_record(first)])
    again, same = store.open_publication(_publication(), [_record(first)])
    assert again.id == opened.id == first.id
    assert [r.id for r in same] == [r.id for r in records]
    with pytest.raises(IdempotencyConflict, match="revision=2"):
        store.open_publication(_publication(content="other"), [_record(first)])


def test_begin_attempt_commits_sending_and_the_count_before_the_call(store: Store) -> None:
    record = _open(store)
    claimed = store.begin_attempt(record.id, "w1", NOW + 30, NOW)
    assert claimed is not None
    assert claimed.state is State.SENDING
    assert claimed.attempts == 1
    stored = store.record(record.id)
    assert (stored.state, stored.attempts, stored.lease_owner) == (State.SENDING, 1, "w1")


def test_only_one_owner_gets_a_live_lease(store: Store) -> None:
    record = _open(store)
    assert store.begin_attempt(record.id, "w1", NOW + 30, NOW) is not None
    assert store.begin_attempt(record.id, "w2", NOW + 30, NOW + 1) is None
    assert store.lease(record.id, "w2", NOW + 60, NOW + 1) is None
    taken = store.lease(record.id, "w2", NOW + 60, NOW + 31)  # w1's lease ran out
    assert taken is not None
    assert taken.lease_owner == "w2"


@pytest.mark.parametrize(
    "state", [State.RECONCILING, State.BLOCKED, State.DELIVERED, State.CANCELLED, State.AMBIGUOUS]
)
def test_a_stale_copy_cannot_start_an_attempt(store: Store, state: State) -> None:
    """Another worker moved the record on: the compare-and-set refuses to send it."""
    record = _open(store)
    record.state = state
    store.save(record)
    assert store.begin_attempt(record.id, "w2", NOW + 30, NOW) is None
    assert store.record(record.id).attempts == 0


def test_a_record_is_not_started_before_its_time(store: Store) -> None:
    record = _open(store, next_attempt_at=NOW + 100)
    assert store.begin_attempt(record.id, "w1", NOW + 30, NOW) is None
    assert store.due_publications(NOW, 10) == []
    assert store.due_publications(NOW + 100, 10) == [record.publication_id]
    assert store.begin_attempt(record.id, "w1", NOW + 130, NOW + 100) is not None


def test_due_skips_leased_and_settled_records_and_wakes_blocked_ones_at_their_ttl(
    store: Store,
) -> None:
    leased = _open(store)
    store.begin_attempt(leased.id, "w1", NOW + 30, NOW)
    done = _open(store, state=State.DELIVERED)
    blocked = _open(store, state=State.BLOCKED)
    late = _open(store, state=State.RETRY_WAIT, next_attempt_at=NOW + 9000)
    due = store.due_publications(NOW + 10, 10)
    assert due == []
    at_ttl = store.due_publications(NOW + 3600, 10)
    assert set(at_ttl) == {leased.publication_id, blocked.publication_id, late.publication_id}
    assert done.publication_id not in at_ttl


def test_query_filters_by_state_channel_and_post(store: Store) -> None:
    a = _open(store, channel="a")
    b = _open(store, channel="b", state=State.AMBIGUOUS)
    assert [r.id for r in store.query(states=[State.AMBIGUOUS])] == [b.id]
    assert [r.id for r in store.query(channel="a")] == [a.id]
    assert [r.id for r in store.query(post_id=b.post_id)] == [b.id]
    assert len(store.query()) == 2


def test_unknown_ids_raise_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no record nope"):
        store.record("nope")
    with pytest.raises(StoreError, match="no publication nope"):
        store.publication("nope")


# -- the SQLite file ----------------------------------------------------------------


def test_the_file_keeps_records_and_the_secret_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    first = SQLiteStore(path)
    record = _open(first)
    secret = first.secret()
    first.close()
    second = SQLiteStore(path)
    assert second.record(record.id).delivery_key == record.delivery_key
    assert second.secret() == secret
    assert second.durable
    assert second.location == str(path)
    second.close()


def _schema_1_file(path: Path) -> None:
    """A database exactly as the first release wrote it, with one record."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.executescript(_MIGRATIONS[0])
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('secret', ?)", ("ab" * 32,))
    conn.execute(
        "INSERT INTO publications VALUES ('pub1', 'old-post', 1, 'h', '{}', '{}', ?)", (NOW,)
    )
    conn.execute(
        "INSERT INTO records VALUES ('rec1', 'pub1', 'old-post', 1, 'site', '0', 'up1-old', 'retry_wait', "
        "2, ?, ?, NULL, 0, 'transient', 'HTTP 503', NULL, NULL, 0, 0, ?, 0, '[]', '{}', ?, ?)",
        (NOW, NOW + 3600, NOW, NOW, NOW),
    )
    conn.commit()
    conn.close()


def test_a_schema_1_file_opens_and_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_1_file(path)
    store = SQLiteStore(path)
    record = store.record("rec1")
    assert (record.state, record.attempts, record.delivery_key) == (State.RETRY_WAIT, 2, "up1-old")
    assert store.due_publications(NOW, 10) == ["pub1"]
    assert store.secret() == bytes.fromhex("ab" * 32)
    store.close()
    conn = sqlite3.connect(path)
    version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert int(version[0]) == SCHEMA_VERSION > 1
    assert {"records_open", "records_post"} <= indexes


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert str(path) in str(caught.value)
    assert f"schema {SCHEMA_VERSION + 1}, newer" in str(caught.value)
    assert "upgrade unipost" in str(caught.value)
    assert path.read_bytes() == before


def test_a_corrupt_file_is_named_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not a database\n" * 200)
    before = path.read_bytes()
    with pytest.raises(StoreError) as caught:
        SQLiteStore(path)
    assert str(path) in str(caught.value)
    assert "left untouched" in str(caught.value)
    assert path.read_bytes() == before


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"another program.*customers"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"customers"}


def test_a_locked_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    SQLiteStore(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as caught:
            SQLiteStore(path, timeout=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert str(path) in str(caught.value)
    assert "locked by another program" in str(caught.value)


# -- choosing a store -----------------------------------------------------------------


def test_the_default_outbox_belongs_to_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside unipost.toml, or in the working directory without one: never one per user."""
    monkeypatch.delenv("UNIPOST_OUTBOX", raising=False)
    monkeypatch.chdir(tmp_path)
    store = parse_config({}).store()
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / ".unipost" / "outbox.sqlite3"
    store.close()
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "unipost.toml").write_text("", encoding="utf-8")
    store = load_config(tmp_path / "shop" / "unipost.toml").store()
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "shop" / ".unipost" / "outbox.sqlite3"
    store.close()


def test_a_relative_outbox_path_is_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "unipost.toml"
    config.write_text('[outbox]\npath = "data/outbox.sqlite3"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    store = load_config(config).store()
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "conf" / "data" / "outbox.sqlite3"
    store.close()


def test_the_memory_store_must_be_named_and_reports_say_not_durable() -> None:
    store = parse_config({"outbox": {"path": "memory"}}).store()
    assert isinstance(store, MemoryStore)
    dispatcher = Dispatcher(
        channels={"a": fake_channel("a", server=FakeServer())}, store=store, clock=VirtualClock()
    )
    report = dispatcher.publish(Post(text="hello", ttl=dt.timedelta(hours=1)), "a")
    dispatcher.close()
    assert report.ok
    assert report.durable is False
    assert "[in-memory outbox: not durable]" in str(report)
