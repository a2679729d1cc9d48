"""Kill a publishing process at random moments; nothing may be lost or posted twice."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from unipost import State
from unipost.cli import main
from unipost.sqlite_store import SQLiteStore

POSTS = 500
KILLS = 12


def _kill_somewhere(proc: Any, servers: list[Any], rng: random.Random) -> bool:
    """SIGKILL ``proc`` at a random moment: after some time, or in the middle of requests."""
    if rng.random() < 0.35:
        time.sleep(rng.uniform(0.3, 1.2))
    else:
        target = rng.choice(servers)
        target.wait_for_hits(target.hits + rng.randint(5, 60), timeout=15.0)
        time.sleep(rng.uniform(0.0, 0.01))
    if proc.poll() is not None:
        return False
    proc.kill()
    proc.communicate()
    return True


def test_sigkill_at_random_moments_loses_nothing_and_posts_once(
    tmp_path: Path, key_server: Any, lookup_server: Any, spawn: Any
) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    db = tmp_path / "outbox.sqlite3"
    args = (str(db), key_server.url, lookup_server.url, str(POSTS))
    kills = 0
    while True:
        proc = spawn("crash_child.py", *args)
        if kills < KILLS:
            if _kill_somewhere(proc, [key_server, lookup_server], rng):
                kills += 1
                continue
            _out, err = proc.communicate()
            assert proc.returncode == 0, err
            break  # it finished before the kill landed
        try:
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, err
        break
    assert kills >= 10, f"only {kills} kills landed (seed {seed})"

    store = SQLiteStore(db)
    records = store.query(limit=10 * POSTS)
    store.close()
    assert len(records) == 2 * POSTS, f"seed {seed}"
    assert {r.post_id for r in records} == {f"post-{n:04d}" for n in range(POSTS)}
    open_states = [r for r in records if not r.state.terminal]
    assert not open_states, f"left open: {open_states[:3]} (seed {seed})"
    assert {r.state for r in records} <= {State.DELIVERED, State.AMBIGUOUS}, f"seed {seed}"
    for channel, server in (("key", key_server), ("lookup", lookup_server)):
        mine = [r for r in records if r.channel == channel]
        assert set(server.creates) <= {r.delivery_key for r in mine}, "a post nobody asked for"
        for record in mine:
            created = server.creates[record.delivery_key]
            if record.state is State.DELIVERED:
                assert created == 1, f"{channel} {record.post_id}: {created} posts (seed {seed})"
                assert record.platform_id == server.by_marker[record.delivery_key]
            else:
                assert created <= 1, f"{channel} {record.post_id}: {created} posts (seed {seed})"
    # The key channel can always prove its outcome: it never ends ambiguous.
    assert all(r.state is State.DELIVERED for r in records if r.channel == "key")

    config = tmp_path / "unipost.toml"
    config.write_text(f'[outbox]\npath = "{db.name}"\n', encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", str(config), "--json", "outbox", "list", "--state", "ambiguous"])
    assert code == 0
    listed = {r["id"] for r in json.loads(out.getvalue())}
    assert listed == {r.id for r in records if r.state is State.AMBIGUOUS}
