"""The Store contract: memory, SQLite and PostgreSQL keep the same promises.

The durable stores (the SQLite file, a real PostgreSQL server started by the
tests) also keep them across processes and versions, and refuse what is not theirs.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from unipost import Dispatcher, MemoryStore, Post, State
from unipost.config import load_config, parse_config
from unipost.errors import ConfigurationError, IdempotencyConflict, StoreError
from unipost.outbox import Attempt, Publication, Record, Store
from unipost.postgres_store import PostgresStore
from unipost.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from unipost.sqlite_store import SQLiteStore
from unipost.testing import FakeServer, VirtualClock, fake_channel
from unipost.testing.servers import PostgresServer, free_port

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


Opener = Callable[[], Store]


def _opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same durable outbox again and again, as separate processes would."""
    opened: list[Store] = []
    if kind == "sqlite":

        def open_store() -> Store:
            opened.append(SQLiteStore(tmp_path / "o.db"))
            return opened[-1]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        schema = "t_" + uuid.uuid4().hex[:16]  # one schema per test: no state leaks between tests

        def open_store() -> Store:
            opened.append(PostgresStore(server.url, schema=schema, pool_size=4))
            return opened[-1]

    yield open_store
    for made in opened:
        made.close()


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    yield from _opener(request.param, request, tmp_path)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The contract's subject: every store the dispatcher can run on."""
    if request.param == "memory":
        yield MemoryStore()
        return
    yield from (open_store() for open_store in _opener(request.param, request, tmp_path))


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


def test_second_looks_come_due_in_order_and_one_verifier_claims_each(store: Store) -> None:
    early = _open(store, state=State.DELIVERED, verify_at=NOW + 10)
    late = _open(store, state=State.DELIVERED, verify_at=NOW + 20)
    _open(store, state=State.DELIVERED)  # verify_at 0: never looked at again
    assert store.verifications_due(NOW + 5, 10) == []
    assert store.verifications_due(NOW + 30, 10) == [early.id, late.id]
    assert store.verifications_due(NOW + 30, 1) == [early.id]
    assert store.claim_verification(early.id, NOW + 10, NOW + 600)
    assert not store.claim_verification(early.id, NOW + 10, NOW + 600)  # a second verifier
    assert store.verifications_due(NOW + 30, 10) == [late.id]
    assert store.record(early.id).verify_at == NOW + 600


def test_unknown_ids_raise_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no record nope"):
        store.record("nope")
    with pytest.raises(StoreError, match="no publication nope"):
        store.publication("nope")


def test_records_round_trip_every_field(store: Store) -> None:
    record = _open(
        store,
        recipients=[{"to": "+15550001", "state": "delivered", "n": 1}],
        extra={"thread": ["a", "b"], "count": 2},
    )
    record.state, record.possible_duplicate, record.moved_on = State.DELIVERED, True, True
    record.platform_id, record.url, record.last_error = "p-9", "https://x.example/p/9", "é ✓"
    record.started_at, record.lookups_absent, record.verify_at = NOW + 0.125, 2, NOW + 600.5
    store.save(record)
    assert store.record(record.id) == record


def test_an_attempt_is_saved_with_the_outcome_it_led_to(store: Store) -> None:
    record = _open(store)
    claimed = store.begin_attempt(record.id, "w1", NOW + 30, NOW)
    assert claimed is not None
    claimed.state = State.RETRY_WAIT
    log = Attempt(
        record_id=record.id, n=1, started_at=NOW, duration=0.25, error_class="transient",
        http_status=503, platform_code="x", retry_after=1.5, request_id="r1", message="down",
    )  # fmt: skip
    store.save(claimed, attempt=log)
    store.add_attempt(attrs.evolve(log, n=2, http_status=None, retry_after=None))
    assert [a.n for a in store.attempts(record.id)] == [1, 2]
    assert store.attempts(record.id)[0] == log
    assert store.record(record.id).state is State.RETRY_WAIT


def test_find_publication_returns_the_latest_revision(store: Store) -> None:
    first = _publication("post-r")
    store.open_publication(first, [_record(first)])
    second = attrs.evolve(_publication("post-r", content="h2"), revision=2)
    store.open_publication(second, [_record(second, revision=2)])
    latest = store.find_publication("post-r")
    assert latest is not None
    assert (latest.id, latest.revision, latest.post) == (second.id, 2, second.post)
    assert store.find_publication("post-r", 1) == first
    assert store.find_publication("nobody") is None


# -- the durable stores: across processes, concurrent workers, foreign and newer schemas ----


def test_a_durable_store_keeps_records_and_the_secret_across_processes(opener: Opener) -> None:
    first = opener()
    record = _open(first)
    secret = first.secret()
    first.close()
    second = opener()
    assert second.record(record.id).delivery_key == record.delivery_key
    assert second.secret() == secret
    assert second.durable


def test_concurrent_workers_never_both_start_one_record(opener: Opener) -> None:
    """Eight workers (own connections) race for 40 records: each is started exactly once."""
    stores = [opener() for _ in range(2)]
    records = [_open(stores[0]) for _ in range(40)]
    started: list[tuple[str, str]] = []
    lock = threading.Lock()

    def work(owner: str, store: Store) -> None:
        for record in records:
            if store.begin_attempt(record.id, owner, NOW + 30, NOW) is not None:
                with lock:
                    started.append((record.id, owner))

    threads = [threading.Thread(target=work, args=(f"w{i}", stores[i % 2])) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r for r, _ in started) == sorted(r.id for r in records)
    assert all(stores[1].record(r.id).attempts == 1 for r in records)


def test_two_first_opens_of_one_outbox_migrate_it_once(opener: Opener) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opener()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert opener().secret() == opener().secret()


# -- the PostgreSQL server ----------------------------------------------------------------


def _pg_execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            cursor = conn.execute(statement)  # type: ignore[arg-type]
            rows = cursor.fetchall() if cursor.description else []
        return rows


def test_postgres_refuses_a_newer_schema_and_leaves_it_alone(
    postgres_server: PostgresServer,
) -> None:
    from unipost.postgres_store import SCHEMA_VERSION as PG_VERSION

    schema = "t_" + uuid.uuid4().hex[:16]
    PostgresStore(postgres_server.url, schema=schema).close()
    _pg_execute(
        postgres_server.url,
        f"UPDATE {schema}.meta SET value = '{PG_VERSION + 1}' WHERE key = 'schema_version'",
    )
    with pytest.raises(StoreError) as caught:
        PostgresStore(postgres_server.url, schema=schema)
    message = str(caught.value)
    assert f"127.0.0.1:{postgres_server.port}" in message
    assert f"schema {PG_VERSION + 1}, newer" in message
    assert "upgrade unipost" in message
    rows = _pg_execute(
        postgres_server.url, f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
    )
    assert rows == [(str(PG_VERSION + 1),)]


def test_postgres_refuses_another_programs_schema(postgres_server: PostgresServer) -> None:
    schema = "t_" + uuid.uuid4().hex[:16]
    _pg_execute(
        postgres_server.url,
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.customers (id INTEGER PRIMARY KEY)",
    )
    with pytest.raises(StoreError, match=r"another program.*customers.*left untouched"):
        PostgresStore(postgres_server.url, schema=schema)
    rows = _pg_execute(
        postgres_server.url,
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'",
    )
    assert rows == [("customers",)]


def test_postgres_migrates_a_schema_1_outbox(postgres_server: PostgresServer) -> None:
    """An outbox exactly as schema 1 wrote it, with a waiting record, opens and is migrated."""
    from unipost.postgres_sql import MIGRATIONS as PGMIGRATIONS
    from unipost.postgres_store import SCHEMA_VERSION as PG_VERSION

    schema = "t_" + uuid.uuid4().hex[:16]
    _pg_execute(
        postgres_server.url,
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO {schema}.meta VALUES ('schema_version', '1'), ('secret', '{'ab' * 32}')",
        *(s for s in PGMIGRATIONS[0].format(s=schema).split(";") if s.strip()),
        f"INSERT INTO {schema}.publications VALUES ('pub1', 'old-post', 1, 'h', '{{}}', '{{}}', {NOW})",
        f"INSERT INTO {schema}.records VALUES ('rec1', 'pub1', 'old-post', 1, 'site', '0', 'up1-old', "
        f"'retry_wait', 2, {NOW}, {NOW + 3600}, NULL, 0, 'transient', 'HTTP 503', NULL, NULL, "
        f"false, false, {NOW}, 0, '[]', '{{}}', {NOW}, {NOW})",
    )
    store = PostgresStore(postgres_server.url, schema=schema)
    record = store.record("rec1")
    assert (record.state, record.attempts, record.delivery_key) == (State.RETRY_WAIT, 2, "up1-old")
    assert store.due_publications(NOW, 10) == ["pub1"]
    assert store.secret() == bytes.fromhex("ab" * 32)
    store.close()
    rows = _pg_execute(
        postgres_server.url, f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
    )
    assert rows == [(str(PG_VERSION),)]
    assert PG_VERSION > 1


def test_postgres_polls_of_two_workers_share_the_backlog(postgres_server: PostgresServer) -> None:
    """Two workers polling at once get different publications; an unused claim runs out."""
    schema = "t_" + uuid.uuid4().hex[:16]
    a, b = (PostgresStore(postgres_server.url, schema=schema) for _ in range(2))
    due = {_open(a).publication_id for _ in range(6)}
    first, second = a.due_publications(NOW, 4), b.due_publications(NOW, 4)
    assert len(first) == 4
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == due
    assert set(a.due_publications(NOW, 10)) == set(first)  # its own claims stay its own
    assert set(b.due_publications(NOW + 11, 10)) == due  # a's claims ran out
    a.close()
    b.close()


def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = f"postgresql://shop:hunter2@127.0.0.1:{free_port()}/outbox"
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, timeout=1)
    message = str(caught.value)
    assert "cannot reach the outbox postgresql://shop@127.0.0.1" in message
    assert "hunter2" not in message
    assert "[outbox] url" in message


def test_a_schema_name_that_is_not_plain_is_refused() -> None:
    with pytest.raises(StoreError, match="not a plain PostgreSQL name"):
        PostgresStore("postgresql://127.0.0.1:1/x", schema="a; DROP TABLE b")


# -- the SQLite file ----------------------------------------------------------------


def test_the_sqlite_location_is_the_file(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    store = SQLiteStore(path)
    assert store.location == str(path)
    store.close()


def _schema_1_file(path: Path) -> None:
    """A database exactly as the first release wrote it, with one record."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.executescript(MIGRATIONS[0])
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


def test_an_outbox_url_selects_the_postgres_store(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "unipost.toml"
    config.write_text(f'[outbox]\nurl = "{postgres_server.url}"\n', encoding="utf-8")
    store = load_config(config).store()
    assert isinstance(store, PostgresStore)
    assert store.location == f"{postgres_server.url} (schema unipost)"
    store.close()
    monkeypatch.setenv("UNIPOST_OUTBOX", postgres_server.url)
    from_env = parse_config({}).store()
    assert isinstance(from_env, PostgresStore)
    from_env.close()


@pytest.mark.parametrize(
    ("outbox", "message"),
    [
        ({"url": "mysql://db/shop"}, "outbox.url: must be a PostgreSQL URL"),
        ({"url": "postgresql://db/shop", "path": "o.db"}, "outbox.url: is given together"),
        ({"host": "db"}, "only 'path', 'url' and 'shared_state' are known"),
        ({"shared_state": "memcached://x"}, "outbox.shared_state: must be a Redis URL"),
    ],
)
def test_a_bad_outbox_table_names_the_key(outbox: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config({"outbox": outbox})


def test_postgres_one_driver_per_publication(postgres_server: PostgresServer) -> None:
    """A live publication lease keeps other drivers (and polls) off; its owner may renew it."""
    schema = "t_" + uuid.uuid4().hex[:16]
    a, b = (PostgresStore(postgres_server.url, schema=schema) for _ in range(2))
    record = _open(a)
    pid = record.publication_id
    assert a.lease_publication(pid, "w1", NOW + 30, NOW)
    assert not b.lease_publication(pid, "w2", NOW + 30, NOW + 1)
    assert b.due_publications(NOW + 1, 10) == []
    assert a.lease_publication(pid, "w1", NOW + 60, NOW + 2)  # renewed by its owner
    assert not b.lease_publication(pid, "w2", NOW + 90, NOW + 31)
    a.release_publication(pid, "w2")  # not w2's: nothing happens
    assert not b.lease_publication(pid, "w2", NOW + 90, NOW + 31)
    a.release_publication(pid, "w1")
    assert b.lease_publication(pid, "w2", NOW + 90, NOW + 31)
    assert a.lease_publication(pid, "w1", NOW + 200, NOW + 91)  # w2's ran out
    record.platform_id = "p-1"
    a.save(record)
    assert [r.id for r in b.query(platform_id="p-1")] == [record.id]
    a.close()
    b.close()


def test_spooled_media_is_kept_as_a_file_a_worker_can_read(store: Store) -> None:
    name = f"{uuid.uuid4().hex[:24]}-photo.png"
    path = store.spool_media(name, b"\x89PNG bytes")
    assert path.name == name
    assert path.read_bytes() == b"\x89PNG bytes"
    assert store.spool_media(name, b"\x89PNG bytes") == path  # kept once
