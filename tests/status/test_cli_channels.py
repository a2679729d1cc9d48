"""``unipost channels`` shows each domain's breaker and what its status feed says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unipost import cli
from unipost.breaker import BreakerSettings
from unipost.sqlite_store import SQLiteStore

CONFIG = """
allow_inline_secrets = true

[outbox]
path = "outbox.sqlite3"

[channels.site]
type = "site"
directory = "public"

[channels.hook]
type = "webhook"
url = "https://hooks.bakery.example/in"
secret = "whsec_dGhpcnR5LXR3byBieXRlcyBvZiBzaWduaW5nIGtleSE="
"""

SINCE = 1_796_306_520.0  # 2026-12-03 14:02 UTC


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "unipost.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.delenv("UNIPOST_OUTBOX", raising=False)
    return tmp_path


def test_channels_shows_an_advisory_breaker_and_its_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["channels"]) == 0
    quiet = capsys.readouterr().out
    assert "breaker" not in quiet
    assert not (project / "outbox.sqlite3").exists(), "listing channels creates no outbox"

    store = SQLiteStore(project / "outbox.sqlite3")  # what the worker's poller wrote
    note = "CRM reports a major outage (Partial System Outage)"
    store.shared_state.breaker_step(
        "webhook:hooks.bakery.example", "advise_major", SINCE + 60, BreakerSettings(), SINCE, note
    )
    store.close()

    assert cli.main(["channels"]) == 0
    out = capsys.readouterr().out
    hook = next(line for line in out.splitlines() if line.startswith("hook "))
    assert hook.endswith(
        "domain webhook:hooks.bakery.example  — breaker open (advisory): "
        "CRM reports a major outage (Partial System Outage) since 14:02 UTC"
    ), hook
    site = next(line for line in out.splitlines() if line.startswith("site "))
    assert "breaker" not in site

    assert cli.main(["channels", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)["channels"]}
    assert rows["hook"]["breaker"] == "open"
    assert rows["hook"]["advisory"] == "major"
    assert rows["site"]["breaker"] == "closed"
    assert rows["site"]["status"] is None
