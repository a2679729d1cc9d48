"""The plugin template, end to end: render it, install it beside the core in a fresh
virtual environment, and run the rendered plugin's own tests there.

This is the path a third-party author takes, so it runs outside the workspace:
nothing of the repository's environment leaks into the new one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugins" / "_template"
CONTEXT = {
    "platform": "pixel-shop",
    "platform_title": "Pixel Shop",
    "author_name": "Test Author",
    "version": "0.3.1",
}
#: The second starting point: a channel whose credential is a URL (an incoming webhook).
WEBHOOK_CONTEXT = {"platform": "chat-hook", "credential": "webhook-url"}


def _environment() -> dict[str, str]:
    """The caller's environment without what points at the workspace's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    env.pop("PYTHONPATH", None)
    return env


def _run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered")
    return Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(out), extra_context=CONTEXT)
    )


@pytest.fixture(scope="module")
def rendered_webhook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rendered-webhook")
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=str(out), extra_context=WEBHOOK_CONTEXT
        )
    )


@pytest.fixture(scope="module")
def venv_python(
    rendered: Path, rendered_webhook: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh venv holding the core from this checkout and the two rendered plugins."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    packages = (ROOT, f"{rendered}[test]", f"{rendered_webhook}[test]")
    uv = shutil.which("uv")
    if uv is not None:
        _ok(_run(uv, "venv", "--python", sys.executable, venv))
        _ok(_run(uv, "pip", "install", "--python", python, *packages))
    else:
        _ok(_run(sys.executable, "-m", "venv", venv))
        _ok(_run(python, "-m", "pip", "install", "--quiet", *packages))
    return python


def test_rendering_names_everything_after_the_platform(rendered: Path) -> None:
    assert rendered.name == "unipost-pixel-shop"
    project = tomllib.loads((rendered / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["name"] == "unipost-pixel-shop"
    assert project["entry-points"]["unipost"] == {"pixel-shop": "unipost_pixel_shop"}
    assert project["dependencies"] == ["unipost-sdk>=0.1,<0.2"]
    assert {r.split(">")[0] for r in project["optional-dependencies"]["test"]} == {
        "pytest",
        "pytest-httpx",
    }
    package = rendered / "src" / "unipost_pixel_shop"
    assert (package / "py.typed").is_file()
    assert "class PixelShopChannel(Channel)" in (package / "__init__.py").read_text(
        encoding="utf-8"
    )
    assert not list(rendered.rglob("*{{*")), "a file or directory name was left unrendered"
    for path in rendered.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "cookiecutter" not in text, f"unrendered variable in {path}"


def test_the_webhook_starting_point_replaces_the_token_one(rendered_webhook: Path) -> None:
    assert rendered_webhook.name == "unipost-chat-hook"
    assert not (rendered_webhook / "_webhook").exists(), "the unused starting point is removed"
    code = (rendered_webhook / "src" / "unipost_chat_hook" / "__init__.py").read_text("utf-8")
    assert "class ChatHookChannel(Channel)" in code
    assert "webhook_url: str = secret(validator=_check_webhook_url)" in code
    assert "token: str" not in code
    tests = (rendered_webhook / "tests" / "test_contract.py").read_text(encoding="utf-8")
    assert "HOOK = " in tests
    readme = (rendered_webhook / "README.md").read_text(encoding="utf-8")
    assert 'webhook_url = { env = "CHAT_HOOK_WEBHOOK_URL" }' in readme
    assert "{%" not in readme
    assert not list(rendered_webhook.rglob("*{{*"))


def test_a_bad_platform_name_is_refused(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException

    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"platform": "Pixel Shop!"},
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["rendered", "rendered_webhook"])
def test_rendered_plugin_passes_its_contract_tests(
    which: str, request: pytest.FixtureRequest, venv_python: Path
) -> None:
    project: Path = request.getfixturevalue(which)
    result = _run(venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    out = _ok(result)
    assert " passed" in out
    assert "failed" not in out
    assert "skipped" not in out
    # every inherited ChannelContract test ran, not only the plugin's own tests
    collected = _ok(_run(venv_python, "-m", "pytest", "--collect-only", "-q", cwd=project))
    assert "TestContract::test_registers_through_entry_point" in collected
    assert "TestContract::test_status_maps_to_class[429-headers0-RateLimited]" in collected


def test_unipost_plugins_lists_the_new_plugin(venv_python: Path, tmp_path: Path) -> None:
    out = _ok(_run(venv_python, "-m", "unipost", "--json", "plugins", cwd=tmp_path))
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["pixel-shop"]["distribution"] == "unipost-pixel-shop"
    assert rows["pixel-shop"]["version"] == "0.3.1"
    assert rows["pixel-shop"]["channels"] == ["pixel-shop"]
    assert rows["pixel-shop"]["error"] is None
    # the fresh venv holds the core and the two rendered plugins only
    assert sorted(rows) == ["chat-hook", "email", "pixel-shop", "site", "webhook"]
    script = venv_python.parent / ("unipost.exe" if os.name == "nt" else "unipost")
    listing = _ok(_run(script, "plugins", cwd=tmp_path))
    assert re.search(r"^pixel-shop\s+unipost-pixel-shop\s+0\.3\.1\s+pixel-shop$", listing, re.M), (
        listing
    )


@pytest.mark.parametrize("which", ["rendered", "rendered_webhook"])
def test_rendered_code_is_lint_clean_and_strictly_typed(
    which: str, request: pytest.FixtureRequest
) -> None:
    """Authors start from this code, so it starts clean under its own ruff and mypy settings."""
    project: Path = request.getfixturevalue(which)
    _ok(_run(sys.executable, "-m", "ruff", "check", "--no-cache", ".", cwd=project))
    _ok(_run(sys.executable, "-m", "ruff", "format", "--check", "--no-cache", ".", cwd=project))
    out = _ok(_run(sys.executable, "-m", "mypy", "--no-incremental", "src", cwd=project))
    assert "Success" in out
