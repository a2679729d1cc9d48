"""The quickstart's install lines work: wheels of the core and a plugin, built from this
checkout, installed into a fresh virtual environment (their dependencies from PyPI), and
``unipost publish … --to site`` run there, far from this checkout."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "docs" / "quickstart.md"
_BLOCK = re.compile(r"<!-- install: [^>]*-->\n```sh\n(?P<code>.*?)```", re.S)


def install_lines() -> list[str]:
    """The quickstart's install block, minus the ``cd`` into the clone (the test runs there)."""
    found = _BLOCK.search(QUICKSTART.read_text(encoding="utf-8"))
    assert found, "docs/quickstart.md has no <!-- install: ... --> block"
    lines = [line.strip() for line in found.group("code").splitlines() if line.strip()]
    assert lines[0].startswith("cd "), "the block starts in the clone"
    return lines[1:]


def test_the_quickstart_installs_the_wheels_it_names() -> None:
    lines = install_lines()
    assert lines[0] == "python -m pip install uv"
    builds = [shlex.split(line) for line in lines if " uv build " in f" {line} "]
    assert {words[words.index("--package") + 1] for words in builds} == {
        "unipost-sdk",
        "unipost-mastodon",
    }
    install = shlex.split(lines[-1])
    assert install[:4] == ["python", "-m", "pip", "install"]
    assert all(Path(arg).parent.name == "dist" for arg in install[4:])
    assert all(arg.endswith(".whl") for arg in install[4:]), "wheels alone, no source trees"


def test_wheels_install_into_a_fresh_venv_and_publish_to_the_site(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UNIPOST_", "VIRTUAL_ENV", "UV_", "PYTHON"))
    }
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment.get('PATH', '')}"
    environment["VIRTUAL_ENV"] = str(env_dir)
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    dist = tmp_path / "dist"

    # The quickstart's lines, run in the checkout, with the wheels going to a temporary dist/.
    for line in install_lines():
        words = [
            str(dist) if w == "dist" else str(dist / w[5:]) if w.startswith("dist/") else w
            for w in shlex.split(line)
        ]
        result = subprocess.run(
            words,
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, (line, result.stdout[-2000:], result.stderr[-4000:])
    assert sorted(p.name for p in dist.glob("*.whl")) == [
        "unipost_mastodon-0.1.0-py3-none-any.whl",
        "unipost_sdk-0.1.0-py3-none-any.whl",
    ]

    project = tmp_path / "shop"
    project.mkdir()
    # This project's own outbox, never the user's (another run's record would answer for it).
    environment["UNIPOST_OUTBOX"] = str(project / "outbox.sqlite3")
    python = str(bin_dir / "python")
    where = subprocess.run(
        [python, "-c", "import unipost, unipost_mastodon; print(unipost.__file__)"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(env_dir), "imported from the venv"

    def unipost(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / "unipost"), *args],
            cwd=project,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    plugins = unipost("plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert "mastodon" in plugins.stdout

    published = unipost(
        "publish",
        "Open 9-5 today!\nFresh bread from 7.",
        "--id",
        "hours-1",
        "--to",
        "site",
        "--json",
    )
    assert published.returncode == 0, (published.stdout, published.stderr)
    report = json.loads(published.stdout)
    assert report["status"] == "succeeded", report
    page = next((project / "site" / "posts").glob("*/index.html"))
    html = page.read_text(encoding="utf-8")
    assert "Open 9-5 today!" in html
    assert '<link rel="stylesheet" href="../../style.css" />' in html
    assert (project / "site" / "style.css").read_text(encoding="utf-8").startswith("/*"), (
        "the theme's files are in the wheel"
    )
    feed = json.loads((project / "site" / "feed.json").read_text(encoding="utf-8"))
    assert [item["content_text"] for item in feed["items"]] == [
        "Open 9-5 today!\nFresh bread from 7."
    ]
