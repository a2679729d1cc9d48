"""The shape of the engine, checked: small modules, a small facade, import contracts kept."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from pathlib import Path

from unipost.dispatcher import Dispatcher

ROOT = Path(__file__).parents[2]
SRC = ROOT / "src" / "unipost"


def test_no_core_module_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(SRC)): len(path.read_text(encoding="utf-8").splitlines())
        for path in SRC.rglob("*.py")
    }
    assert {name: n for name, n in sizes.items() if n > 500} == {}


def test_the_dispatcher_is_a_small_facade() -> None:
    lines, _start = inspect.getsourcelines(Dispatcher)
    assert len(lines) <= 200, f"Dispatcher is {len(lines)} lines"


def test_the_import_contracts_hold() -> None:
    """The layers and "never" rules of docs/architecture.md (pyproject's [tool.importlinter])."""
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command is not None, "import-linter is a dev dependency"
    result = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
