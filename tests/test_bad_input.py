"""Mistakes a new user makes: one line naming the problem and the fix, and nothing sent.

Every case runs twice, as a program would meet it (the Python API: the exception
type, ``.field`` and ``.fix``) and as a person would (the CLI: exit code 2, one
line on stderr, no traceback). pytest-httpx is strict, so any HTTP request
fails the test; the outbox file is checked for records.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from pytest_httpx import HTTPXMock

import unipost.plugins
from unipost import Capabilities, Channel, Context, Overflow, Post, Prepared, Receipt, first_of
from unipost import cli as unipost_cli
from unipost.api import build_dispatcher
from unipost.config import load_config
from unipost.errors import (
    ConfigurationError,
    ContentRejected,
    InvalidMedia,
    InvalidPost,
    MissingSecret,
    UnknownChannel,
    UsageError,
)
from unipost.hookspecs import hookimpl
from unipost.models import Media
from unipost.plugins import PluginHost
from unipost.sqlite_store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "examples" / "croissants.png"
HOOK_URL = "https://hooks.bakery.example/in/t0k3n-badinput"
HOOK_SECRET = "whsec_" + base64.b64encode(b"thirty-two bytes of signing key!").decode()


class _NeverSends(Channel):
    async def deliver(self, prepared: Prepared, ctx: Context) -> Receipt:
        raise AssertionError("bad input must be refused before anything is sent")


@attrs.frozen(kw_only=True)
class TinyChannel(_NeverSends):
    """A platform that refuses long text instead of shortening it."""

    name: ClassVar[str] = "tiny"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=20, overflow=Overflow.REJECT)


@attrs.frozen(kw_only=True)
class ShortChannel(_NeverSends):
    name: ClassVar[str] = "short"
    capabilities: ClassVar[Capabilities] = Capabilities(text_limit=40, overflow=Overflow.REJECT)


def _register(register: Any) -> None:
    register(TinyChannel)
    register(ShortChannel)


# pluggy keeps plugins in a set: a module object is hashable, a SimpleNamespace is not.
PLUGIN = types.ModuleType("test_plugin")
PLUGIN.unipost_register_channels = hookimpl(_register)  # type: ignore[attr-defined]

CONFIG = """
[outbox]
path = "{tmp}/outbox.sqlite3"

[channels.site]
type = "site"
directory = "{tmp}/site"

[channels.hook]
type = "webhook"
url = {{ env = "BAD_HOOK_URL" }}
secret = {{ env = "BAD_HOOK_SECRET" }}

[channels.tiny]
type = "tiny"

[channels.short]
type = "short"

[routes]
fallback = {{ first_of = ["tiny", "short"] }}
"""

LONG = "Fresh croissants, warm from the oven, all day long at the corner bakery."


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> PluginHost:
    """Built-ins plus the two refusing types; the CLI uses it as its process-wide host."""
    made = PluginHost(entry_points=[])
    made.register_plugin(PLUGIN, "refusing", distribution="tests")
    monkeypatch.setattr(unipost.plugins, "_default", made)
    return made


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: PluginHost) -> Path:
    """A project directory with unipost.toml, a real image, a PDF and a text file named .jpg."""
    (tmp_path / "unipost.toml").write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
    (tmp_path / "scan.jpg").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    (tmp_path / "notes.jpg").write_text("remember to order flour\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNIPOST_CONFIG", raising=False)
    monkeypatch.setenv("UNIPOST_OUTBOX", str(tmp_path / "env-outbox.sqlite3"))
    monkeypatch.setenv("BAD_HOOK_URL", HOOK_URL)
    monkeypatch.setenv("BAD_HOOK_SECRET", HOOK_SECRET)
    return tmp_path


def records(workdir: Path) -> list[Any]:
    """Every outbox record in either place one could have been written."""
    found: list[Any] = []
    for path in (workdir / "outbox.sqlite3", workdir / "env-outbox.sqlite3"):
        if path.exists():
            store = SQLiteStore(path)
            try:
                found.extend(store.query())
            finally:
                store.close()
    return found


@pytest.fixture
def nothing_sent(workdir: Path, httpx_mock: HTTPXMock) -> Iterator[None]:
    """No HTTP request (strict pytest-httpx would also fail on one), no outbox record, no site."""
    yield
    assert httpx_mock.get_requests() == []
    assert records(workdir) == []
    assert not (workdir / "site").exists()


def publish(post_kwargs: dict[str, Any], to: Any, host: PluginHost) -> None:
    """What a program does: load unipost.toml, build the post, publish."""
    config = load_config(host=host)
    dispatcher = build_dispatcher(config, host=host)
    try:
        media = [Media.from_path(p) for p in post_kwargs.pop("images", [])]
        dispatcher.publish(Post(**post_kwargs, media=media), config.route(to))
    finally:
        dispatcher.close()


# (id, Post kwargs, to, CLI arguments, exception type, field, words in the fix)
POST_CASES = [
    ("empty post", {"text": ""}, "site", ["publish", ""], InvalidPost, "post", "text="),
    ("blank post", {"text": "  \n "}, "site", ["publish", "  \n "], InvalidPost, "post", "text="),
    (
        "too long for every target",
        {"text": LONG, "variants": {"tiny": {"text": "Still far too long for tiny."}}},
        "fallback",
        ["publish", LONG, "--to", "fallback"],
        ContentRejected,
        "to",
        "shorten the text",
    ),
    (
        "too long for one of all",
        {"text": LONG},
        ["site", "tiny"],
        ["publish", LONG, "--to", "site,tiny"],
        ContentRejected,
        "tiny.text",
        "variant for 'tiny'",
    ),
    (
        "missing image",
        {"text": "hi", "images": ["croissant.png"]},
        "site",
        ["publish", "hi", "--image", "croissant.png", "--alt", "a croissant"],
        InvalidMedia,
        "media",
        "check the path",
    ),
    (
        "a PDF named .jpg",
        {"text": "hi", "images": ["scan.jpg"]},
        "site",
        ["publish", "hi", "--image", "scan.jpg"],
        InvalidMedia,
        "media",
        "JPEG, PNG",
    ),
    (
        "a text file named .jpg",
        {"text": "hi", "images": ["notes.jpg"]},
        "site",
        ["publish", "hi", "--image", "notes.jpg"],
        InvalidMedia,
        "media",
        "JPEG, PNG",
    ),
    (
        "unknown channel",
        {"text": "hi"},
        "facebok",
        ["publish", "hi", "--to", "facebok"],
        UnknownChannel,
        "to",
        "[channels.facebok]",
    ),
    (
        "unknown channel in a list",
        {"text": "hi"},
        ["site", "facebok"],
        ["publish", "hi", "--to", "site,facebok"],
        UnknownChannel,
        "to",
        "use a channel (hook, short, site, tiny) or a route (fallback)",
    ),
    (
        "a link that is not a URL",
        {"text": "hi", "link": "bakery.example/offer"},
        "site",
        ["publish", "hi", "--link", "bakery.example/offer"],
        InvalidPost,
        "link",
        "https://",
    ),
]


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    ("post_kwargs", "to", "argv", "error", "field", "fix"),
    [case[1:] for case in POST_CASES],
    ids=[case[0] for case in POST_CASES],
)
def test_bad_posts_are_refused_by_the_api(
    post_kwargs: dict[str, Any],
    to: Any,
    argv: list[str],
    error: type[UsageError],
    field: str,
    fix: str,
    host: PluginHost,
) -> None:
    with pytest.raises(error) as caught:
        publish(dict(post_kwargs), to, host)
    assert type(caught.value) is error
    assert caught.value.field == field
    assert fix in caught.value.fix
    assert "\n" not in str(caught.value)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = unipost_cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_usage_error(code: int, out: str, err: str, field: str, fix: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"unipost: {field}: ")
    assert f" — {fix}" in lines[0] or fix in lines[0].split(" — ", 1)[1]
    assert "Traceback" not in err


# The CLI speaks of its own arguments, not of the API's.
CLI_WORDS = {
    "empty post": ("TEXT", 'unipost publish "Open 9-5 today"'),
    "blank post": ("TEXT", 'unipost publish "Open 9-5 today"'),
    "a link that is not a URL": ("--link", "https://"),
}


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    ("argv", "field", "fix"),
    [(case[3], *CLI_WORDS.get(case[0], (case[5], case[6]))) for case in POST_CASES],
    ids=[case[0] for case in POST_CASES],
)
def test_bad_posts_are_refused_by_the_cli(
    argv: list[str], field: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_usage_error(*run_cli(argv, capsys), field=field, fix=fix)


def test_the_api_reports_every_refusing_alternative(host: PluginHost, workdir: Path) -> None:
    with pytest.raises(ContentRejected) as caught:
        publish({"text": LONG}, first_of("tiny", "short"), host)
    problem = caught.value.problem
    assert "first_of(tiny, short)" in problem
    assert f"tiny.text: {len(LONG)} graphemes, the limit is 20" in problem
    assert f"short.text: {len(LONG)} graphemes, the limit is 40" in problem
    assert records(workdir) == []


# Config mistakes: (id, the unipost.toml text replacing the good one, field, fix words)
CONFIG_CASES = [
    (
        "unknown setting",
        '[channels.site]\ntype = "site"\ndirectroy = "public"\n',
        "channels.site.directroy",
        "directory",
    ),
    ("unknown top-level key", '[chanels.site]\ntype = "site"\n', "chanels", "channels"),
    ("unknown channel type", '[channels.news]\ntype = "sitee"\n', "channels.news.type", "site"),
    (
        "unknown dispatch key",
        '[dispatch]\ntimeout = 5\n[channels.site]\ntype = "site"\n',
        "dispatch.timeout",
        "attempt_timeout",
    ),
    (
        "route to an unconfigured channel",
        '[channels.site]\ntype = "site"\n[routes]\ndefault = ["site", "facebook"]\n',
        "routes.default",
        "[channels.facebook]",
    ),
    (
        "an inline secret",
        f'[channels.hook]\ntype = "webhook"\nurl = "{HOOK_URL}"\nsecret = {{ env = "BAD_HOOK_SECRET" }}\n',
        "channels.hook.url",
        'url = { env = "NAME" }',
    ),
    (
        "an unset secret variable",
        '[channels.hook]\ntype = "webhook"\nurl = { env = "BAD_UNSET_URL" }\n'
        'secret = { env = "BAD_HOOK_SECRET" }\n',
        "channels.hook.url",
        "export BAD_UNSET_URL=... before running",
    ),
]


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    ("toml", "field", "fix"),
    [case[1:] for case in CONFIG_CASES],
    ids=[case[0] for case in CONFIG_CASES],
)
def test_config_mistakes_are_refused_by_the_api(
    toml: str, field: str, fix: str, workdir: Path, host: PluginHost
) -> None:
    (workdir / "unipost.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        publish({"text": "hi"}, None, host)
    assert caught.value.field == field
    assert fix in caught.value.fix
    if "unset" in toml or "BAD_UNSET" in toml:
        assert isinstance(caught.value, MissingSecret)
    assert HOOK_URL not in str(caught.value)


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    ("toml", "field", "fix"),
    [case[1:] for case in CONFIG_CASES],
    ids=[case[0] for case in CONFIG_CASES],
)
def test_config_mistakes_are_refused_by_the_cli(
    toml: str, field: str, fix: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "unipost.toml").write_text(toml, encoding="utf-8")
    code, out, err = run_cli(["publish", "hi"], capsys)
    assert_one_line_usage_error(code, out, err, field=field, fix=fix)
    assert HOOK_URL not in err


@pytest.mark.usefixtures("nothing_sent")
def test_command_line_mistakes_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, fix in (
        (["publish", "hi", "--alt", "no image"], "one --alt after each --image"),
        (["publish", "hi", "--at", "tomorrow"], "2026-12-24T09:00+01:00"),
        (["publish", "hi", "--at", "2026-12-24T09:00"], "add one, e.g. 2026-12-24T09:00+01:00"),
        (["publish", "hi", "--at", ""], "leave out --at"),
        (["publish", "hi", "--at", "2020-01-01T09:00+00:00"], "give a future time"),
        (["publish", "hi", "--deadline", "-1"], "--deadline must be at least 0"),
        (["publish", "hi", "--deadline", "soon"], "--deadline must be a number"),
        (["publish", "hi", "--to", ""], "name a channel or a route"),
        (["publish", "hi", "--image", "."], "is a directory"),
        (["outbox", "list", "--limit", "0"], "--limit must be at least 1"),
        (["worker", "--poll", "0"], "--poll must be above 0"),
        (["publsh", "hi"], "--help"),
        (["publish", "hi", "--colour", "red"], "--help"),
    ):
        code, out, err = run_cli(argv, capsys)
        assert code == 2, argv
        assert out == ""
        assert len(err.splitlines()) == 1, err
        assert fix in err, err


def test_a_real_process_prints_one_line_and_no_traceback(workdir: Path) -> None:
    """The same as a person sees it: a new interpreter, the installed module, exit code 2."""
    (workdir / "unipost.toml").unlink()
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNIPOST_")}
    env["UNIPOST_OUTBOX"] = str(workdir / "env-outbox.sqlite3")
    env["UNIPOST_LOAD_PLUGINS"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "unipost", "publish", "hi", "--image", "scan.jpg", "--to", "site"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "unipost: media: scan.jpg is not an image or video (application/pdf) — "
        "attach a JPEG, PNG, GIF, WebP or MP4 file"
    ]
    assert records(workdir) == []


def test_a_good_image_passes_the_same_checks(tmp_path: Path) -> None:
    """The refusals above are about the files, not about images in general."""
    assert Media.from_path(PNG).mime_type == "image/png"
