"""benchmarks/scale.py runs end to end at a toy size; structure only, never timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_the_scale_benchmark_delivers_every_record_in_every_row() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "scale.py"),
            "--records",
            "20",
            "--workers",
            "1,2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split()[:2] for line in result.stdout.splitlines()[2:]]
    assert rows == [["sqlite", "(WAL)"], ["pg", "sync=off"], ["pg", "sync=off"], ["pg", "sync=on"]]
