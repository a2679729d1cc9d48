"""The README's command works as written, and every Python example in the user docs runs.

(The plugin guides have their own runner, ``tests/test_docs.py``.) Markers placed on
the line right before a fenced block:

* ``<!-- not-run: why -->`` — the block needs an account or a server, so it is not run;
* ``<!-- file: NAME -->`` — the block is written to NAME in the example's directory
  (a ``unipost.toml`` the following examples read).
"""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import feedparser
import pytest

import unipost.api
import unipost.errors
from unipost.channels.email import EmailChannel
from unipost.channels.site import SiteChannel
from unipost.channels.webhook import WebhookChannel
from unipost.cli import EXIT, USAGE_ERROR, _parser
from unipost.config import _DISPATCH_KEYS, _TOP_KEYS
from unipost.errors import ErrorClass, UsageError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN_DOCS = ("quickstart.md", "concepts.md", "configuration.md", "errors.md", "outage-awareness.md")
MIN_RUN = 10  # the examples these pages have today; fewer means examples were lost or skipped

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*(not-run|file):\s*(.*?)\s*-->\s*$")


@attrs.frozen
class Block:
    lang: str
    code: str
    line: int
    marker: tuple[str, str] | None


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        found.append(
            Block(
                lang=match.group(1),
                code=match.group(2),
                line=text.count("\n", 0, match.start()) + 1,
                marker=(marker.group(1), marker.group(2)) if marker else None,
            )
        )
    return found


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project directory with the example image, its own outbox, no configuration."""
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "croissants.png", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.setenv("UNIPOST_OUTBOX", str(tmp_path / "outbox.sqlite3"))
    return tmp_path


# -- the README ---------------------------------------------------------------------------


def readme_commands() -> list[str]:
    return [b.code.strip() for b in blocks(ROOT / "README.md") if b.lang == "sh"]


def test_readme_has_the_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    for command in commands:
        setup, _, rest = command.partition(" && ")
        assert setup == "python -m pip install uv", "Python 3.11 and pip are all one needs"
        assert rest.startswith("python -m uv run ")


def test_the_readme_publish_command_works_as_written(sandbox: Path) -> None:
    """The README's first command, minus `uv sync`: the same arguments to this interpreter."""
    command = readme_commands()[0].partition(" && ")[2]
    words = shlex.split(command)
    assert words[:5] == ["python", "-m", "uv", "run", "unipost"]
    args = words[5:]
    assert args[0] == "publish"
    text = args[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPOST_")}
    env["UNIPOST_OUTBOX"] = str(sandbox / "outbox.sqlite3")
    result = subprocess.run(
        [sys.executable, "-m", "unipost", *args],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert ": succeeded" in out.splitlines()[0]
    assert "✓ site" in out
    shown = dict(
        line.strip().split(": ", 1) for line in out.splitlines() if line.startswith("      ")
    )
    page = sandbox / shown["page"]
    feeds = [sandbox / name for name in shown["feeds"].split(", ")]
    assert page.is_file()
    assert page.is_relative_to(sandbox / "site")
    assert {f.name for f in feeds} == {"feed.json", "atom.xml", "rss.xml"}
    assert all(f.is_file() for f in feeds)
    assert text in html.unescape(page.read_text(encoding="utf-8"))
    copied = page.parent / "1-croissants.png"
    assert copied.read_bytes() == (ROOT / "examples" / "croissants.png").read_bytes()

    feed = json.loads((sandbox / "site" / "feed.json").read_text(encoding="utf-8"))
    [item] = feed["items"]
    assert item["content_text"] == text
    assert "image" not in item, "no base_url: the JSON Feed carries no relative URLs"
    for name in ("atom.xml", "rss.xml"):
        parsed = feedparser.parse((sandbox / "site" / name).read_bytes())
        assert not parsed.bozo, parsed.get("bozo_exception")
        [entry] = parsed.entries
        body = entry.get("content", [{}])[0].get("value") or entry.get("summary", "")
        assert text in html.unescape(body)
        assert entry.enclosures[0]["href"].endswith("/1-croissants.png")
        assert entry["link"] in out, "the page URL printed is the one in the feed"


# -- the docs' Python examples ----------------------------------------------------------------


@pytest.mark.parametrize("name", RUN_DOCS)
def test_every_python_example_runs(
    name: str, sandbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unipost.api, "_default", None)
    namespace: dict[str, object] = {"__name__": f"docs_{name.removesuffix('.md')}"}
    ran = 0
    try:
        for block in blocks(DOCS / name):
            if block.marker and block.marker[0] == "file":
                (sandbox / block.marker[1]).write_text(block.code, encoding="utf-8")
                continue
            if block.lang != "python" or (block.marker and block.marker[0] == "not-run"):
                continue
            code = compile(block.code, f"{DOCS / name}:{block.line}", "exec")
            exec(code, namespace)  # noqa: S102 - running the documentation is the point
            ran += 1
    finally:
        default = unipost.api._default
        if default is not None:
            default[0].close()
    assert ran >= 1


def test_enough_examples_run_and_skips_say_why() -> None:
    ran = skipped = 0
    for name in RUN_DOCS:
        for block in blocks(DOCS / name):
            if block.lang != "python":
                continue
            if block.marker and block.marker[0] == "not-run":
                assert block.marker[1], f"{name}:{block.line}: say why it is not run"
                skipped += 1
            else:
                ran += 1
    assert ran >= MIN_RUN
    assert skipped <= ran // 4, "most examples must run"


# -- the docs agree with the code ----------------------------------------------------------------


def test_errors_doc_names_every_class_and_usage_error() -> None:
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    for error_class in ErrorClass:
        assert f"| `{error_class.value}`" in text, error_class
    for name in unipost.errors.__all__:
        thing = getattr(unipost.errors, name)
        if isinstance(thing, type) and issubclass(thing, UsageError) and thing is not UsageError:
            assert f"`{name}`" in text, name
    for status in ("503", "408", "425", "500", "502", "504", "429", "401", "403", "400"):
        assert status in text


def test_configuration_doc_names_every_key() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for key in (*_TOP_KEYS, *_DISPATCH_KEYS, "type", "on_ambiguous", "path", "min_success"):
        assert f"`{key}`" in text or f"`[{key}]`" in text or f"`[{key}.<name>]`" in text, key
    for cls in (SiteChannel, WebhookChannel, EmailChannel):
        assert f'`type = "{cls.name}"`' in text
        for field in attrs.fields(cls):
            if field.init and field.name != "id":
                assert f"`{field.name}`" in text, f"{cls.name}.{field.name}"
    for variable in (
        "UNIPOST_CONFIG",
        "UNIPOST_OUTBOX",
        "UNIPOST_LOAD_PLUGINS",
        "UNIPOST_DISABLE_PLUGINS",
    ):
        assert variable in text


def _flags(parser: object) -> list[str]:
    return [
        flag
        for action in parser._actions  # type: ignore[attr-defined]
        for flag in action.option_strings
        if flag not in ("-h", "--help")
    ]


def test_cli_doc_names_every_command_flag_and_exit_code() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, command in commands.items():
        assert f"unipost {name}" in text, name
        for flag in _flags(command):
            assert flag in text, f"{name} {flag}"
        for action in command._actions:
            if isinstance(action.choices, dict):
                for sub, subparser in action.choices.items():
                    assert f"unipost {name} {sub}" in text, f"{name} {sub}"
                    for flag in _flags(subparser):
                        assert flag in text, f"{name} {sub} {flag}"
    for code in (*EXIT.values(), USAGE_ERROR):
        assert f"| {code} |" in text
