"""The benchmark harness runs end to end at toy sizes; structure only, never timings.

The benchmarks themselves are not part of the suite (``benchmarks/run.py``);
this proves the harness, its server and every client still work.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--smoke", "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return json.loads(out.read_text())


def test_apprise_presence_is_reported_truthfully(results: dict) -> None:
    assert results["apprise"] is (importlib.util.find_spec("apprise") is not None)


def test_fanout_reaches_every_channel_through_every_client(results: dict) -> None:
    expected = {"httpx", "unipost-memory", "unipost-sqlite"} | (
        {"apprise"} if results["apprise"] else set()
    )
    for n, row in results["fanout"].items():
        assert set(row) == expected
        for answer in row.values():
            assert answer["n"] == int(n)
            assert answer["delivered"] == [int(n)] * len(answer["times"])
            # The server saw every request of the timed rounds and of the warm-up round.
            assert answer["requests_seen"] >= int(n) * len(answer["times"])


def test_cpu_loop_delivers_everything_and_ratios_refer_to_the_same_run(results: dict) -> None:
    cpu = results["cpu"]
    assert all(entry["ok"] for entry in cpu.values())
    for client, entry in cpu.items():
        assert entry["cpu_ms"] > 0
        if client != "httpx":
            runs, base = entry["runs"], cpu["httpx"]["runs"]
            assert len(runs) == len(base) == results["sizes"]["cpu_repeats"]
            assert entry["ratio"] == pytest.approx(
                sorted(r["cpu_ms"] / b["cpu_ms"] for r, b in zip(runs, base, strict=True))[
                    len(runs) // 2
                ]
            )


def test_cold_start_configures_ten_channels(results: dict) -> None:
    assert results["cold"]["unipost"]["channels"] == 10
    if results["apprise"]:
        assert results["cold"]["apprise"]["channels"] == 10


def test_outage_falls_back_to_up_on_every_publish(results: dict) -> None:
    outage = results["outage"]
    assert {"refused/unipost", "hang/unipost"} <= set(outage)
    for key, entry in outage.items():
        assert entry["delivered"] == entry["n"], key
    # Five failures open the breaker; the smoke size has room for that in both cases.
    assert all(opened is not None for opened in outage["refused/unipost"]["open_from"])
    assert all(opened is not None for opened in outage["hang/unipost"]["open_from"])


def test_memory_counts_every_queued_record(results: dict) -> None:
    for store in ("memory", "sqlite"):
        assert results["memory"][store]["pending"] == results["memory"][store]["n"]


def test_markdown_table_lists_every_benchmark(results: dict) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    table = module.render(results)
    for name in ("Fan-out", "CPU per delivery", "Cold start", "Outage", "Memory"):
        assert name in table
    header, _rule, *rows = table.splitlines()
    assert all(row.count("|") == header.count("|") for row in rows)


def test_broadcast_reaches_every_recipient_by_sms_and_whatsapp() -> None:
    """``benchmarks/broadcast.py`` at 20 recipients: each client reached all 20 (it asserts
    that itself and exits non-zero otherwise); the table has a row per client."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "broadcast.py"), "--recipients", "20"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "| 20 |" in line]
    clients = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    assert clients == [
        "raw httpx loop (sms)",
        "unipost twilio-sms (sqlite outbox)",
        "raw httpx loop (whatsapp)",
        "unipost whatsapp (sqlite outbox)",
    ]
